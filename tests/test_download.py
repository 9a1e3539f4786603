"""Annotations download against a loopback COCO look-alike: resume, md5, zip-slip; folder indexing."""

import json
import zipfile

import pytest
from PIL import Image

from mirror import Mirror, build_site
from skipnet.data import download
from skipnet.errors import SkipnetError

CLASSES = ["boat", "dog", "cake"]
ZIP_PATH = "/annotations/annotations_trainval2017.zip"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    size, md5 = build_site(root, CLASSES, 12, seed=3)
    return root, size, md5


def test_download_extracts_only_the_instances_files(site, tmp_path):
    root, size, md5 = site
    with Mirror(root) as m:
        zip_path = download.fetch_annotations_zip(m.base_url, md5, size, tmp_path / "cache", 5)
    download.extract_instances(zip_path, tmp_path / "out")
    got = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert got == ["annotations/instances_train2017.json", "annotations/instances_val2017.json"]
    assert json.loads((tmp_path / "out/annotations/instances_train2017.json").read_text())["categories"]


def test_interrupted_download_resumes_with_a_range_request(site, tmp_path):
    root, size, md5 = site
    cache = tmp_path / "cache"
    with Mirror(root) as m:
        # The connection drops halfway, then the server answers 503 until urllib3 gives up: the run fails.
        m.inject(ZIP_PATH, "drop", *["503"] * 10)
        with pytest.raises(SkipnetError, match="bytes received resume on the next run"):
            download.fetch_annotations_zip(m.base_url, md5, size, cache, 5)
        part = cache / "annotations_trainval2017.zip.part"
        half = part.stat().st_size
        assert 0 < half < size
        m.httpd.faults.clear()
        zip_path = download.fetch_annotations_zip(m.base_url, md5, size, cache, 5)
        assert {"path": ZIP_PATH, "range": f"bytes={half}-"} in m.requests
    assert download.md5sum(zip_path) == md5 and not part.exists()


def test_wrong_md5_is_a_clear_error_and_leaves_nothing(site, tmp_path):
    root, size, _ = site
    with Mirror(root) as m:
        with pytest.raises(SkipnetError, match="md5 .* does not match coco.annotations_md5 0{32}"):
            download.fetch_annotations_zip(m.base_url, "0" * 32, size, tmp_path / "cache", 5)
    assert list((tmp_path / "cache").iterdir()) == []


def test_zip_slip_member_is_refused(tmp_path):
    zip_path = tmp_path / "evil.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("annotations/instances_train2017.json", "{}")
        zf.writestr("../../escaped.json", "{}")
    with pytest.raises(SkipnetError, match="refusing unsafe member '../../escaped.json'"):
        download.extract_instances(zip_path, tmp_path / "out" / "deep")
    assert not list(tmp_path.rglob("escaped.json")) and not (tmp_path / "out").exists()


def _folder(root, counts):
    for (split, name), n in counts.items():
        (root / split / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new("RGB", (20, 10), (i * 20, 0, 0)).save(root / split / name / f"{i}.jpg")


def test_folder_is_indexed_per_split(tmp_path):
    _folder(tmp_path / "f", {("train", "boat"): 3, ("train", "dog"): 2, ("val", "boat"): 1, ("val", "dog"): 1})
    download.index_folder(tmp_path / "f", ["boat", "dog"], tmp_path / "out")
    train = json.loads((tmp_path / "out/annotations/instances_train.json").read_text())
    assert len(train["images"]) == 5 and train["images"][0]["file_name"] == "train/boat/0.jpg"
    assert {a["category_id"] for a in train["annotations"]} == {9, 18}


def test_folder_errors_name_the_problem(tmp_path):
    root = tmp_path / "f"
    _folder(root, {("train", "boat"): 1, ("val", "boat"): 1, ("train", "dog"): 0})
    with pytest.raises(SkipnetError, match=r"train/dog holds no readable images"):
        download.index_folder(root, ["boat", "dog"], tmp_path / "out")
    with pytest.raises(SkipnetError, match=r"class 'cake' has no folder .*train/cake"):
        download.index_folder(root, ["boat", "cake"], tmp_path / "out")
    (root / "train/dog/broken.jpg").write_bytes(b"not a jpeg")
    _folder(root, {("val", "dog"): 1})
    with pytest.raises(SkipnetError, match=r"unreadable image .*broken\.jpg"):
        download.index_folder(root, ["boat", "dog"], tmp_path / "out")
