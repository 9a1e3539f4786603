"""The download stage: COCO-format annotations for the chosen dataset.

- coco:   the real annotations zip (resumable, size- and md5-checked), instances JSONs extracted
- sample: a generated COCO-format dataset (see sample.py)
- folder: an existing `<root>/<split>/<class>/*.jpg` tree indexed into COCO-format JSONs
"""

import hashlib
import json
import shutil
import sys
import zipfile
from pathlib import Path, PurePosixPath

from PIL import Image, UnidentifiedImageError

from ..config import coco
from ..config.params import dataset_settings
from ..errors import SkipnetError, printable
from ..files import atomic_path, atomic_write_text, not_regular, under
from . import sample
from .http import FetchError, download_resumable, make_pool

SPLITS = ("train", "val")
QUICK_START = "dvc exp run -S dataset=sample -S depth=1 -S epochs=4 -S batch_size=64"  # as in the README


def annotation_files(dataset, source_dir):
    """(train pool, val pool or None): the study drew both splits from train2017."""
    ann = Path(source_dir) / "annotations"
    if dataset == "folder":
        return ann / "instances_train.json", ann / "instances_val.json"
    return ann / "instances_train2017.json", None


def md5sum(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def fetch_annotations_zip(base_url, md5, size, cache_dir, timeout_s):
    """The verified annotations zip in `cache_dir`, downloading (or resuming) it if needed."""
    cache_dir = Path(cache_dir)
    zip_path = cache_dir / PurePosixPath(coco.ANNOTATIONS_ZIP).name
    if zip_path.exists() and zip_path.stat().st_size == size and md5sum(zip_path) == md5:
        return zip_path
    zip_path.unlink(missing_ok=True)
    url = coco.annotations_url(base_url)
    part = zip_path.with_name(zip_path.name + ".part")
    try:
        download_resumable(make_pool(1, timeout_s), url, part, size, desc="annotations")
    except FetchError as e:
        kept = f"; the {part.stat().st_size:,} bytes received resume on the next run" if part.exists() else ""
        raise SkipnetError(
            f"cannot download {url} ({e}){kept}. Offline? Run the offline quick start instead: {QUICK_START}"
        ) from None
    got = md5sum(part)
    if got != md5:
        part.unlink()
        raise SkipnetError(
            f"{url}: md5 {got} does not match coco.annotations_md5 {md5}; the download was deleted. "
            "Rerun to download again, or fix coco.base_url / coco.annotations_md5 for your mirror"
        )
    part.rename(zip_path)
    return zip_path


def extract_instances(zip_path, out_dir):
    """Extract only the instances JSONs, refusing members that would land outside `out_dir`."""
    out_dir = Path(out_dir)
    if not zipfile.is_zipfile(zip_path):
        raise SkipnetError(
            f"{zip_path} is not a zip archive (its size and md5 match params.yaml's coco.annotations_*, "
            f"so those name some other file): set them to COCO's annotations_trainval2017.zip"
        )
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            name = PurePosixPath(info.filename)
            if name.is_absolute() or ".." in name.parts or ":" in info.filename or "\\" in info.filename:
                raise SkipnetError(f"{zip_path}: refusing unsafe member {info.filename!r} (path outside the archive)")
        names = set(zf.namelist())
        for member in coco.INSTANCES_MEMBERS:
            if member not in names:
                raise SkipnetError(
                    f"{zip_path}: member {member} is missing; is this COCO's annotations_trainval2017.zip?"
                )
            with zf.open(member) as src, atomic_path(out_dir / member) as tmp, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 22)


def index_folder(root, classes, out_dir):
    """Write COCO-format instances JSONs for an image-folder tree, one per split."""
    root = Path(root)
    if not root.is_dir():
        raise SkipnetError(f"datasets.folder.root: {root} is not a folder (expected <root>/train/<class>/*.jpg)")
    for split in SPLITS:
        images, annotations = [], []
        for name in classes:
            class_dir = root / split / name
            if not class_dir.is_dir():
                raise SkipnetError(f"class {name!r} has no folder {class_dir}; fix `classes` or datasets.folder.root")
            named = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
            files = [p for p in named if not_regular(p) is None]
            for path in sorted(set(named) - set(files)):  # never opened: a FIFO would block the stage forever
                print(f"skipped: {printable(path)}: {not_regular(path)}", file=sys.stderr)
            if not files:
                raise SkipnetError(f"{class_dir} holds no readable images (regular .jpg, .jpeg or .png files)")
            for path in files:
                under(root, path.relative_to(root).as_posix(), "datasets.folder.root image")
                try:
                    with Image.open(path) as img:
                        width, height = img.size
                except (UnidentifiedImageError, OSError) as e:
                    raise SkipnetError(f"unreadable image {path}: {e}") from None
                image_id = len(images) + 1
                images.append(
                    {"id": image_id, "file_name": path.relative_to(root).as_posix(), "width": width, "height": height}
                )
                annotations.append(
                    {
                        "id": image_id,
                        "image_id": image_id,
                        "category_id": coco.CATEGORY_IDS[name],
                        "bbox": [0, 0, width, height],
                        "area": width * height,
                        "iscrowd": 0,
                    }
                )
        categories = [{"id": coco.CATEGORY_IDS[n], "name": n, "supercategory": ""} for n in classes]
        atomic_write_text(
            Path(out_dir) / "annotations" / f"instances_{split}.json",
            json.dumps({"images": images, "annotations": annotations, "categories": categories}),
        )


def source(params, out_dir, cache_dir):
    out_dir = Path(out_dir)
    settings = dataset_settings(params)
    if params["dataset"] == "coco":
        c = params["coco"]
        zip_path = fetch_annotations_zip(
            c["base_url"], c["annotations_md5"], c["annotations_size"], cache_dir, params["fetch_timeout"]
        )
        extract_instances(zip_path, out_dir)
    elif params["dataset"] == "sample":
        per_class = settings["train_per_class"] + settings["val_per_class"]
        sample.generate(out_dir, params["classes"], per_class, params["seed"])
    else:
        index_folder(settings["root"], params["classes"], out_dir)
