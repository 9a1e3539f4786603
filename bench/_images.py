"""Bench inputs: generated sample images re-saved at COCO's typical 640x480, as JPEG files."""

from pathlib import Path

from PIL import Image

from skipnet.data import sample

CLASSES = ["boat", "cake", "couch", "dog", "motorcycle"]


def coco_sized_jpegs(root, per_class, seed=0):
    """(paths, labels): `per_class` images per class at 640x480, in COCO's train2017 layout under root."""
    root = Path(root)
    sample.generate(root, CLASSES, per_class, seed)
    api_json = root / "annotations/instances_train2017.json"
    from skipnet.data.select import eligible_images, load_coco

    eligible, _ = eligible_images(load_coco(api_json), CLASSES)
    paths, labels = [], []
    for label, name in enumerate(CLASSES):
        for image_id in eligible[name][:per_class]:
            path = root / "train2017" / f"{image_id:012d}.jpg"
            with Image.open(path) as img:
                img.convert("RGB").resize((640, 480)).save(path, quality=90)
            paths.append(path)
            labels.append(label)
    return paths, labels
