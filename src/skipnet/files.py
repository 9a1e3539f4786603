"""Atomic file writes: a reader (or a rerun after kill -9) never sees a half-written file."""
import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temp path beside `path`; rename it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
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


def remove_temp_files(directory):
    """Remove temp files left by a process killed mid-write."""
    for tmp in Path(directory).rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)
