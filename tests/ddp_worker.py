"""Run under torchrun by test_engine: train, then report this rank's weights and the samples it drew."""
import hashlib
import json
import sys

import torch
import yaml

from skipnet.training import engine

params_path, train_npz, val_npz, out_dir = sys.argv[1:5]
params = yaml.safe_load(open(params_path))
drawn = []
real_epoch_order = engine.epoch_order


def recording_epoch_order(n, seed, epoch, rank, world):
    order = real_epoch_order(n, seed, epoch, rank, world)
    drawn.extend(order.tolist())
    return order


engine.epoch_order = recording_epoch_order
model_path = f"{out_dir}/model.pt"
model, _ = engine.train(params, train_npz, val_npz, model_path, f"{out_dir}/resume", log=print)
rank = torch.distributed.get_rank()
digest = hashlib.sha256(b"".join(p.detach().cpu().numpy().tobytes() for p in model.parameters()))
json.dump({"drawn": drawn, "weights": digest.hexdigest()}, open(f"{out_dir}/rank{rank}.json", "w"))
