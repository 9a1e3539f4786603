"""GPU check: MyNet-16, 20 epochs with our engine vs a timed slice of the study's loop; images/s, ratio, MFU.

For a session lent the GPU machine (torch 2.11 there; no dvc or network needed; pycocotools travels as a
wheel, README "Without DVC"). The data and the training go through the pipeline's own stages
(tools/run_grid.py's run_stages: the generated sample selected, fetched and packed as `dvc exp run`
would), with the settings a grid run gets from params.yaml (precision, deterministic and checkpoint_every as
there: on a GPU, bf16 or fp16 by compute capability and cuDNN autotuning), then the study's loop is timed on
the same JPEG files:

    python bench/gpu_check.py            # 7,500 train / 2,500 val 32x32 images, 20 epochs, under 5 minutes
    python bench/gpu_check.py --compile  # the same with `compile: true` (torch.compile, CUDA graphs)

Prints the settings used, both loops' images/s, their ratio, and MFU against 790 TFLOP/s (H200 dense bf16).
Runs on CPU too with small settings (--train 500 --val 100 --epochs 1 --depth 1) as a smoke test.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from run_grid import run_stages  # noqa: E402

from skipnet.data import select  # noqa: E402
from skipnet.training.models import MyNet, model_summary  # noqa: E402
from train_throughput import StudyDataset  # noqa: E402

PEAK_FLOPS = 790e12
CLASSES = ["boat", "cake", "couch", "dog", "motorcycle"]


def study_slice(paths, labels, depth, batches, device):
    """The study's loop on the device: JPEG decode per sample in 2 workers, fp32; img/s over `batches`."""
    torch.manual_seed(0)
    net = MyNet(depth=depth, num_classes=len(CLASSES), image_size=32).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999))
    loader = torch.utils.data.DataLoader(StudyDataset(paths, labels, 32), batch_size=128, shuffle=True, num_workers=2)
    seen, t0 = 0, None
    for i, (x, y) in enumerate(loader):
        if i == 2:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0, seen = time.perf_counter(), 0
        x, y = x.to(device), y.to(device)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
        seen += len(y)
        if i == batches + 1:
            break
    if t0 is None:
        raise SystemExit(
            f"--train {len(paths)} gives too few batches of 128 for --study-batches {batches} "
            "(two warm-up batches come first): raise --train"
        )
    if device.type == "cuda":
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=int, default=7500)
    ap.add_argument("--val", type=int, default=2500)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--depth", type=int, default=16)
    ap.add_argument("--study-batches", type=int, default=20)
    ap.add_argument("--compile", action="store_true")
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        params = yaml.safe_load((REPO / "params.yaml").read_text())
        params.update(dataset="sample", depth=args.depth, epochs=args.epochs, compile=args.compile)
        params["datasets"]["sample"] = {
            "train_per_class": args.train // len(CLASSES),
            "val_per_class": args.val // len(CLASSES),
        }
        t0 = time.perf_counter()
        run_stages(params, work)
        wall = time.perf_counter() - t0
        history = json.loads((work / "models/train_log.json").read_text())
        steady = [e["images_per_s"] for e in history["epochs"][1:]] or [history["epochs"][0]["images_per_s"]]
        ours = float(np.median(steady))
        train_rows = [r for r in select.read_manifest(work / "data/manifest.csv") if r["split"] == "train"]
        paths = [work / "data/images" / r["file_name"] for r in train_rows]
        labels = [CLASSES.index(r["class"]) for r in train_rows]
        study = study_slice(paths, labels, args.depth, args.study_batches, device)

    macs = model_summary(MyNet(depth=args.depth, num_classes=len(CLASSES)), 32)["macs_per_image"]
    train_flops_per_image = 6 * macs  # forward 2*MACs, backward twice the forward
    print(
        f"device: {history['device']}, torch {torch.__version__}; precision {history['precision']} "
        f"({history['precision_reason']}); deterministic: {params['deterministic']}; "
        f"checkpoint_every: {params['checkpoint_every']}; compile: {params['compile']}"
    )
    print(
        f"pipeline (data stages, then {args.epochs} epochs, per-epoch val, evaluate): {wall:.1f} s; engine median "
        f"{ours:.0f} img/s, "
        f"final val acc {history['epochs'][-1]['val_acc']:.4f}"
    )
    print(f"study loop (JPEG per sample, 2 workers, fp32): {study:.0f} img/s")
    print(f"ratio: {ours / study:.1f}x")
    print(
        f"MFU (engine, {history['precision']}, {train_flops_per_image / 1e9:.2f} GFLOP per training image, "
        f"peak 790 TFLOP/s): "
        f"{100 * ours * train_flops_per_image / PEAK_FLOPS:.2f}%"
    )


if __name__ == "__main__":
    main()
