"""Generate an offline dataset in COCO's exact format: an instances JSON plus JPEGs.

Each class gets its own shape and a hue it leans towards (with wide overlap),
drawn at random position, scale and aspect on a cluttered background, so a
small net can learn it but not from one pixel. The JSON mirrors COCO's: real
category ids and names, distractor categories, images holding two target
classes, varied image sizes, a few grayscale images.
"""

import colorsys
import io
import json
import math
import os
import random
from multiprocessing import Pool
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter
from tqdm import tqdm

from ..config.coco import CATEGORY_IDS, TRAIN_IMAGES_DIR, image_url
from ..files import atomic_write_bytes, atomic_write_text

DISTRACTORS = ("person", "car", "chair", "bird")
SHAPES = ("triangle", "disc", "bar", "ring", "wheels", "cross", "diamond", "star")
SPARE = 1.15  # eligible images per class relative to what select draws
TWO_CLASS_FRACTION = 0.1
DISTRACTOR_ONLY_FRACTION = 0.05
GRAYSCALE_FRACTION = 0.04


def _polygon(shape, cx, cy, w, h):
    """Outline of `shape` centred at (cx, cy) within a w x h box, as a flat point list."""

    def ring(n, rx, ry, phase=0.0):
        return [
            (cx + rx * math.cos(phase + 2 * math.pi * k / n), cy + ry * math.sin(phase + 2 * math.pi * k / n))
            for k in range(n)
        ]

    if shape == "triangle":
        return [(cx, cy - h / 2), (cx + w / 2, cy + h / 2), (cx - w / 2, cy + h / 2)]
    if shape in ("disc", "ring"):
        return ring(24, w / 2, h / 2)
    if shape == "bar":
        return [(cx - w / 2, cy - h / 5), (cx + w / 2, cy - h / 5), (cx + w / 2, cy + h / 5), (cx - w / 2, cy + h / 5)]
    if shape == "wheels":
        return [(cx - w / 2, cy - h / 2), (cx + w / 2, cy - h / 2), (cx + w / 2, cy + h / 2), (cx - w / 2, cy + h / 2)]
    if shape == "cross":
        a, b = w / 2, w / 6
        return [
            (cx - b, cy - a),
            (cx + b, cy - a),
            (cx + b, cy - b),
            (cx + a, cy - b),
            (cx + a, cy + b),
            (cx + b, cy + b),
            (cx + b, cy + a),
            (cx - b, cy + a),
            (cx - b, cy + b),
            (cx - a, cy + b),
            (cx - a, cy - b),
            (cx - b, cy - b),
        ]
    if shape == "diamond":
        return ring(4, w / 2, h / 2)
    pts = []  # star
    for k in range(10):
        r = 1.0 if k % 2 == 0 else 0.45
        ang = -math.pi / 2 + math.pi * k / 5
        pts.append((cx + r * w / 2 * math.cos(ang), cy + r * h / 2 * math.sin(ang)))
    return pts


def _color(hue, rng):
    h = (hue + rng.gauss(0, 0.08)) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, rng.uniform(0.35, 1.0), rng.uniform(0.35, 1.0))
    return int(r * 255), int(g * 255), int(b * 255)


def _draw_object(draw, shape, hue, box, rng):
    """Draw one object; return its COCO bbox [x, y, w, h] and segmentation polygon."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    pts = _polygon(shape, cx, cy, w, h)
    color = _color(hue, rng)
    draw.polygon(pts, fill=color)
    if shape == "ring":
        inner = _polygon("disc", cx, cy, w * 0.5, h * 0.5)
        draw.polygon(inner, fill=_color(rng.random(), rng))
    if shape == "wheels":
        r = min(w, h) * 0.28
        for wx in (x0 + r, x1 - r):
            draw.ellipse((wx - r, y1 - r, wx + r, y1 + r), fill=(20, 20, 20))
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    bbox = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
    return [round(v, 2) for v in bbox], [[round(c, 2) for p in pts for c in p]]


def _background(width, height, rng):
    img = Image.new("RGB", (width, height), _color(rng.random(), rng))
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(5, 12)):  # clutter: random blobs, boxes and lines
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        s = rng.uniform(0.04, 0.2) * min(width, height)
        kind = rng.random()
        col = _color(rng.random(), rng)
        if kind < 0.4:
            draw.ellipse((x - s, y - s * rng.uniform(0.3, 1), x + s, y + s), fill=col)
        elif kind < 0.8:
            draw.rectangle((x - s, y - s / 2, x + s * rng.uniform(0.3, 2), y + s), fill=col)
        else:
            draw.line((x, y, rng.uniform(0, width), rng.uniform(0, height)), fill=col, width=max(1, int(s / 6)))
    return img


def _object_box(width, height, rng, scale=(0.45, 0.85)):
    s = rng.uniform(*scale) * min(width, height)
    aspect = rng.uniform(0.75, 1.33)
    w, h = s * aspect, s / aspect
    x0 = rng.uniform(0, max(1.0, width - w))
    y0 = rng.uniform(0, max(1.0, height - h))
    return x0, y0, x0 + w, y0 + h


def _plan(classes, per_class, rng):
    """Which categories each image holds: exclusive, two-target-class, and distractor-only images."""
    plan = [[name] for name in classes for _ in range(per_class)]
    plan += [rng.sample(classes, 2) for _ in range(int(len(plan) * TWO_CLASS_FRACTION))]
    plan += [[] for _ in range(int(len(plan) * DISTRACTOR_ONLY_FRACTION))]
    rng.shuffle(plan)
    return plan


def _render(job):
    """One image of the plan, drawn with its own seeded RNG (so images can be drawn in parallel):
    (width, height, [(category name, bbox, segmentation)], JPEG bytes)."""
    seed, image_id, targets, looks = job
    rng = random.Random(f"{seed}-{image_id}")
    width, height = rng.randint(160, 480), rng.randint(120, 480)
    img = _background(width, height, rng)
    draw = ImageDraw.Draw(img)
    objects = [(d, ("disc", rng.random()), (0.1, 0.25)) for d in rng.sample(DISTRACTORS, rng.randint(0, 2))]
    objects += [(t, looks[t], (0.55, 0.9) if len(targets) == 1 else (0.35, 0.55)) for t in targets]
    drawn = []
    for name, (shape, hue), scale in objects:
        bbox, seg = _draw_object(draw, shape, hue, _object_box(width, height, rng, scale), rng)
        drawn.append((name, bbox, seg))
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.2)))
    if rng.random() < GRAYSCALE_FRACTION:
        img = img.convert("L")
    return width, height, drawn, _jpeg_bytes(img)


def generate(out_dir, classes, per_class, seed):
    """Write `<out_dir>/annotations/instances_train2017.json` and `<out_dir>/train2017/*.jpg`.

    `per_class` is how many exclusive images each class needs at least; a spare
    fraction is added so the draw in select has something to choose from.
    """
    out_dir = Path(out_dir)
    rng = random.Random(seed)
    looks = {name: (SHAPES[i % len(SHAPES)], (i * 0.61803) % 1.0) for i, name in enumerate(classes)}
    names = list(classes) + [d for d in DISTRACTORS if d not in classes]
    categories = [{"id": CATEGORY_IDS[n], "name": n, "supercategory": "sample"} for n in names]
    images, annotations = [], []
    plan = _plan(list(classes), math.ceil(per_class * SPARE), rng)
    jobs = [(seed, image_id, targets, looks) for image_id, targets in enumerate(plan, start=1)]
    with Pool(os.cpu_count()) as pool:
        drawn = pool.imap(_render, jobs, chunksize=32)
        for image_id, (width, height, objects, jpeg) in enumerate(
            tqdm(drawn, total=len(jobs), desc="generate sample", unit="img"), start=1
        ):
            for name, bbox, seg in objects:
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": image_id,
                        "category_id": CATEGORY_IDS[name],
                        "bbox": bbox,
                        "area": round(bbox[2] * bbox[3], 2),
                        "iscrowd": 0,
                        "segmentation": seg,
                    }
                )
            file_name = f"{image_id:012d}.jpg"
            atomic_write_bytes(out_dir / TRAIN_IMAGES_DIR / file_name, jpeg)
            images.append(
                {
                    "id": image_id,
                    "file_name": file_name,
                    "width": width,
                    "height": height,
                    "license": 0,
                    "coco_url": image_url("http://images.cocodataset.org", file_name),
                }
            )
    instances = {
        "info": {"description": "skipnet generated sample in COCO 2017 format", "seed": seed},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }
    atomic_write_text(out_dir / "annotations" / "instances_train2017.json", json.dumps(instances))
    return out_dir


def _jpeg_bytes(img):
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()
