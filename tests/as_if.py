"""Run a stage script as on another system, as far as this Linux machine can pretend (stubs for what cannot run here):

    python tests/as_if.py [--no-fcntl] [--spawn] [--gpu-unreachable] [--cpu-only-build] SCRIPT [ARGS...]

--no-fcntl: skipnet's own code (its modules, the script) cannot import fcntl or another POSIX-only module, as on
Windows (third-party code keeps them: dvc_objects imports fcntl on Linux only, filelock uses msvcrt on Windows).
--spawn: worker pools start by spawn, as on Windows and macOS (each worker a fresh interpreter that imports the
script as __mp_main__). --gpu-unreachable: torch.cuda.is_available() is
False, as where the driver is older than the build's CUDA needs. --cpu-only-build: torch.version.cuda is None too.
"""

import builtins
import multiprocessing
import os
import runpy
import sys
from pathlib import Path

POSIX_ONLY = {"fcntl", "termios", "pwd", "grp", "resource"}
OURS = (str(Path(__file__).resolve().parents[1]), os.getcwd())  # skipnet's source, the repository the script runs in


def ours(globals):
    path = os.path.abspath((globals or {}).get("__file__") or "/")
    return path.startswith(OURS) and "site-packages" not in path


def without_posix_modules(real_import):
    def imports(name, globals=None, *args, **kwargs):
        if name.split(".")[0] in POSIX_ONLY and ours(globals):
            raise ModuleNotFoundError(f"No module named {name!r} (as on Windows)", name=name)
        return real_import(name, globals, *args, **kwargs)

    return imports


if __name__ == "__main__":  # a spawned worker imports this file again: only the parent pretends
    flags = set()
    while sys.argv[1].startswith("--"):
        flags.add(sys.argv.pop(1))
    if "--no-fcntl" in flags:
        builtins.__import__ = without_posix_modules(builtins.__import__)
    if "--spawn" in flags:
        multiprocessing.set_start_method("spawn")
    if flags & {"--gpu-unreachable", "--cpu-only-build"}:
        import torch

        torch.cuda.is_available = lambda: False
        if "--cpu-only-build" in flags:
            torch.version.cuda = None
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
