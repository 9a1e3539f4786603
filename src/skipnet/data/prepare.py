"""The prepare stage: decode, convert to RGB, squash to image_size, pack uint8 arrays per split.

Fast JPEG path (chosen once, here): PIL's draft mode lets libjpeg decode at a
1/2, 1/4 or 1/8 scale that is still at least twice the target size, then an
antialiased bilinear resize finishes the job. It changes pixels slightly
against a full decode + resize (the study's path) and is several times faster.
"""

import os
import warnings
import zipfile
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import psutil
from PIL import Image, ImageOps
from tqdm import tqdm

from ..config.seeds import stream_seed
from ..errors import SkipnetError
from ..files import atomic_path, under

DRAFT_FACTOR = 2  # decode at >= 2x the target size before the final resize
# PIL refuses images over 179 megapixels (a guard against decompression bombs from the web) and warns over 89.
# These are the user's own files, decoded in draft mode (a JPEG at a fraction of its size): up to this bound
# (a 20000 x 20000 photograph) they work without a word; beyond it, one line names the limit.
MAX_PIXELS = 400_000_000


def to_rgb(img):
    """RGB for any PIL mode: transparency composited on white; CMYK, palette and grayscale converted."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, img).convert("RGB")
    if img.mode in ("I;16", "I", "F"):  # high bit depth grayscale: scale to 8 bits
        arr = np.asarray(img, dtype=np.float64)
        span = max(arr.max() - arr.min(), 1e-12)
        img = Image.fromarray(((arr - arr.min()) / span * 255).astype(np.uint8))
    return img.convert("RGB")


def load_image(path, size):
    """One image as a (size, size, 3) uint8 array: upright (EXIF), RGB, whole image squashed."""
    default, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, MAX_PIXELS  # PIL's guard is process-global: restored
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.draft("RGB", (size * DRAFT_FACTOR, size * DRAFT_FACTOR))
                img = ImageOps.exif_transpose(img)
                img = to_rgb(img).resize((size, size), Image.Resampling.BILINEAR)
                return np.asarray(img, dtype=np.uint8)
    except Exception as e:  # PIL raises many types for bad data
        raise SkipnetError(f"unreadable image {path}: {e}") from None
    finally:
        Image.MAX_IMAGE_PIXELS = default


def _try_load(job):
    """(array, None), or (None, the error's message): a worker never raises, its caller decides."""
    try:
        return load_image(*job), None
    except SkipnetError as e:
        return None, str(e)


def decode_each(paths, size, desc, workers=None, progress=True):
    """(array or None, error or None) for each path, in order, decoded on every core, with a progress bar."""
    with Pool(min(workers or os.cpu_count(), max(1, len(paths)))) as pool:
        jobs = pool.imap(_try_load, ((p, size) for p in paths), chunksize=32)
        yield from tqdm(jobs, total=len(paths), desc=desc, unit="img", disable=not progress)


def pack(paths, size, workers=None):
    """Decode `paths` into one (N, size, size, 3) uint8 array; the first unreadable image stops it. An array larger
    than the memory available is one line before it is asked for."""
    need, have = len(paths) * size * size * 3, psutil.virtual_memory().available
    if need > have:
        raise SkipnetError(
            f"{len(paths)} images at image_size {size} need {need / 1e9:.1f} GB and this machine has "
            f"{have / 1e9:.1f} GB available: lower image_size or the images per class"
        )
    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    for i, (array, error) in enumerate(decode_each(paths, size, "prepare", workers)):
        if error:
            raise SkipnetError(error)
        out[i] = array
    return out


def save_split(path, images, labels, classes):
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, images=images, labels=labels, classes=np.array(classes))


def load_split(path):
    """(images (N, H, W, 3) uint8, labels (N,) int64, class names); one line if the file is torn or foreign."""
    try:
        with np.load(path) as z:
            return z["images"], z["labels"].astype(np.int64), [str(c) for c in z["classes"]]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
        raise SkipnetError(
            f"{path} is unreadable ({type(e).__name__}: {e}): rebuild it with the prepare stage (dvc repro prepare)"
        ) from None


def train_and_eval_splits(train_path, val_path, tune_holdout, seed):
    """((train images, labels), (eval images, labels), classes).

    With tune_holdout > 0, a seeded fraction of train is held out and is what every "val" number is
    computed on, so that settings can be tuned without touching val; the val split is not read.
    """
    images, labels, classes = load_split(train_path)
    if not tune_holdout:
        val_images, val_labels, _ = load_split(val_path)
        return (images, labels), (val_images, val_labels), classes
    kept, held = holdout(len(labels), tune_holdout, seed)
    return (images[kept], labels[kept]), (images[held], labels[held]), classes


def holdout(n, tune_holdout, seed):
    """(kept, held): sorted indices of a split of n images, a seeded tune_holdout fraction held out; one line, before
    any training, where that holds out no image or leaves fewer than two to train on."""
    cut = round(n * tune_holdout)
    if cut < 1 or n - cut < 2:
        raise SkipnetError(
            f"params.yaml: tune_holdout = {tune_holdout} of {n} train images holds out {cut} and leaves "
            f"{n - cut} to train: give a fraction that holds out at least one image and leaves two "
            f"(at least {1 / n:.3g} here), or 0 for none"
        )
    order = np.random.default_rng(stream_seed(seed, "holdout")).permutation(n)
    return np.sort(order[cut:]), np.sort(order[:cut])


def eval_rows(rows, tune_holdout, seed):
    """The manifest rows of the images every "val" number is computed on, in the order of
    train_and_eval_splits' eval arrays (prepare.run packs each split in manifest order)."""
    if not tune_holdout:
        return [r for r in rows if r["split"] == "val"]
    train = [r for r in rows if r["split"] == "train"]
    return [train[i] for i in holdout(len(train), tune_holdout, seed)[1]]


def pack_splits(rows, images_dir, classes, size, out_dir):
    out_dir = Path(out_dir)
    index = {name: i for i, name in enumerate(classes)}
    splits = {}
    for split in ("train", "val"):
        chosen = [r for r in rows if r["split"] == split]
        if not chosen:
            raise SkipnetError(f"the manifest has no {split} images; check the per-class counts in params.yaml")
        images = pack([under(images_dir, r["file_name"], f"manifest image {r['image_id']}") for r in chosen], size)
        labels = np.array([index[r["class"]] for r in chosen], dtype=np.int64)
        save_split(out_dir / f"{split}.npz", images, labels, classes)
        splits[split] = (images, labels)
    return splits
