"""Decode + resize images/s: our prepare vs the study's per-image transform, same images, one run.

Study: PIL full decode + torchvision ToTensor + Resize((32, 32)) per image (what its Dataset did
on every epoch). Ours: PIL draft-mode decode + antialiased resize to uint8, on one core and on all.

    python bench/prepare_throughput.py [--images 500] [--size 32]
"""

import argparse
import os
import tempfile
import time

import torchvision.transforms as tv
from PIL import Image

from _images import coco_sized_jpegs
from skipnet.data.prepare import load_image, pack


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--size", type=int, default=32)
    args = ap.parse_args()
    study_tf = tv.Compose([tv.ToTensor(), tv.Resize((args.size, args.size))])
    with tempfile.TemporaryDirectory() as tmp:
        paths, _ = coco_sized_jpegs(tmp, per_class=args.images // 5)
        for p in paths:  # warm the page cache so both read from memory
            p.read_bytes()
        t0 = time.perf_counter()
        for p in paths:
            study_tf(Image.open(p).convert("RGB"))
        study = len(paths) / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for p in paths:
            load_image(p, args.size)
        one_core = len(paths) / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        pack(paths, args.size)
        all_cores = len(paths) / (time.perf_counter() - t0)
    print(f"{len(paths)} JPEGs of 640x480 -> {args.size}x{args.size}")
    print(f"study (full decode + ToTensor + Resize), 1 core: {study:7.1f} img/s")
    print(f"ours (draft decode + resize), 1 core:            {one_core:7.1f} img/s  ({one_core / study:.1f}x per core)")
    print(
        f"ours, {os.cpu_count()} processes:                          {all_cores:7.1f} img/s  ({all_cores / study:.1f}x)"
    )


if __name__ == "__main__":
    main()
