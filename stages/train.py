"""train: MyNet or Net3 per params.yaml on data/prepared; writes models/.

A checkpoint every epoch (models/checkpoint.pt): a rerun after an interruption
resumes from the last finished epoch. Under `torchrun --nproc_per_node=N` it
trains with DistributedDataParallel; rank 0 writes every file.
"""
import json
import os

from skipnet import engine
from skipnet.cli import run_stage
from skipnet.files import atomic_write_text

TRAIN_NPZ = "data/prepared/train.npz"
VAL_NPZ = "data/prepared/val.npz"
MODEL = "models/model.pt"
CHECKPOINT = "models/checkpoint.pt"
TRAIN_LOG = "models/train_log.json"


def main(params, args):
    _, history = engine.train(params, TRAIN_NPZ, VAL_NPZ, MODEL, CHECKPOINT)
    if int(os.environ.get("RANK", 0)) == 0:
        atomic_write_text(TRAIN_LOG, json.dumps(history) + "\n")


if __name__ == "__main__":
    run_stage(__doc__, main)
