"""The select stage: which images of which class go to train and val, as a manifest CSV.

An image is eligible for a class when it contains that class and none of the
other chosen classes, so every image has exactly one label.
"""

import contextlib
import csv
import io
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO

from ..config import coco
from ..config.params import dataset_settings
from ..errors import SkipnetError
from ..files import atomic_path, relative_name

MANIFEST_FIELDS = ("image_id", "file_name", "url", "class", "split")


def load_coco(path):
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints timings
        return COCO(str(path))


def eligible_images(api, classes):
    """Per class, the sorted ids of images with that class and no other chosen class; and the overlap count."""
    with_class = {name: set(api.getImgIds(catIds=[coco.CATEGORY_IDS[name]])) for name in classes}
    eligible = {}
    for name in classes:
        others = set().union(*(ids for other, ids in with_class.items() if other != name))
        eligible[name] = sorted(with_class[name] - others)
    counts = {}
    for ids in with_class.values():
        for i in ids:
            counts[i] = counts.get(i, 0) + 1
    return eligible, sum(1 for c in counts.values() if c >= 2)


def _draw(ids, n, rng, name, split, setting):
    if n is not None and len(ids) < n:
        raise SkipnetError(
            f"class {name!r} has only {len(ids)} eligible images for {split} (containing it and no other "
            f"chosen class), but {setting} asks for {n}; lower it or choose other classes"
        )
    if n is None:  # every image, in id order: the seed draws nothing, so the same images for every seed
        return list(ids)
    order = rng.permutation(len(ids))
    return [ids[i] for i in order[:n]]


def image_locator(params, source_dir):
    """file_name -> where fetch reads it: COCO's URL layout, or a local path for generated/folder data."""
    if params["dataset"] == "coco":
        return lambda file_name: coco.image_url(params["coco"]["base_url"], file_name)
    if params["dataset"] == "sample":
        return lambda file_name: coco.image_url(Path(source_dir).as_posix(), file_name)
    root = Path(dataset_settings(params)["root"]).as_posix()
    return lambda file_name: f"{root}/{file_name}"


def select(train_json, val_json, classes, train_n, val_n, seed, locate, settings_key):
    """Manifest rows and selection stats. With no `val_json`, val is drawn disjointly from the train pool.

    `settings_key` (e.g. "datasets.coco") names the per-class counts in errors.
    """
    rng = np.random.default_rng(seed)
    train_api = load_coco(train_json)
    train_pool, overlap = eligible_images(train_api, classes)
    val_api, val_pool = train_api, None
    if val_json is not None:
        val_api = load_coco(val_json)
        val_pool, _ = eligible_images(val_api, classes)
    rows, stats = [], {"eligible_per_class": {}, "images_with_several_classes": overlap}
    for name in classes:
        if val_pool is None:
            need = None if train_n is None or val_n is None else train_n + val_n
            drawn = _draw(
                train_pool[name], need, rng, name, "train+val", f"{settings_key}.train_per_class + val_per_class"
            )
            split_ids = {"train": (train_api, drawn[:train_n]), "val": (train_api, drawn[train_n:])}
        else:
            split_ids = {
                "train": (
                    train_api,
                    _draw(train_pool[name], train_n, rng, name, "train", f"{settings_key}.train_per_class"),
                ),
                "val": (val_api, _draw(val_pool[name], val_n, rng, name, "val", f"{settings_key}.val_per_class")),
            }
        stats["eligible_per_class"][name] = len(train_pool[name])
        for split, (api, ids) in split_ids.items():
            for img in api.loadImgs(ids):
                file_name = relative_name(img["file_name"], f"annotations image {img['id']}")
                rows.append(
                    {
                        "image_id": img["id"],
                        "file_name": file_name,
                        "url": locate(file_name),
                        "class": name,
                        "split": split,
                    }
                )
    return rows, stats


def write_manifest(rows, path):
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def read_manifest(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
