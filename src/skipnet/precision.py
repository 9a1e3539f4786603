"""Which arithmetic to train in: `precision: auto` picks bf16 only where the device runs it natively.

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

SLOW_BF16_WARNING = ("warning: precision: bf16 on a CPU without native bf16 ({why}); bf16 autocast will be "
                     "many times slower than fp32 here (about 15x for MyNet). Use precision: auto (or fp32).")


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


def decide(requested, device_type, cuda_bf16=False, cpu=None):
    """(precision, reason, slow): `slow` is True when bf16 was asked for where it is emulated.

    requested: auto | bf16 | fp32; device_type: cuda | cpu; cuda_bf16: the GPU supports bf16;
    cpu: cpu_facts() of the CPU (only read for device_type cpu).
    """
    if device_type == "cuda":
        native, why = cuda_bf16, ("the GPU supports bf16" if cuda_bf16 else "the GPU has no bf16")
    else:
        native, why = cpu_native_bf16(cpu)
    if requested == "fp32":
        return "fp32", "asked for in params.yaml", False
    if requested == "bf16":
        return "bf16", "asked for in params.yaml" + ("" if native else f"; {why}"), not native
    return ("bf16" if native else "fp32"), f"auto: {why}", False


def resolve(requested, device):
    """The precision to use on `device`; warns in one line when bf16 is asked for where it is slow."""
    if device.type == "cuda":
        precision, reason, slow = decide(requested, "cuda", cuda_bf16=torch.cuda.is_bf16_supported())
    else:
        precision, reason, slow = decide(requested, "cpu", cpu=cpu_facts())
    if slow:
        print(SLOW_BF16_WARNING.format(why=reason.split("; ", 1)[1]), file=sys.stderr)
    return precision, reason


def autocast(device_type, precision):
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16")
