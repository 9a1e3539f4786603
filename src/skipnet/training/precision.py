"""Which arithmetic to train in: `precision: auto` picks bf16 only where the device runs it natively.

On CUDA the compute capability decides: 8.0 and up (A100, H100) run bf16 natively; 7.x (V100, T4: the
study's Colab GPU) has fp16 tensor cores but no native bf16 (`torch.cuda.is_bf16_supported()` also counts
emulation), so auto trains in fp16 autocast with a gradient scaler there; older GPUs train in fp32.

Decided from capability queries, not a timed probe: a probe costs seconds at every
stage start and flips with machine load, while the queries are instant and exact.
On CPU, bf16 autocast pays off only with native bf16 instructions (AVX512-BF16 or
AMX on x86): without them oneDNN emulates bf16 and a MyNet step runs about 15x
slower than fp32. `torch.ops.mkldnn._is_mkldnn_bf16_supported()` asks oneDNN itself,
so it honours ONEDNN_MAX_CPU_ISA, but it is also true on AVX512 CPUs that only
emulate bf16; the CPU flags from `torch.cpu` (cpuinfo) tell native from emulated.
"""

import platform
import sys

import torch

from ..errors import SkipnetError

SLOW_WARNING = (
    "warning: precision: {precision} where it is not native ({why}); it will run many times slower "
    "than the native choice here (bf16 on a CPU that emulates it: about 15x for MyNet). Use precision: auto."
)


def cpu_facts():
    """What the bf16 decision reads on this CPU; a plain dict so tests can pass any CPU's facts."""
    x86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
    return {
        "x86": x86,
        "capability": torch.backends.cpu.get_cpu_capability(),  # ATen's vector ISA, e.g. AVX2, AVX512
        "onednn_bf16": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),  # oneDNN may run bf16 (maybe emulated)
        "avx512_bf16": bool(torch.cpu._is_avx512_bf16_supported()),
        "amx": bool(torch.cpu._is_amx_tile_supported()),
    }


def cpu_native_bf16(facts):
    """(native?, why) for a CPU described by cpu_facts()."""
    if not facts["onednn_bf16"]:
        return False, f"oneDNN has no bf16 kernels on this CPU (ATen capability {facts['capability']})"
    if facts["x86"] and not (facts["avx512_bf16"] or facts["amx"]):
        return False, f"no AVX512-BF16 or AMX, oneDNN would emulate bf16 (ATen capability {facts['capability']})"
    if facts["x86"] and not facts["capability"].startswith("AVX512"):
        return False, f"ATen is limited to {facts['capability']} kernels"
    return True, f"native bf16 ({'AMX' if facts['amx'] else 'AVX512-BF16' if facts['x86'] else 'Arm bf16'})"


def cuda_native(capability):
    """(the fastest precision a CUDA GPU of this (major, minor) compute capability runs natively, why)."""
    major, minor = capability
    cc = f"compute capability {major}.{minor}"
    if major >= 8:
        return "bf16", f"{cc}: native bf16"
    if major == 7:
        return "fp16", f"{cc}: fp16 tensor cores, no native bf16; fp16 autocast with a gradient scaler"
    return "fp32", f"{cc}: no tensor cores"


def decide(requested, device_type, cuda_capability=None, cpu=None):
    """(precision, reason, slow): `slow` is True when bf16 or fp16 was asked for where it is not native.

    requested: auto | bf16 | fp16 | fp32; device_type: cuda | cpu; cuda_capability: the GPU's (major, minor);
    cpu: cpu_facts() of the CPU (only read for device_type cpu).
    """
    if device_type == "cuda":
        best, why = cuda_native(cuda_capability)
    else:
        native, why = cpu_native_bf16(cpu)
        best = "bf16" if native else "fp32"
        if requested == "fp16":
            raise SkipnetError(
                "precision: fp16 is for CUDA GPUs (fp16 autocast on a CPU is slow and unscaled): use auto, bf16 or fp32"
            )
    if requested == "fp32":
        return "fp32", "asked for in params.yaml", False
    if requested in ("bf16", "fp16"):
        slow = requested != best and not (requested == "fp16" and best == "bf16")
        return requested, "asked for in params.yaml" + (f"; {why}" if slow else ""), slow
    return best, f"auto: {why}", False


def resolve(requested, device):
    """The precision to use on `device`; warns in one line when bf16 or fp16 is asked for where it is slow."""
    if device.type == "cuda":
        precision, reason, slow = decide(requested, "cuda", cuda_capability=torch.cuda.get_device_capability(device))
    else:
        precision, reason, slow = decide(requested, "cpu", cpu=cpu_facts())
    if slow:
        print(SLOW_WARNING.format(precision=precision, why=reason.split("; ", 1)[1]), file=sys.stderr)
    return precision, reason


def autocast(device_type, precision):
    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    return torch.autocast(device_type, dtype=dtype, enabled=precision in ("bf16", "fp16"))


def grad_scaler(device_type, precision):
    """fp16 needs its loss scaled so small gradients do not flush to zero; bf16 and fp32 do not."""
    return torch.amp.GradScaler(device_type, enabled=precision == "fp16")
