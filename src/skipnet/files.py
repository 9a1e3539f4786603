"""Atomic file writes (a reader, or a rerun after kill -9, never sees a half-written file) with the user's
umask, a full disk named as such; paths from data kept inside their folder; only regular files opened."""

import contextlib
import errno
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path, PurePosixPath

from .errors import SkipnetError


def with_umask(path, mode):
    """chmod `path` to `mode` less the user's umask: mkstemp and mkdtemp make 0600 and 0700, which a
    teammate on a shared machine could not read."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, mode & ~mask)


def relative_name(name, what):
    """`name` (a file name read from data: an annotation, a manifest row) if it is a plain relative path;
    else one line naming the entry. Absolute names and `..` would read or write outside the folder."""
    parts = PurePosixPath(name).parts
    if not name or PurePosixPath(name).is_absolute() or "\\" in name or ".." in parts or Path(name).is_absolute():
        raise SkipnetError(
            f"{what}: file name {name!r} leads outside its folder; refused (names must be relative, without '..')"
        )
    return name


def under(root, name, what):
    """root/name, refused (one line naming the entry) unless it stays inside root once symlinks are followed."""
    path = Path(root) / relative_name(name, what)
    if not path.resolve().is_relative_to(Path(root).resolve()):
        raise SkipnetError(f"{what}: {path} is a symlink out of {root}; refused (files must stay under their folder)")
    return path


NOT_REGULAR = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def not_regular(path):
    """None for a regular file (symlinks followed), else what `path` is, e.g. "a named pipe (FIFO)". Only regular
    files are opened: opening a FIFO blocks until someone writes to it, and a device may never end."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "a broken or looping symlink" if os.path.islink(path) else "not found"
    if stat.S_ISREG(mode):
        return None
    return next((what for test, what in NOT_REGULAR if test(mode)), "not a regular file")


def out_of_space(error):
    """Whether a failed write failed for want of space: ENOSPC or EDQUOT from the OS, or torch's writer, which
    reports a short write as RuntimeError "unexpected pos" or "file write failed"."""
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(error, RuntimeError) and any(s in str(error) for s in ("unexpected pos", "file write failed"))


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temp path beside `path`; rename it into place only if the block succeeds. A write that fails for
    want of space stops with one line naming the path and the space left (nothing torn: the temp file goes)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    with_umask(tmp, 0o666)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:
        if not out_of_space(e):
            raise
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        free = shutil.disk_usage(path.parent).free
        raise SkipnetError(
            f"no space left to write {path} ({free / 2**20:.0f} MiB free on its disk): "
            f"free some space and rerun; nothing was left half-written"
        ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def atomic_write_bytes(path, data):
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path, obj, indent=2):
    """Strict JSON (no NaN or Infinity, which strict parsers refuse), written atomically."""
    atomic_write_text(path, json.dumps(obj, indent=indent, allow_nan=False) + "\n")


def remove_temp_files(directory):
    """Remove temp files left by a process killed mid-write."""
    for tmp in Path(directory).rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)
