"""Run a stage script as on another system, as far as this Linux machine can pretend (stubs for what cannot run here):

    python tests/as_if.py [--no-fcntl] [--spawn] [--gpu-unreachable] [--cpu-only-build] SCRIPT [ARGS...]

--no-fcntl: `import fcntl` fails, as on Windows. --spawn: worker pools start by spawn, as on Windows and macOS (each
worker a fresh interpreter that imports the script as __mp_main__). --gpu-unreachable: torch.cuda.is_available() is
False, as where the driver is older than the build's CUDA needs. --cpu-only-build: torch.version.cuda is None too.
"""
import multiprocessing
import runpy
import sys

if __name__ == "__main__":  # a spawned worker imports this file again: only the parent pretends
    flags = set()
    while sys.argv[1].startswith("--"):
        flags.add(sys.argv.pop(1))
    if "--no-fcntl" in flags:
        sys.modules["fcntl"] = None
    if "--spawn" in flags:
        multiprocessing.set_start_method("spawn")
    if flags & {"--gpu-unreachable", "--cpu-only-build"}:
        import torch

        torch.cuda.is_available = lambda: False
        if "--cpu-only-build" in flags:
            torch.version.cuda = None
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
