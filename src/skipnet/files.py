"""Atomic file writes (a reader, or a rerun after kill -9, never sees a half-written file) with the user's
umask, and paths from data kept inside their folder."""
import contextlib
import json
import os
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
        raise SkipnetError(f"{what}: file name {name!r} leads outside its folder; refused (names must be relative, "
                           f"without '..')")
    return name


def under(root, name, what):
    """root/name, refused (one line naming the entry) unless it stays inside root once symlinks are followed."""
    path = Path(root) / relative_name(name, what)
    if not path.resolve().is_relative_to(Path(root).resolve()):
        raise SkipnetError(f"{what}: {path} is a symlink out of {root}; refused (files must stay under their folder)")
    return path


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temp path beside `path`; rename it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    with_umask(tmp, 0o666)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
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
