"""Run under torchrun by test_engine: train, then report this rank's model state (parameters and BatchNorm
buffers), and per epoch the images it drew and the augmentation each one got."""

import hashlib
import json
import os
import sys

import yaml

from skipnet.training import engine

params_path, train_npz, val_npz, out_dir = sys.argv[1:5]
params = yaml.safe_load(open(params_path))
orders, draws = [], []
real_epoch_order, real_rank_draws = engine.epoch_order, engine.rank_draws


def recording_epoch_order(n, seed, epoch, rank, world):
    orders.append(real_epoch_order(n, seed, epoch, rank, world).tolist())
    return real_epoch_order(n, seed, epoch, rank, world)


def recording_rank_draws(*args):
    got = real_rank_draws(*args)
    draws.append(got.T.tolist())
    return got


engine.epoch_order, engine.rank_draws = recording_epoch_order, recording_rank_draws
# as if each rank had its own node's disk: only rank 0's holds the resume checkpoint it writes
rank = os.environ.get("RANK", "0")  # run without torchrun: one process, as a 1-GPU user runs it
resume_dir = f"{out_dir}/resume" if rank == "0" else f"{out_dir}/resume-node{rank}"
model, _ = engine.train(params, train_npz, val_npz, f"{out_dir}/model.pt", resume_dir, log=print)
state = model.state_dict()


def digest(keys):
    return hashlib.sha256(b"".join(k.encode() + state[k].detach().cpu().numpy().tobytes() for k in keys)).hexdigest()


weights = sorted(name for name, _ in model.named_parameters())
augmented = [{str(i): d for i, d in zip(order, epoch_draws)} for order, epoch_draws in zip(orders, draws)]
json.dump(
    {"orders": orders, "weights": digest(weights), "state": digest(sorted(state)), "augmented": augmented},
    open(f"{out_dir}/rank{rank}.json", "w"),
)
