"""train: MyNet or Net3 per params.yaml on data/prepared; writes models/ and dvclive/.

Per-epoch metrics go to DVCLive (dvclive/) as each epoch ends: `dvc exp show` shows a running
experiment's progress. A checkpoint every epoch, in models/resume/ under the run's fingerprint (not a
DVC output, so DVC's run-cache keeps this stage): a rerun after an interruption resumes from the last
finished epoch; the checkpoint is removed when training ends. Under `torchrun --nproc_per_node=N` it
trains with DistributedDataParallel; rank 0 writes every file.
"""
import json
import os

from skipnet import engine, live
from skipnet.cli import run_stage
from skipnet.files import atomic_write_text

TRAIN_NPZ = "data/prepared/train.npz"
VAL_NPZ = "data/prepared/val.npz"
MODEL = "models/model.pt"
RESUME_DIR = "models/resume"  # git-ignored; one checkpoint per unfinished run
TRAIN_LOG = "models/train_log.json"


def main(params, args):
    rank0 = int(os.environ.get("RANK", 0)) == 0
    on_epoch = live.epoch_logger() if rank0 else None
    _, history = engine.train(params, TRAIN_NPZ, VAL_NPZ, MODEL, RESUME_DIR, on_epoch=on_epoch)
    if rank0:  # everything the engine measured: per-epoch metrics, running loss, gradient norms, device
        atomic_write_text(TRAIN_LOG, json.dumps(history) + "\n")


if __name__ == "__main__":
    run_stage(__doc__, main)
