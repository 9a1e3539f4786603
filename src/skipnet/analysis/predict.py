"""Predict the classes of your own photographs with a trained model file: top-k classes with probabilities.

Every image goes through the prepare stage's own decode and resize (`prepare.load_image`: EXIF
rotation, any PIL mode to RGB, JPEG draft decoding, squash to the model's image_size), decoded on
every core, then classified in batches. A file that cannot be read is reported and skipped; the
others are still predicted.
"""

from pathlib import Path

import numpy as np
import torch

from ..data.prepare import decode_each
from ..errors import SkipnetError, printable
from ..files import not_regular
from ..training import precision as precisions
from ..training.engine import EVAL_BATCH, input_dtype, to_device_tensors
from ..training.engine import evaluate as run_model

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def collect(paths):
    """(image files, problems): files as given, folders searched recursively for image suffixes. Only regular files
    are kept; anything else (a FIFO, a device, a broken symlink) is a problem, never opened."""
    files, problems = [], []
    for given in map(Path, paths):
        if given.is_dir():
            named = sorted(p for p in given.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and not p.is_dir())
            if not named:
                problems.append(
                    (str(given), f"no images in this folder (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
                )
        else:
            named = [given]
        for path in named:
            kind = not_regular(path)
            if kind is None:
                files.append(path)
            else:
                problems.append((str(path), "no such file or folder" if kind == "not found" else f"{kind}, skipped"))
    return files, problems


def decode(files, size, progress=True):
    """(uint8 images of the good files, good files, problems): unreadable files are listed, not fatal."""
    good, arrays, problems = [], [], []
    for (array, error), path in zip(decode_each(files, size, "decode", progress=progress and len(files) >= 64), files):
        if error:
            problems.append((str(path), error.removeprefix(f"unreadable image {path}: ")))
        else:
            good.append(path)
            arrays.append(array)
    return (np.stack(arrays) if arrays else np.empty((0, size, size, 3), np.uint8)), good, problems


def inference_precision(trained):
    """bf16 where the model trained in it and this CPU runs it natively; else fp32 (a CPU has no fast fp16)."""
    return "bf16" if trained == "bf16" and precisions.resolve("auto", torch.device("cpu"))[0] == "bf16" else "fp32"


def probabilities(model, config, images):
    """Class probabilities (N, classes) for uint8 NHWC images."""
    if not len(images):
        return np.empty((0, len(config["classes"])))
    precision = inference_precision(config["precision"])
    x, y = to_device_tensors(images, np.zeros(len(images), dtype=np.int64), torch.device("cpu"), input_dtype(precision))
    _, _, logits = run_model(model, x, y, EVAL_BATCH, precisions.autocast("cpu", precision))
    probs = logits.softmax(1).numpy()
    if not np.isfinite(probs).all():
        raise SkipnetError(
            f"the model gives non-finite outputs for {int((~np.isfinite(probs)).any(1).sum())} of "
            f"{len(probs)} images: its weights are broken (a diverged run?); retrain it"
        )
    return probs


def top(probs, classes, k):
    """Per image: [(class, probability), ...] best first, k of them."""
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return [[(classes[j], float(p[j])) for j in row] for p, row in zip(probs, order)]


def table(files, tops):
    """An aligned text table: the path, then `class probability%` for each rank."""
    k = len(tops[0]) if tops else 0
    cells = [[printable(f)] + [f"{c} {100 * p:5.1f}%" for c, p in t] for f, t in zip(files, tops)]
    head = ["image"] + [f"#{i + 1}" for i in range(k)]
    widths = [max(len(row[i]) for row in [head] + cells) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [head] + cells)
