"""Predict images/s on a folder of real photographs: batched predict vs a one-image-at-a-time loop.

Same model (MyNet-16, 5 classes; random weights: speed does not depend on them), same 1,000 COCO
photographs from ../shared/data/coco-5class-64/val, same precision (what auto picks here).

    python bench/predict_throughput.py [--images 1000] [--depth 16]
"""

import argparse
import time
from pathlib import Path

import torch

from skipnet.analysis import predict
from skipnet.data.prepare import load_image
from skipnet.training import precision
from skipnet.training.models import MyNet, model_file

PHOTOS = Path(__file__).resolve().parents[1].parent / "shared/data/coco-5class-64/val"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--depth", type=int, default=16)
    args = ap.parse_args()
    files = sorted(PHOTOS.rglob("*.jpg"))[: args.images]
    chosen = precision.resolve("auto", torch.device("cpu"))[0]
    torch.manual_seed(0)
    net = MyNet(depth=args.depth, num_classes=5, image_size=32)
    params = {"arch": "mynet", "depth": args.depth, "skip_connections": True, "image_size": 32}
    config = model_file(net, params, ["boat", "cake", "couch", "dog", "motorcycle"], chosen)["config"]
    net.eval()

    t0 = time.perf_counter()
    with torch.no_grad(), precision.autocast("cpu", chosen):
        for f in files:  # what a naive script does: decode one, classify one
            x = torch.from_numpy(load_image(f, 32).copy()).permute(2, 0, 1)[None].float().div(127.5).sub(1)
            net(x).float().softmax(1)
    naive = len(files) / (time.perf_counter() - t0)

    t0 = time.perf_counter()
    images, good, _ = predict.decode(files, 32, progress=False)
    predict.top(predict.probabilities(net, config, images), config["classes"], 3)
    batched = len(good) / (time.perf_counter() - t0)
    print(
        f"MyNet-{args.depth}, {len(files)} real photographs (64x64 JPEG -> 32x32), {torch.get_num_threads()} threads, "
        f"CPU capability {torch.backends.cpu.get_cpu_capability()}, precision {chosen}"
    )
    print(f"one image at a time (decode, forward):           {naive:8.1f} img/s")
    print(f"predict: decode on every core, batches of {predict.BATCH}: {batched:8.1f} img/s  ({batched / naive:.1f}x)")


if __name__ == "__main__":
    main()
