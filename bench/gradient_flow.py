"""Gradient flow with and without skip connections: stem vs classifier gradient norms, first steps.

Trains MyNet for one epoch on a generated sample (300 images per class) with display_interval 1 and
prints stem/fc gradient-norm ratios for the first steps, for each depth and skip setting.

    python bench/gradient_flow.py [--depths 8 16]
"""

import argparse
import tempfile
from pathlib import Path

import yaml

from skipnet.data import fetch, prepare, sample, select
from skipnet.training import engine

REPO = Path(__file__).resolve().parents[1]

CLASSES = ["boat", "cake", "couch", "dog", "motorcycle"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--depths", type=int, nargs="+", default=[8, 16])
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sample.generate(tmp / "src", CLASSES, 300, seed=60146)
        rows, _ = select.select(
            tmp / "src/annotations/instances_train2017.json",
            None,
            CLASSES,
            240,
            60,
            60146,
            lambda f: str(tmp / "src/train2017" / f),
            "datasets.sample",
        )
        fetch.fetch(rows, tmp / "img", 8, 10)
        prepare.pack_splits(rows, tmp / "img", CLASSES, 32, tmp / "prep")
        params = yaml.safe_load((REPO / "params.yaml").read_text())
        lines = []
        for depth in args.depths:
            for skip in (True, False):
                params.update(dataset="sample", depth=depth, epochs=1, display_interval=1, skip_connections=skip)
                _, h = engine.train(
                    params,
                    tmp / "prep/train.npz",
                    tmp / "prep/val.npz",
                    tmp / "m.pt",
                    tmp / f"c{depth}{skip}.pt",
                    log=lambda *_: None,
                )
                ratios = [r["stem"] / r["fc"] for r in h["grad_norms"][: args.steps]]
                lines.append(
                    f"depth {depth:2d} skip={str(skip):5s} stem/fc per step: " + " ".join(f"{r:.3g}" for r in ratios)
                )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
