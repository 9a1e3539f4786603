"""precision: auto decided from the device's capabilities, tested through its inputs (any CPU runs these)."""

import subprocess
import sys

import pytest
import torch

from skipnet.errors import SkipnetError
from skipnet.training import precision

AVX2_EPYC = {"x86": True, "capability": "AVX2", "onednn_bf16": False, "avx512_bf16": False, "amx": False}
SKYLAKE_AVX512 = {"x86": True, "capability": "AVX512", "onednn_bf16": True, "avx512_bf16": False, "amx": False}
ZEN4_BF16 = {"x86": True, "capability": "AVX512", "onednn_bf16": True, "avx512_bf16": True, "amx": False}
SAPPHIRE_RAPIDS = {"x86": True, "capability": "AVX512", "onednn_bf16": True, "avx512_bf16": True, "amx": True}
# A bf16 CPU run with ATEN_CPU_CAPABILITY=avx2 but oneDNN left alone
ATEN_CAPPED = dict(ZEN4_BF16, capability="AVX2")
GRAVITON3 = {"x86": False, "capability": "SVE256", "onednn_bf16": True, "avx512_bf16": False, "amx": False}


@pytest.mark.parametrize(
    "cpu,expected",
    [
        (AVX2_EPYC, "fp32"),
        (SKYLAKE_AVX512, "fp32"),
        (ATEN_CAPPED, "fp32"),
        (ZEN4_BF16, "bf16"),
        (SAPPHIRE_RAPIDS, "bf16"),
        (GRAVITON3, "bf16"),
    ],
)
def test_auto_picks_bf16_only_on_cpus_with_native_bf16(cpu, expected):
    chosen, reason, slow = precision.decide("auto", "cpu", cpu=cpu)
    assert (chosen, slow) == (expected, False)
    assert reason.startswith("auto: ")
    assert ("native bf16" in reason) == (expected == "bf16")


def test_auto_names_why_it_chose_fp32():
    _, reason, _ = precision.decide("auto", "cpu", cpu=AVX2_EPYC)
    assert "AVX2" in reason
    _, reason, _ = precision.decide("auto", "cpu", cpu=SKYLAKE_AVX512)
    assert "emulate" in reason


@pytest.mark.parametrize(
    "gpu,capability,expected",
    [
        ("T4", (7, 5), "fp16"),
        ("V100", (7, 0), "fp16"),
        ("A100", (8, 0), "bf16"),
        ("H100", (9, 0), "bf16"),
        ("P100", (6, 0), "fp32"),
    ],
)
def test_auto_on_cuda_follows_the_compute_capability(gpu, capability, expected):
    chosen, reason, slow = precision.decide("auto", "cuda", cuda_capability=capability)
    assert (chosen, slow) == (expected, False) and f"compute capability {capability[0]}.{capability[1]}" in reason
    # bf16 asked for on a GPU that only emulates it is kept, and flagged as slow; fp16 on bf16 hardware is not slow
    assert precision.decide("bf16", "cuda", cuda_capability=capability)[2] == (expected != "bf16")
    assert precision.decide("fp16", "cuda", cuda_capability=capability)[2] == (expected == "fp32")


def test_fp16_is_refused_on_a_cpu_and_scaled_on_a_gpu():
    with pytest.raises(SkipnetError) as err:
        precision.decide("fp16", "cpu", cpu=ZEN4_BF16)
    assert "precision: fp16 is for CUDA GPUs" in str(err.value)
    assert precision.grad_scaler("cpu", "fp16").is_enabled() and not precision.grad_scaler("cpu", "bf16").is_enabled()
    assert precision.autocast("cpu", "fp16").fast_dtype == torch.float16


def test_explicit_choices_are_kept_and_slow_bf16_is_flagged():
    assert precision.decide("fp32", "cpu", cpu=ZEN4_BF16)[:3:2] == ("fp32", False)
    assert precision.decide("bf16", "cpu", cpu=ZEN4_BF16)[:3:2] == ("bf16", False)
    chosen, reason, slow = precision.decide("bf16", "cpu", cpu=AVX2_EPYC)
    assert (chosen, slow) == ("bf16", True) and "AVX2" in reason


def test_explicit_bf16_on_a_cpu_without_native_bf16_warns_in_one_line():
    """The real warning path, on a CPU limited to AVX2 by the variables the issue names."""
    code = (
        "import torch; from skipnet.training import precision; print(precision.resolve('bf16', torch.device('cpu'))[0])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "PATH": ""},
    )
    assert proc.stdout.strip() == "bf16"
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: precision: bf16") and "precision: auto" in lines[0]
    assert "slower" in lines[0]


def test_this_machines_facts_are_well_formed():
    facts = precision.cpu_facts()
    assert set(facts) == set(AVX2_EPYC) and isinstance(facts["capability"], str)
    chosen, reason, _ = precision.decide("auto", "cpu", cpu=facts)
    assert chosen in ("bf16", "fp32") and reason
