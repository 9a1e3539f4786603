"""select: per class, images holding it and no other chosen class; a seeded, disjoint train/val draw.

Writes data/manifest.csv (image_id, file_name, url, class, split) and
data/selection.json (eligible images per class, images with several classes).
"""

import json

from skipnet.cli import run_stage
from skipnet.config.params import dataset_settings
from skipnet.data import download, select
from skipnet.files import atomic_write_json

SOURCE_DIR = "data/source"
MANIFEST = "data/manifest.csv"
SELECTION_STATS = "data/selection.json"


def main(params, args):
    settings = dataset_settings(params)
    train_json, val_json = download.annotation_files(params["dataset"], SOURCE_DIR)
    rows, stats = select.select(
        train_json,
        val_json,
        params["classes"],
        settings["train_per_class"],
        settings["val_per_class"],
        params["seed"],
        select.image_locator(params, SOURCE_DIR),
        f"datasets.{params['dataset']}",
    )
    select.write_manifest(rows, MANIFEST)
    atomic_write_json(SELECTION_STATS, stats)
    print(f"selected {len(rows)} images: {json.dumps(stats['eligible_per_class'])} eligible per class")


if __name__ == "__main__":
    run_stage(__doc__, main)
