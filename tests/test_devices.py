"""device: auto never trains on the CPU for want of a usable GPU without a word. The GPUs, drivers and torch builds
here are stubs (no GPU on the machines that run this suite): facts passed to devices.choose, an nvidia-smi script on
PATH, and torch.cuda answering False (tests/as_if.py); the CPU cases run for real (the train stage with
device: cpu, tests/test_portability.py; device: auto, every quick start)."""

import os
import stat
import subprocess
import sys

import pytest

from conftest import REPO, env
from skipnet.errors import SkipnetError
from skipnet.training import devices
from test_engine import _stage_repo

CU130 = ("sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120")  # torch 2.14.1 on PyPI (the lock)
CU126 = ("sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90")
T4_550 = devices.Gpu("Tesla T4", (7, 5), "550.54.15")
P100_550 = devices.Gpu("Tesla P100-PCIE-16GB", (6, 0), "550.54.15")


def build(cuda="13.0", arch=CU130, available=False):
    return devices.TorchBuild("2.14.1+cu130" if cuda else "2.14.1+cpu", cuda, arch, available)


def refusal(gpu, torch_build):
    with pytest.raises(SkipnetError) as err:
        devices.choose("auto", torch_build, [gpu])
    line = str(err.value)
    assert "\n" not in line and line.endswith("or train on the CPU on purpose: -S device=cpu"), line
    return line


def test_a_t4_on_a_driver_older_than_cuda_13_needs_is_named_with_the_build_that_runs_it():
    line = refusal(T4_550, build())
    assert "Tesla T4 (compute capability 7.5, driver 550.54.15)" in line
    assert "built for CUDA 13.0, which needs driver 580 or newer" in line
    assert "pip install torch==2.14.1 torchvision==" in line and "/whl/cu126" in line


def test_a_p100_is_sent_to_the_cuda_12_6_build_whatever_its_driver():
    assert "/whl/cu126" in refusal(P100_550, build())
    seen = devices.Gpu("Tesla P100-PCIE-16GB", (6, 0), "580.65.06")  # a new driver: torch sees it, has no kernels
    line = refusal(seen, build(available=True))
    assert "kernels for compute capabilities 7.5, 8.0, 8.6, 9.0, 10.0, 12.0 only" in line and "/whl/cu126" in line
    assert devices.choose("auto", build("12.6", CU126, True), [seen])[0] == "cuda"


def test_a_cpu_only_build_beside_a_gpu_is_refused_with_the_cuda_build_to_install():
    a100 = devices.Gpu("NVIDIA A100-SXM4-40GB", (8, 0), "580.65.06")
    line = refusal(a100, build(cuda=None, arch=()))
    assert "torch 2.14.1+cpu is a CPU-only build" in line and "/whl/cu130" in line


def test_too_old_a_driver_or_gpu_says_what_no_build_can_fix():
    assert "no current torch build has kernels for it" in refusal(
        devices.Gpu("Tesla K80", (3, 7), "470.82.01"), build()
    )
    line = refusal(devices.Gpu("Tesla V100-SXM2-16GB", (7, 0), "470.82.01"), build())
    assert "update the NVIDIA driver to 580 or newer (525 or newer for a torch built for CUDA 12.6)" in line


def test_usable_gpu_cpu_on_purpose_and_cuda_without_a_gpu():
    h100 = devices.Gpu("NVIDIA H100 80GB HBM3", (9, 0), "580.65.06")
    assert devices.choose("auto", build(available=True), [h100]) == (
        "cuda",
        "auto: NVIDIA H100 80GB HBM3 (compute capability 9.0, driver 580.65.06)",
    )
    assert devices.choose("cpu", build(), [T4_550]) == ("cpu", "asked for (device: cpu)")
    assert devices.choose("auto", build(), []) == ("cpu", "auto: no NVIDIA GPU on this machine")
    with pytest.raises(SkipnetError, match="device: cuda, but this machine has no NVIDIA GPU"):
        devices.choose("cuda", build(), [])


@pytest.mark.parametrize(
    "capability, arch, runs",
    [
        ((8, 6), ("sm_80",), True),
        ((9, 0), ("sm_80",), False),
        ((7, 0), ("sm_75",), False),
        ((10, 0), ("sm_90", "compute_90"), True),
        ((12, 0), ("sm_120",), True),
    ],
)
def test_kernels_run_on_their_own_major_version_and_ptx_on_any_later_one(capability, arch, runs):
    assert devices.runs_on(capability, arch) is runs


def fake_nvidia_smi(folder, lines, old_driver=False):
    """An nvidia-smi that answers --query-gpu as the real one does; an old driver's knows no compute_cap field."""
    folder.mkdir(exist_ok=True)
    script, answer = folder / "nvidia-smi", "\n".join(lines)
    script.write_text(f"""#!{sys.executable}
import sys
query = sys.argv[1]
if {old_driver!r} and "compute_cap" in query:
    print('Field "compute_cap" is not a valid field to query.'); sys.exit(2)
print({answer!r})
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return folder


def test_nvidia_smi_is_read_and_an_old_driver_without_compute_cap_still_names_the_gpu(tmp_path, monkeypatch):
    monkeypatch.setenv(
        "PATH", f"{fake_nvidia_smi(tmp_path / 'new', ['Tesla T4, 7.5, 550.54.15'])}{os.pathsep}{os.environ['PATH']}"
    )
    assert devices.nvidia_gpus() == [T4_550]
    monkeypatch.setenv(
        "PATH",
        f"{fake_nvidia_smi(tmp_path / 'old', ['Tesla K80, 418.67'], old_driver=True)}{os.pathsep}{os.environ['PATH']}",
    )
    assert devices.nvidia_gpus() == [devices.Gpu("Tesla K80", None, "418.67")]


def test_the_drivers_proc_entry_names_the_gpu_where_nvidia_smi_is_missing(tmp_path, monkeypatch):
    proc = tmp_path / "nvidia"
    (proc / "gpus/0000:00:04.0").mkdir(parents=True)
    (proc / "version").write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.183.01  Sun May 12 2024\n")
    (proc / "gpus/0000:00:04.0/information").write_text("Model: \t\t Tesla V100-SXM2-16GB\nIRQ: 36\n")
    monkeypatch.setattr(devices, "PROC_DRIVER", proc)
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert devices.nvidia_gpus() == [devices.Gpu("Tesla V100-SXM2-16GB", None, "535.183.01")]


def train_stage(repo, *flags, path=None):
    e = env()
    if path:
        e["PATH"] = f"{path}{os.pathsep}{e['PATH']}"
    return subprocess.run(
        [sys.executable, str(REPO / "tests/as_if.py"), *flags, "stages/train.py"],
        cwd=repo,
        env=e,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_train_stage_stops_before_writing_anything(tiny_sample, tmp_path):
    repo = _stage_repo(tmp_path / "r", tiny_sample, epochs=1)
    before = sorted(p.relative_to(repo) for p in repo.rglob("*"))
    # the P100 and the driver checks: unit tests above; here the two ways torch fails to reach a GPU
    for gpu, flags in (
        ("Tesla T4, 7.5, 550.54.15", ["--gpu-unreachable"]),
        ("NVIDIA A100-SXM4-40GB, 8.0, 580.65.06", ["--cpu-only-build"]),
    ):
        proc = train_stage(repo, *flags, path=fake_nvidia_smi(tmp_path / gpu.split(",")[0], [gpu]))
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1, proc.stderr
        assert lines[0].startswith("error: this machine has an NVIDIA GPU that torch cannot use: " + gpu.split(",")[0])
        assert sorted(p.relative_to(repo) for p in repo.rglob("*")) == before  # nothing written


def test_a_gpu_this_build_supports_but_cannot_reach_points_at_torch_cuda_init():
    line = refusal(devices.Gpu("Tesla T4", (7, 5), "580.65.06"), build())
    assert "cannot reach it (torch.cuda.is_available() is False)" in line and "torch.cuda.init()" in line
