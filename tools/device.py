"""device: where and in which arithmetic the train stage would train here, with params.yaml as it is, and why.

    python tools/device.py                  # e.g. "device: cuda: Tesla T4 (auto: ...); precision: fp16 (...)"
    python tools/device.py --params p.yaml

Exits 1 with the train stage's own one line where it would stop (an NVIDIA GPU this torch cannot use, or
device: cuda without one), so a new machine or a Colab runtime can be checked before anything trains.
"""

import torch

from skipnet.cli import run_stage
from skipnet.training import devices, engine, precision


def main(params, args):
    kind, why = devices.choose(params["device"])
    device = torch.device(kind)
    chosen, reason = precision.resolve(params["precision"], device)
    print(f"device: {engine.device_name(device)} ({why}); precision: {chosen} ({reason}); torch {torch.__version__}")


if __name__ == "__main__":
    run_stage(__doc__, main)
