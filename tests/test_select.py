"""Selection with pycocotools on a generated COCO-format dataset."""

import pytest
from PIL import Image

from skipnet.data import sample, select
from skipnet.errors import SkipnetError

CLASSES = ["boat", "dog", "motorcycle"]


@pytest.fixture(scope="module")
def instances(tmp_path_factory):
    root = tmp_path_factory.mktemp("sel")
    sample.generate(root, CLASSES, 30, seed=7)
    return root / "annotations/instances_train2017.json"


def test_draw_is_exclusive_disjoint_and_deterministic(instances):
    api = select.load_coco(instances)
    rows, stats = select.select(instances, None, CLASSES, 20, 8, 60146, lambda f: f"u/{f}", "datasets.sample")
    again, _ = select.select(instances, None, CLASSES, 20, 8, 60146, lambda f: f"u/{f}", "datasets.sample")
    other, _ = select.select(instances, None, CLASSES, 20, 8, 1, lambda f: f"u/{f}", "datasets.sample")
    assert rows == again and rows != other
    assert len(rows) == 3 * 28
    train = {r["image_id"] for r in rows if r["split"] == "train"}
    val = {r["image_id"] for r in rows if r["split"] == "val"}
    assert len(train) == 60 and len(val) == 24 and not train & val
    ids = {name: set(api.getImgIds(catIds=[cid])) for name, cid in (("boat", 9), ("dog", 18), ("motorcycle", 4))}
    for r in rows:
        holds = {name for name, s in ids.items() if r["image_id"] in s}
        assert holds == {r["class"]}
        assert r["url"] == f"u/{r['file_name']}"
    assert stats["images_with_several_classes"] > 0
    assert all(n >= 30 for n in stats["eligible_per_class"].values())


def test_too_few_eligible_images_says_how_many(instances):
    with pytest.raises(SkipnetError, match=r"class 'boat' has only \d+ eligible images .* asks for 1000"):
        select.select(instances, None, CLASSES, 900, 100, 0, str, "datasets.sample")


def test_sample_has_coco_shape(instances):
    api = select.load_coco(instances)
    cats = {c["id"]: c["name"] for c in api.loadCats(api.getCatIds())}
    assert cats[9] == "boat" and cats[18] == "dog" and cats[4] == "motorcycle" and cats[1] == "person"
    sizes = {(i["width"], i["height"]) for i in api.loadImgs(api.getImgIds())}
    assert len(sizes) > 20
    modes = {
        Image.open(instances.parents[1] / "train2017" / i["file_name"]).mode for i in api.loadImgs(api.getImgIds())
    }
    assert modes == {"RGB", "L"}  # a few grayscale images, as COCO has
