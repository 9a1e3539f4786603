"""train: MyNet or Net3 per params.yaml on data/prepared; writes models/ and dvclive/.

Per-epoch metrics go to DVCLive (dvclive/) as each epoch ends: `dvc exp show` shows a running
experiment's progress. A checkpoint every epoch (models/checkpoint.pt): a rerun after an interruption
resumes from the last finished epoch. Under `torchrun --nproc_per_node=N` it trains with
DistributedDataParallel; rank 0 writes every file.
"""
import json
import os

from skipnet import engine
from skipnet.cli import run_stage
from skipnet.files import atomic_write_text
from skipnet.live import EpochLog

TRAIN_NPZ = "data/prepared/train.npz"
VAL_NPZ = "data/prepared/val.npz"
MODEL = "models/model.pt"
CHECKPOINT = "models/checkpoint.pt"
TRAIN_LOG = "models/train_log.json"


def main(params, args):
    rank0 = int(os.environ.get("RANK", 0)) == 0
    on_epoch = EpochLog().log if rank0 else None
    _, history = engine.train(params, TRAIN_NPZ, VAL_NPZ, MODEL, CHECKPOINT, on_epoch=on_epoch)
    if rank0:  # per-epoch metrics are DVCLive's; this keeps what it does not log
        atomic_write_text(TRAIN_LOG, json.dumps({k: v for k, v in history.items() if k != "epochs"}) + "\n")


if __name__ == "__main__":
    run_stage(__doc__, main)
