"""bench/ scripts are run by hand, now and then: each must still import against the library as it is now (a
moved module breaks them silently otherwise)."""

import json
import runpy
import sys

from conftest import REPO, sh

IMPORT_ALL = """
import runpy, sys
for path in sys.argv[1:]:
    runpy.run_path(path, run_name="bench_import_check")  # not __main__: imports and definitions only
"""


def test_every_bench_script_imports_with_the_current_layout():
    scripts = sorted(str(p) for p in (REPO / "bench").glob("*.py"))
    assert len(scripts) >= 8
    sh([sys.executable, "-c", IMPORT_ALL, *scripts], cwd=REPO / "bench")


def test_the_gpu_job_runs_on_a_cpu_with_a_tiny_model_and_writes_its_json_as_it_goes(tmp_path):
    out = tmp_path / "gpu_check.json"
    args = ["--json", str(out), "--train", "160", "--val", "40", "--depth", "1", "--size", "8", "--no-full"]
    argv, sys.argv = sys.argv, ["gpu_check.py", *args]
    try:  # in this process, where torch is imported already
        runpy.run_path(str(REPO / "bench/gpu_check.py"), run_name="__main__")
    finally:
        sys.argv = argv
    got = json.loads(out.read_text())
    assert got["device"].startswith("cpu") and got["peak_flops"] is None and got["train_flops_per_image"] > 0
    for mode in ("eager_deterministic", "eager_fast"):
        assert got[mode]["steps"] == 2 and got[mode]["ms_per_step"] > 0 and got[mode]["images_per_s"] > 0
    assert got["evaluation_s"] > 0 and got["checkpoint_s"] > 0 and got["checkpoint_mb"] > 0.1
    assert got["kernels_per_step"] is got["syncs_per_step"] is got["syncs_per_step_logging"] is None  # CUDA only
    assert got["eager_fast_off_by"] == 0.0  # a CPU's kernels are deterministic either way: the same weights
