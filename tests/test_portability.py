"""The pipeline's path on Windows and macOS, as far as Linux can show it (tests/as_if.py): no fcntl (Windows has
none), and worker pools started by spawn (Windows' only start method, macOS's default)."""

import subprocess
import sys

import numpy as np

from conftest import REPO, copy_repo, env, set_params

DATA_STAGES = ("stages/download.py", "stages/select_images.py", "stages/fetch.py", "stages/prepare.py")
RUN_IN_TURN = """import runpy, sys
for script in sys.argv[1:]:  # each as `python script` runs it: a spawned worker imports it as __mp_main__
    sys.argv = [script]
    runpy.run_path(script, run_name="__main__")
"""
HOLD_LOCK = """import runpy, sys
train = runpy.run_path("stages/train.py")  # its functions; main does not run
with train["workspace_lock"]():
    print("held", flush=True)
    sys.stdin.read()
"""


def as_if(repo, *args, **popen):
    command = [sys.executable, str(REPO / "tests/as_if.py"), *args]
    return subprocess.Popen(
        command, cwd=repo, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
    )


def finish(proc):
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def test_the_stages_run_without_fcntl_and_with_spawned_workers(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    set_params(
        repo,
        dataset="sample",
        depth=1,
        epochs=1,
        batch_size=16,
        device="cpu",
        **{"datasets.sample.train_per_class": 8, "datasets.sample.val_per_class": 4},
    )
    (repo / "stages.py").write_text(RUN_IN_TURN)
    # download generates the sample and prepare decodes it, both in worker pools
    code, _, err = finish(as_if(repo, "--no-fcntl", "--spawn", "stages.py", *DATA_STAGES))
    assert code == 0, err[-2000:]
    with np.load(repo / "data/prepared/train.npz") as train:
        assert train["images"].shape == (5 * 8, 32, 32, 3) and train["images"].any()

    (repo / "hold.py").write_text(HOLD_LOCK)
    holder = as_if(repo, "--no-fcntl", "hold.py", stdin=subprocess.PIPE)
    assert holder.stdout.readline() == "held\n"
    code, _, err = finish(as_if(repo, "--no-fcntl", "stages/train.py"))  # a second train stage in this workspace
    assert code == 1 and "error: another train stage is running in this workspace" in err, err
    assert finish(holder)[0] == 0  # released
    code, out, err = finish(as_if(repo, "--no-fcntl", "--spawn", "stages/train.py"))
    assert code == 0 and "epoch 1/1:" in out, err
    assert "(asked for (device: cpu)); precision:" in out  # device: cpu trains on purpose (test_devices.py: why)
    assert (repo / "models/model.pt").exists()
