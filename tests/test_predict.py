"""predict on real photographs: agreement with the evaluate stage, every kind of image, every bad input."""

import csv
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO, sh
from skipnet.errors import SkipnetError
from skipnet.training.models import MODEL_VERSION, load_model_file

FIVE = REPO.parent / "shared/data/coco-5class-64"
pytestmark = pytest.mark.skipif(not FIVE.is_dir(), reason=f"{FIVE} is not here")


@pytest.fixture
def trained(boat_dog_repo):
    """The pipeline's small MyNet trained on real boat and dog photographs."""
    return boat_dog_repo


def predict(repo, *args, check_rc=0):
    proc = sh(["python", "tools/predict.py", *map(str, args)], cwd=repo, check=False)
    assert proc.returncode == check_rc, proc.stderr
    return proc


def a_photo(name="cake"):
    return next((FIVE / "val" / name).glob("*.jpg"))


def test_predict_agrees_with_the_evaluate_stage(trained):
    with open(trained / "data/manifest.csv") as f:
        val_files = [r["file_name"] for r in csv.DictReader(f) if r["split"] == "val"]
    with open(trained / "plots/confusion.csv") as f:
        evaluated = [r["predicted"] for r in csv.DictReader(f)]
    out = json.loads(predict(trained, "data/images/val", "--json").stdout)
    assert out["classes"] == ["boat", "dog"] and out["errors"] == []
    predicted = {p["path"]: p["top"][0]["class"] for p in out["predictions"]}
    assert len(predicted) == len(val_files) == len(evaluated) == 200
    assert [predicted[f"data/images/{f}"] for f in val_files] == evaluated
    for p in out["predictions"]:
        probs = [t["probability"] for t in p["top"]]
        assert len(probs) == 2 and probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1, abs=1e-4)


def test_table_output_is_aligned_and_names_the_top_classes(trained, tmp_path):
    for i, name in enumerate(("boat", "dog")):
        shutil.copy(a_photo(name), tmp_path / f"photo{i}.jpg")
    header, *rows = predict(trained, tmp_path, "--top", "2").stdout.splitlines()
    assert header.split() == ["image", "#1", "#2"] and len(rows) == 2
    for column in ("#1", "#2"):  # every row's cell starts under its header
        start = header.index(column)
        assert all(row[start:].startswith(("boat ", "dog ")) and row[start - 2 : start] == "  " for row in rows), rows


def _kinds_of_images(folder):
    """One real photograph saved in every mode and shape predict must accept."""
    photo = Image.open(a_photo("dog")).convert("RGB")
    photo.convert("L").save(folder / "gray.jpg")
    photo.convert("CMYK").save(folder / "cmyk.jpg")
    photo.convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette.png")
    rgba = photo.convert("RGBA")
    rgba.putalpha(128)
    rgba.save(folder / "alpha.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees on display
    photo.transpose(Image.Transpose.ROTATE_90).save(folder / "exif_rotated.jpg", exif=exif)
    deep = np.asarray(photo.convert("L"), dtype=np.uint16) * 257
    Image.fromarray(deep).save(folder / "sixteen_bit.png")
    assert Image.open(folder / "sixteen_bit.png").mode in ("I;16", "I")
    photo.resize((8000, 6000), Image.Resampling.NEAREST).save(folder / "large.jpg", quality=80)
    (folder / "nested").mkdir()
    photo.save(folder / "nested/UPPER.JPEG")
    return 8


def test_every_kind_of_image_is_predicted(trained, tmp_path):
    n = _kinds_of_images(tmp_path)
    out = json.loads(predict(trained, tmp_path, "--json").stdout)
    assert out["errors"] == [] and len(out["predictions"]) == n
    by_name = {p["path"].split("/")[-1]: p["top"][0]["class"] for p in out["predictions"]}
    assert {
        "gray.jpg",
        "cmyk.jpg",
        "palette.png",
        "alpha.png",
        "exif_rotated.jpg",
        "sixteen_bit.png",
        "large.jpg",
        "UPPER.JPEG",
    } == set(by_name)


def test_bad_files_are_listed_and_the_good_ones_still_predicted(trained, tmp_path):
    good = tmp_path / "good.jpg"
    shutil.copy(a_photo("boat"), good)
    data = a_photo("couch").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "notes.jpg").write_text("not an image at all")
    (tmp_path / "readme.txt").write_text("a text file given by name")
    (tmp_path / "empty").mkdir()
    proc = predict(
        trained,
        good,
        tmp_path / "truncated.jpg",
        tmp_path / "notes.jpg",
        tmp_path / "readme.txt",
        tmp_path / "empty",
        tmp_path / "missing.jpg",
        check_rc=1,
    )
    assert len(proc.stdout.splitlines()) == 2 and "good.jpg" in proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 5, proc.stderr
    for name, why in (
        ("truncated.jpg", "truncated"),
        ("notes.jpg", "cannot identify"),
        ("readme.txt", "cannot identify"),
        ("empty", "no images in this folder"),
        ("missing.jpg", "no such file or folder"),
    ):
        assert any(name in e and why in e for e in errors), (name, errors)
    assert "1 predicted, 5 failed" in proc.stderr


def test_a_large_folder_gets_a_progress_bar(trained, tmp_path):
    photos = sorted((FIVE / "val/dog").glob("*.jpg"))[:70]
    for p in photos:
        shutil.copy(p, tmp_path / p.name)
    proc = predict(trained, tmp_path)
    assert len(proc.stdout.splitlines()) == 71 and "decode: 100%" in proc.stderr


def test_bad_model_files_are_refused_with_a_clear_reason(trained, tmp_path):
    model = trained / "models/model.pt"
    torn = tmp_path / "torn.pt"
    torn.write_bytes(model.read_bytes()[:5000])
    old = tmp_path / "old.pt"
    torch.save(torch.load(model, weights_only=True)["state_dict"], old)  # the previous layout: bare weights
    future = tmp_path / "future.pt"
    torch.save(dict(torch.load(model, weights_only=True), version=MODEL_VERSION + 1), future)
    for path, why in (
        (torn, "unreadable"),
        (old, "not a skipnet model file"),
        (future, f"format version {MODEL_VERSION + 1}"),
        (tmp_path / "absent.pt", "not found"),
    ):
        with pytest.raises(SkipnetError, match=why):
            load_model_file(path)
    proc = predict(trained, a_photo(), "--model", torn, check_rc=2)  # the CLI: one line, nothing predicted
    [line] = proc.stderr.strip().splitlines()
    assert proc.stdout == "" and line.startswith(f"error: model file {torn} is unreadable (")
    assert line.endswith("): torn or not a model; retrain it (dvc repro)")


def test_a_model_with_other_classes_than_expected_is_refused(trained):
    proc = predict(trained, a_photo(), "--expect-classes", "boat,cake,couch,dog,motorcycle", check_rc=2)
    assert proc.stderr.strip() == (
        "error: models/model.pt predicts boat,dog, not boat,cake,couch,dog,motorcycle: pick its model with --model"
    )
    predict(trained, a_photo(), "--expect-classes", "boat,dog")


def test_the_model_file_rebuilds_without_params(trained):
    model, config = load_model_file(trained / "models/model.pt")
    assert config["classes"] == ["boat", "dog"] and config["arch"] == "mynet" and config["depth"] == 1
    assert config["precision"] in ("bf16", "fp32")
    assert config["image_size"] == 32 and config["normalization"] == {"mean": 0.5, "std": 0.5}
    assert not model.training
