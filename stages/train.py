"""train: MyNet or Net3 per params.yaml on data/prepared; writes models/ and dvclive/.

Per-epoch metrics go to DVCLive (dvclive/) as each epoch ends: `dvc exp show` shows a running
experiment's progress. A checkpoint every epoch, in models/resume/ under the run's fingerprint (not a
DVC output, so DVC's run-cache keeps this stage): a rerun after an interruption resumes from the last
finished epoch; the checkpoint is removed when training ends. Under `torchrun --nproc_per_node=N` it
trains with DistributedDataParallel; rank 0 writes every file.

One train stage at a time per workspace (a lock file in models/resume/, held by the OS: released when the process
ends, even by SIGKILL; on Windows too): a second `dvc exp run` here would rewrite params.yaml under the first, so it
stops at once; run several with `--queue` or `--temp`. Before the model is written, params.yaml must still hold the
values this run trained with, else nothing is written. A GPU that torch cannot use stops the stage before it writes
anything (skipnet.training.devices).
"""

import contextlib
import os

import filelock

from skipnet.cli import run_stage
from skipnet.config.params import load
from skipnet.errors import SkipnetError
from skipnet.files import atomic_write_json
from skipnet.training import devices, engine, live

TRAIN_NPZ = "data/prepared/train.npz"
VAL_NPZ = "data/prepared/val.npz"
MODEL = "models/model.pt"
RESUME_DIR = "models/resume"  # git-ignored; one checkpoint per unfinished run
TRAIN_LOG = "models/train_log.json"


@contextlib.contextmanager
def workspace_lock():
    """An exclusive lock on this workspace's train stage (filelock: fcntl on POSIX, msvcrt on Windows)."""
    os.makedirs(RESUME_DIR, exist_ok=True)
    try:
        with filelock.FileLock(os.path.join(RESUME_DIR, ".train.lock"), timeout=0):
            yield
    except filelock.Timeout:
        raise SkipnetError(
            "another train stage is running in this workspace; run experiments side by side with "
            "`dvc exp run --queue ...` then `dvc exp run --run-all --jobs N`, or with `--temp`"
        ) from None


def params_unchanged(params, path):
    """Raise unless params.yaml (at `path`) still holds the training values this run started with."""
    now = load(path)
    changed = [f"{k}: {params[k]!r} -> {now[k]!r}" for k in engine.TRAINING_KEYS if now[k] != params[k]]
    if changed:
        raise SkipnetError(
            f"{path} changed while this run trained ({'; '.join(changed)}): another experiment in "
            f"this workspace? Nothing written; rerun, one at a time or with --queue / --temp"
        )


def main(params, args):
    devices.choose(params["device"])  # before anything is written
    rank0 = int(os.environ.get("RANK", 0)) == 0
    with workspace_lock() if rank0 else contextlib.nullcontext():
        on_epoch = live.epoch_logger() if rank0 else None
        _, history = engine.train(
            params,
            TRAIN_NPZ,
            VAL_NPZ,
            MODEL,
            RESUME_DIR,
            on_epoch=on_epoch,
            before_save=lambda: params_unchanged(params, args.params),
        )
        if rank0:  # everything the engine measured: per-epoch metrics, running loss, gradient norms, device
            atomic_write_json(TRAIN_LOG, history.to_json(), indent=None)


if __name__ == "__main__":
    run_stage(__doc__, main)
