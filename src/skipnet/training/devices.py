"""Which device to train on (`device: auto | cuda | cpu`), and never the CPU by accident.

torch answers `torch.cuda.is_available() == False` alike for a machine without a GPU and for one whose GPU
this torch cannot drive (a driver older than the build's CUDA needs, a CPU-only build); and it answers True
for a GPU whose compute capability the build has no kernels for, which then fails at the first kernel.
So `auto` asks the machine too (nvidia-smi, or the driver's /proc entry): an NVIDIA GPU that torch cannot
use stops the run with one line saying why and how to go on, instead of an hour on the CPU.
"""

import dataclasses
import importlib.metadata
import re
import shutil
import subprocess
from pathlib import Path

import torch

from ..errors import SkipnetError

# The oldest driver each CUDA major version runs on (NVIDIA's CUDA minor version compatibility table).
MIN_DRIVER = {11: 450, 12: 525, 13: 580}
# PyTorch's CUDA 12.6 builds are the ones with kernels for GPUs before Turing (compute capability 5.0 to 9.0);
# no current build has kernels below 5.0.
LEGACY_CUDA = "12.6"
OLDEST_CAPABILITY = (5, 0)
PROC_DRIVER = Path("/proc/driver/nvidia")


@dataclasses.dataclass(frozen=True)
class Gpu:
    """An NVIDIA GPU as the driver reports it; capability None where the driver is too old to say."""

    name: str
    capability: tuple[int, int] | None
    driver: str | None


@dataclasses.dataclass(frozen=True)
class TorchBuild:
    """What this torch was built for, and whether it can reach a GPU here."""

    version: str  # e.g. 2.14.1+cu130
    cuda: str | None  # None: a CPU-only build
    arch_list: tuple[str, ...]  # e.g. ("sm_75", "sm_80", ...); "compute_XY" entries are PTX
    cuda_available: bool

    @classmethod
    def here(cls):
        # the build's own list: torch.cuda.get_arch_list() is empty wherever CUDA is unavailable (torch 2.9)
        flags = getattr(torch._C, "_cuda_getArchFlags", lambda: None)()
        arch = tuple(flags.split()) if flags else tuple(torch.cuda.get_arch_list())
        return cls(torch.__version__, torch.version.cuda, arch, torch.cuda.is_available())


def runs_on(capability, arch_list):
    """Whether a build with these kernels runs a GPU of this capability: a cubin runs on its own major version at
    the same or a higher minor one, PTX is compiled by the driver for any later capability."""
    major, minor = capability
    for arch in arch_list:
        kind, _, digits = arch.partition("_")
        if not digits.isdigit():
            continue
        built = (int(digits[:-1]), int(digits[-1]))
        if (kind == "sm" and built[0] == major and built[1] <= minor) or (kind == "compute" and built <= capability):
            return True
    return False


def capabilities(arch_list):
    return ", ".join(f"{a[3:-1]}.{a[-1]}" for a in arch_list if a.startswith("sm_")) or "none"


def nvidia_gpus():
    """The NVIDIA GPUs the driver sees: nvidia-smi's answer, else the driver's /proc entry, else none."""
    smi = shutil.which("nvidia-smi")
    if smi:
        for fields in ("name,compute_cap,driver_version", "name,driver_version"):  # old drivers lack compute_cap
            try:
                out = subprocess.run(
                    [smi, f"--query-gpu={fields}", "--format=csv,noheader"], capture_output=True, text=True, timeout=20
                )
            except (OSError, subprocess.TimeoutExpired):
                break
            if out.returncode == 0 and out.stdout.strip():
                return [_gpu(line.split(","), "compute_cap" in fields) for line in out.stdout.strip().splitlines()]
    if PROC_DRIVER.is_dir():
        version = re.search(r"Kernel Module\s+(?:for \S+\s+)?([\d.]+)", _read(PROC_DRIVER / "version"))
        models = [re.search(r"Model:\s*(.+)", _read(p / "information")) for p in (PROC_DRIVER / "gpus").glob("*")]
        names = [m.group(1).strip() for m in models if m] or ["an NVIDIA GPU"]
        return [Gpu(name, None, version.group(1) if version else None) for name in names]
    return []


def _read(path):
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _gpu(fields, has_capability):
    fields = [f.strip() for f in fields]
    capability = None
    if has_capability and re.fullmatch(r"\d+\.\d", fields[1]):
        capability = tuple(int(x) for x in fields[1].split("."))
    return Gpu(fields[0], capability, fields[-1] or None)


def driver_major(gpu):
    head = (gpu.driver or "").split(".")[0]
    return int(head) if head.isdigit() else None


def build_for(gpu, build):
    """How to get a torch that drives `gpu`: the pip command of the build it needs, or what to change first."""
    if gpu.capability and gpu.capability < OLDEST_CAPABILITY:
        return "no current torch build has kernels for it"
    driver = driver_major(gpu)
    if driver is not None and driver < MIN_DRIVER[12]:
        return (
            f"update the NVIDIA driver to {MIN_DRIVER[13]} or newer ({MIN_DRIVER[12]} or newer for a torch "
            f"built for CUDA {LEGACY_CUDA})"
        )
    legacy = (gpu.capability is not None and gpu.capability < (7, 5)) or (
        driver is not None and driver < MIN_DRIVER[13]
    )
    cuda = LEGACY_CUDA if legacy else "13.0"
    try:
        vision = f" torchvision=={importlib.metadata.version('torchvision').split('+')[0]}"
    except importlib.metadata.PackageNotFoundError:
        vision = ""
    return (
        f"install torch built for CUDA {cuda}: pip install torch=={build.version.split('+')[0]}{vision} "
        f"--index-url https://download.pytorch.org/whl/cu{cuda.replace('.', '')} (docs/gpu.md)"
    )


def diagnose(build, gpu):
    """(why this torch cannot train on `gpu`, what to do), or None if it can."""
    if build.cuda is None:
        return f"torch {build.version} is a CPU-only build", build_for(gpu, build)
    needed = MIN_DRIVER.get(int(build.cuda.split(".")[0]))
    driver = driver_major(gpu)
    if needed and driver is not None and driver < needed:
        return (
            f"torch {build.version} is built for CUDA {build.cuda}, which needs driver {needed} or newer",
            build_for(gpu, build),
        )
    if gpu.capability and build.arch_list and not runs_on(gpu.capability, build.arch_list):
        return (
            f"torch {build.version} has kernels for compute capabilities {capabilities(build.arch_list)} only",
            build_for(gpu, build),
        )
    if not build.cuda_available:
        return (
            f"torch {build.version} cannot reach it (torch.cuda.is_available() is False)",
            'see why with python -c "import torch; torch.cuda.init()" (CUDA_VISIBLE_DEVICES? a driver updated '
            "without a reboot?)",
        )
    return None


def describe(gpu):
    capability = (
        f"compute capability {gpu.capability[0]}.{gpu.capability[1]}"
        if gpu.capability
        else "compute capability unknown"
    )
    return f"{gpu.name} ({capability}, driver {gpu.driver or 'unknown'})"


def choose(requested, build=None, gpus=None):
    """("cuda" or "cpu", why) for `device: requested`; a SkipnetError, one line, where a GPU is asked for or
    present and this torch cannot use it. build and gpus default to this machine's (tests pass others)."""
    if requested == "cpu":
        return "cpu", "asked for (device: cpu)"
    build = build or TorchBuild.here()
    if build.cuda_available:
        capability = torch.cuda.get_device_capability() if gpus is None else gpus[0].capability
        gpus = gpus or [Gpu(torch.cuda.get_device_name(), capability, None)]
    gpus = nvidia_gpus() if gpus is None else gpus
    if not gpus:
        if requested == "cuda":
            raise SkipnetError(
                "device: cuda, but this machine has no NVIDIA GPU (nvidia-smi and "
                f"{PROC_DRIVER} found none); use -S device=auto or -S device=cpu"
            )
        return "cpu", "auto: no NVIDIA GPU on this machine"
    problem = diagnose(build, gpus[0])
    if problem is None:
        return "cuda", f"{'auto' if requested == 'auto' else 'asked for'}: {describe(gpus[0])}"
    why, fix = problem
    raise SkipnetError(
        f"this machine has an NVIDIA GPU that torch cannot use: {describe(gpus[0])}; {why}. To train "
        f"on it, {fix}; or train on the CPU on purpose: -S device=cpu"
    )
