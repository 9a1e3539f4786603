"""The faults a careless or hostile user brings (issue 26): each probe gets one clear line and the documented
exit code, nothing is written outside its folder, no diverged run passes for a result."""

import dataclasses
import json
import math
import os
import re
import signal
import subprocess
import time
import zipfile

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from conftest import MAIN_PARAMS, REPO, env, free_port, sh
from mirror import Mirror, build_site
from skipnet.analysis import evaluate, records
from skipnet.config.params import ParamError, validate
from skipnet.data import download, fetch, prepare, select
from skipnet.data.download import md5sum
from skipnet.errors import SkipnetError
from skipnet.files import atomic_write_json, atomic_write_text
from skipnet.training import engine
from skipnet.training.history import TrainLog
from test_engine import _stage_repo, params

CLASSES = ["boat", "dog"]


def one_line(err):
    assert "\n" not in str(err), str(err)
    return str(err)


# 1. paths from data stay under their folder


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory):
    """A COCO look-alike whose annotations name one image `../../trav_boat.jpg` and one `/tmp/abs_dog.jpg`."""
    root = tmp_path_factory.mktemp("hostile")
    build_site(root, CLASSES, 8, seed=3)
    zip_path = root / "annotations/annotations_trainval2017.zip"
    with zipfile.ZipFile(zip_path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    train = json.loads(members["annotations/instances_train2017.json"])
    train["images"][0]["file_name"] = "../../trav_boat.jpg"
    train["images"][1]["file_name"] = "/tmp/abs_dog.jpg"
    members["annotations/instances_train2017.json"] = json.dumps(train).encode()
    with zipfile.ZipFile(zip_path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return root, zip_path.stat().st_size, md5sum(zip_path), train["images"][0]["id"]


def test_traversal_in_annotations_served_by_a_mirror_is_refused(hostile_site, tmp_path):
    root, size, md5, bad_id = hostile_site
    with Mirror(root) as m:
        zip_path = download.fetch_annotations_zip(m.base_url, md5, size, tmp_path / "cache", 5)
    download.extract_instances(zip_path, tmp_path / "source")
    with pytest.raises(SkipnetError) as err:
        select.select(
            tmp_path / "source/annotations/instances_train2017.json",
            None,
            CLASSES,
            2,
            2,
            1,
            lambda f: f,
            "datasets.coco",
        )
    assert f"annotations image {bad_id}: file name '../../trav_boat.jpg' leads outside" in one_line(err.value)


@pytest.mark.parametrize("name", ["../../trav_boat.jpg", "/tmp/abs_boat.jpg", "sub/../../x.jpg"])
def test_fetch_refuses_a_manifest_name_outside_its_folder_and_writes_nothing(name, tmp_path):
    site = tmp_path / "site"
    build_site(site, ["boat"], 2, seed=1)
    good = sorted((site / "train2017").iterdir())[0].name
    with Mirror(site) as m:
        rows = [
            {"image_id": "1", "file_name": good, "url": f"{m.base_url}/train2017/{good}"},
            {"image_id": "2", "file_name": name, "url": f"{m.base_url}/train2017/{good}"},
        ]
        with pytest.raises(SkipnetError) as err:
            fetch.fetch(rows, tmp_path / "work/data/images", workers=2, timeout_s=5)
        assert m.requests == []  # refused before any download
    assert "manifest image 2" in one_line(err.value) and repr(name) in str(err.value)
    assert not (tmp_path / "trav_boat.jpg").exists() and not (tmp_path / "work/trav_boat.jpg").exists()
    assert list((tmp_path / "work/data/images").iterdir()) == []


def test_fetch_refuses_to_write_through_a_symlink_out_of_its_folder(tmp_path):
    site = tmp_path / "site"
    build_site(site, ["boat"], 2, seed=1)
    good = sorted((site / "train2017").iterdir())[0].name
    images, outside = tmp_path / "images", tmp_path / "precious.jpg"
    images.mkdir()
    outside.write_bytes(b"keep me")
    (images / "evil.jpg").symlink_to(outside)
    with Mirror(site) as m:
        rows = [{"image_id": "7", "file_name": "evil.jpg", "url": f"{m.base_url}/train2017/{good}"}]
        with pytest.raises(SkipnetError) as err:
            fetch.fetch(rows, images, workers=1, timeout_s=5)
    assert "manifest image 7" in one_line(err.value) and "symlink out of" in str(err.value)
    assert outside.read_bytes() == b"keep me"


def test_folder_dataset_refuses_a_symlink_out_of_its_root(tmp_path):
    root = tmp_path / "photos"
    for split in ("train", "val"):
        (root / split / "boat").mkdir(parents=True)
        Image.new("RGB", (8, 8), "red").save(root / split / "boat/a.jpg")
    Image.new("RGB", (8, 8), "blue").save(tmp_path / "elsewhere.jpg")
    (root / "train/boat/b.jpg").symlink_to(tmp_path / "elsewhere.jpg")
    with pytest.raises(SkipnetError) as err:
        download.index_folder(root, ["boat"], tmp_path / "source")
    assert "train/boat/b.jpg" in one_line(err.value) and "symlink out of" in str(err.value)


# 2. no diverged run passes for a result; strict JSON


def test_a_diverging_run_stops_at_the_first_non_finite_loss_and_writes_no_model(tiny_sample, tmp_path):
    train, val = tiny_sample
    p = params(lr=1e6, epochs=3, batch_size=32, display_interval=1)
    with pytest.raises(SkipnetError) as err:
        engine.train(p, train, val, tmp_path / "model.pt", tmp_path / "resume", log=lambda *_: None)
    line = one_line(err.value)
    assert re.match(r"training diverged: loss (nan|inf|-inf) by epoch 1, step \d+ \(lr 1e\+06\)", line), line
    assert "Lower lr" in line and "precision: fp32" in line
    assert not (tmp_path / "model.pt").exists()


def test_the_train_stage_exits_non_zero_on_divergence(tiny_sample, tmp_path):
    repo = _stage_repo(tmp_path / "r", tiny_sample, epochs=2, lr=1e6, display_interval=1)
    proc = sh(["python", "stages/train.py"], cwd=repo, check=False)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines()[-1].startswith("error: training diverged")
    assert not (repo / "models/model.pt").exists() and not (repo / "models/train_log.json").exists()


def test_record_and_json_writers_refuse_non_finite_numbers(tmp_path):
    epochs = [
        {
            "epoch": 1,
            "train_loss": float("nan"),
            "train_acc": 0.2,
            "val_loss": 1.0,
            "val_acc": 0.2,
            "lr": 1e6,
            "seconds": 1.0,
            "images_per_s": 1.0,
        }
    ]
    run = dataclasses.replace(record_parts("diverged"), epochs=epochs, headline=records.headline(epochs))
    with pytest.raises(SkipnetError) as err:
        records.write(tmp_path, run)
    assert one_line(err.value).startswith("diverged: train_loss is nan at epoch 1: the run diverged")
    assert not (tmp_path / "diverged").exists()
    with pytest.raises(ValueError):
        atomic_write_json(tmp_path / "m.json", {"val_loss": math.inf})
    assert not (tmp_path / "m.json").exists()


# 3. a record is replaced only when told


def record_parts(name="mynet16-lr1e-3", acc=0.5):
    """A whole record (every part the report reads) of a made-up one-epoch run on MAIN_PARAMS' classes."""
    epochs = [
        {
            "epoch": 1,
            "train_loss": 1.0,
            "train_acc": 0.4,
            "val_loss": 1.2,
            "val_acc": acc,
            "lr": 0.001,
            "seconds": 1.0,
            "images_per_s": 10.0,
        }
    ]
    classes = MAIN_PARAMS["classes"]
    matrix = np.eye(len(classes), dtype=np.int64) * 8 + 2
    scores = {
        "accuracy": acc,
        "val_loss": 1.2,
        "confusion_matrix": matrix.tolist(),
        "per_class": evaluate.per_class_scores(matrix, classes),
    }
    details = {
        "model": {"parameters": 1, "parameter_tensors": 1, "macs_per_image": 1},
        "speed": {
            "images_per_s": 10.0,
            "seconds_per_epoch": 1.0,
            "train_seconds": 1.0,
            "device": "cpu: test",
            "world_size": 1,
            "precision": "fp32",
            "precision_reason": "test",
        },
    }
    return records.Run(
        name=name,
        source="test",
        command="test",
        code={"path": "test", "commit": "0123456789abcdef0123456789abcdef01234567"},
        machine="cpu: test",
        date="2026-01-01T00:00:00+00:00",
        train_seconds=1.0,
        params=dict(MAIN_PARAMS),
        headline=records.headline(epochs),
        classes=scores,
        details=details,
        epochs=epochs,
    )


def test_an_existing_record_is_kept_unless_forced(tmp_path):
    records.write(tmp_path, record_parts())
    other = record_parts(acc=0.9)
    with pytest.raises(SkipnetError) as err:
        records.write(tmp_path, other)
    assert f"record {tmp_path / 'mynet16-lr1e-3'} exists and is kept" in one_line(err.value) and "--force" in str(
        err.value
    )
    assert records.load(tmp_path / "mynet16-lr1e-3").headline["val_acc"] == 0.5
    records.write(tmp_path, other, force=True)
    assert records.load(tmp_path / "mynet16-lr1e-3").headline["val_acc"] == 0.9


# 5. the report skips a bad record, naming its file


def test_report_skips_each_bad_record_with_one_line_naming_it(tmp_path):
    runs = tmp_path / "my-runs"
    for name in ("good", "torn", "no-epochs", "string-acc"):
        records.write(runs, record_parts(name))
    text = (runs / "torn/run.json").read_text()
    (runs / "torn/run.json").write_text(text[: len(text) // 2])
    (runs / "no-epochs/epochs.csv").unlink()
    bad = json.loads((runs / "string-acc/run.json").read_text())
    bad["headline"]["val_acc"] = "0.5"
    (runs / "string-acc/run.json").write_text(json.dumps(bad))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(MAIN_PARAMS))  # every stage script validates one
    proc = sh(
        ["python", str(REPO / "tools/report.py"), "--runs", str(runs), "--out", str(tmp_path / "out")],
        cwd=tmp_path,
        check=False,
    )
    skipped = [line for line in proc.stderr.splitlines() if line.startswith("skipped a bad record: ")]
    assert len(skipped) == 3, proc.stderr
    assert any(f"{runs / 'torn/run.json'}: not valid JSON" in line for line in skipped)
    assert any(f"{runs / 'no-epochs/epochs.csv'}: missing" in line for line in skipped)
    assert any(f"{runs / 'string-acc/run.json'}: headline val_acc not a finite number" in line for line in skipped)
    assert proc.returncode == 0 and "(1 runs)" in proc.stdout, proc.stdout + proc.stderr
    assert f"run records in `{runs.as_posix()}/`" in (tmp_path / "out/study.md").read_text()


def test_report_errors_name_the_runs_folder_given(tmp_path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(MAIN_PARAMS))
    for runs in (tmp_path / "nowhere", tmp_path / "empty"):
        if runs.name == "empty":
            runs.mkdir()
        proc = sh(
            ["python", str(REPO / "tools/report.py"), "--runs", str(runs), "--out", str(tmp_path / "out")],
            cwd=tmp_path,
            check=False,
        )
        assert proc.returncode == 1 and str(runs) in proc.stderr and "reports/runs" not in proc.stderr.split(":")[0]
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


# 6. inputs checked before outputs go; wrong model files and downloads get one line


def test_batch_size_one_is_refused_by_validation():
    with pytest.raises(ParamError) as err:
        validate({**MAIN_PARAMS, "batch_size": 1})
    assert err.value.key == "batch_size" and ">= 2" in one_line(err.value)


def test_a_batch_the_ranks_cannot_share_stops_every_rank_with_one_line(tiny_sample, tmp_path):
    repo = _stage_repo(tmp_path / "r", tiny_sample, epochs=1, batch_size=33)
    proc = sh(
        ["torchrun", "--nproc_per_node=2", f"--master_port={free_port()}", "stages/train.py"], cwd=repo, check=False
    )
    assert proc.returncode != 0
    assert (
        "error: batch_size 33 does not split into batches of 2 or more over 2 ranks: give a multiple of 2"
        in proc.stderr
    )
    assert not (repo / "models/model.pt").exists()


def test_a_train_log_of_an_older_train_stage_asks_for_the_train_stage_again():
    log = {k: v for k, v in TrainLog().to_json().items() if k != "model"}  # before the model's size was kept
    with pytest.raises(
        SkipnetError,
        match="^the train log is not this version's .missing model; unknown nothing.: an "
        "older train stage wrote it; rerun the train stage$",
    ):
        TrainLog.from_json(log)


def test_train_on_a_torn_prepared_file_says_so_and_keeps_the_previous_log(tiny_sample, tmp_path):
    repo = _stage_repo(tmp_path / "r", tiny_sample, epochs=1)
    (repo / "dvclive").mkdir()
    (repo / "dvclive/metrics.json").write_text('{"step": 4}\n')
    data = (repo / "data/prepared/train.npz").read_bytes()
    (repo / "data/prepared/train.npz").write_bytes(data[: len(data) // 2])
    proc = sh(["python", "stages/train.py"], cwd=repo, check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and lines[-1].startswith("error: data/prepared/train.npz is unreadable"), proc.stderr
    assert "dvc repro prepare" in lines[-1] and "Traceback" not in proc.stderr
    assert (repo / "dvclive/metrics.json").read_text() == '{"step": 4}\n'


@pytest.mark.parametrize("damage", ["no config", "other classes", "other image size"])
def test_a_model_file_with_a_wrong_config_is_one_line(damage, tmp_path):
    """In this process; predict's exit 2 for such a line: tests/test_limits.py (a config asking for a huge model)."""
    from skipnet.training.models import build_model, load_model_file, model_file

    model = build_model({"arch": "mynet", "depth": 1, "skip_connections": True, "image_size": 32}, 5)
    saved = model_file(model, {**MAIN_PARAMS, "depth": 1}, ["boat", "cake", "couch", "dog", "motorcycle"], "fp32")
    if damage == "no config":
        del saved["config"]
    elif damage == "other classes":
        saved["config"]["classes"] = ["boat", "dog"]
    else:
        saved["config"]["image_size"] = 64
    torch.save(saved, tmp_path / "model.pt")
    with pytest.raises(SkipnetError) as err:
        load_model_file(tmp_path / "model.pt")
    line = one_line(err.value)
    assert line.startswith(f"model file {tmp_path / 'model.pt'} holds a config its weights do not match"), line


def test_a_non_zip_download_whose_md5_matches_is_one_line(tmp_path):
    site = tmp_path / "site"
    (site / "annotations").mkdir(parents=True)
    (site / "annotations/annotations_trainval2017.zip").write_bytes(b"<html>not a zip</html>")
    zip_file = site / "annotations/annotations_trainval2017.zip"
    with Mirror(site) as m:
        got = download.fetch_annotations_zip(m.base_url, md5sum(zip_file), zip_file.stat().st_size, tmp_path / "c", 5)
    with pytest.raises(SkipnetError) as err:
        download.extract_instances(got, tmp_path / "source")
    assert "is not a zip archive" in one_line(err.value) and "coco.annotations_" in str(err.value)


# 4. two experiments at once in one workspace: never a mislabeled result


def test_two_concurrent_experiments_in_one_workspace_leave_nothing_mislabeled(trained_repo, tmp_path):
    repo = trained_repo
    before = set(sh(["dvc", "exp", "list", "--name-only"], cwd=repo).stdout.split())
    model_before = (repo / "models/model.pt").read_bytes()
    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen(
        ["dvc", "exp", "run", "-S", "lr=0.0041", "-S", "epochs=2"],
        cwd=repo,
        env=env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.time() + 120
    while "epoch 1/2" not in (tmp_path / "first.log").read_text() and time.time() < deadline and first.poll() is None:
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGSTOP)  # the first stays mid-training while the second starts, on any CPU
    second = sh(["dvc", "exp", "run", "-S", "lr=0.0051", "-S", "epochs=2"], cwd=repo, check=False)
    os.killpg(first.pid, signal.SIGCONT)
    first.wait(timeout=300)
    out = (tmp_path / "first.log").read_text()
    # stopped at once, by DVC's own lock on the running stage's files or, past it, by the train stage's lock
    assert second.returncode != 0 and (
        "another train stage is running in this workspace" in second.stderr or "rwlock" in second.stderr
    ), second.stderr
    assert first.returncode != 0 and "params.yaml changed while this run trained (lr: 0.0041 -> 0.0051" in out, out
    assert set(sh(["dvc", "exp", "list", "--name-only"], cwd=repo).stdout.split()) == before  # nothing recorded
    assert (repo / "models/model.pt").read_bytes() == model_before  # no new model under the other run's params
    assert "Data and pipelines are up to date" not in sh(["dvc", "status"], cwd=repo).stdout


# 7. files keep the user's umask


def test_written_files_and_record_folders_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        folder = records.write(tmp_path / "runs", record_parts("perm"))
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
    assert folder.stat().st_mode & 0o777 == 0o755 and (folder / "run.json").stat().st_mode & 0o777 == 0o644


# 8. the smaller ones


def test_predict_reports_broken_and_looping_symlinks_and_accepts_spaced_classes(tmp_path):
    from skipnet.training.models import build_model, model_file

    classes = ["boat", "cake", "couch", "dog", "motorcycle"]
    torch.save(
        model_file(
            build_model({"arch": "mynet", "depth": 1, "skip_connections": True, "image_size": 32}, 5),
            {**MAIN_PARAMS, "depth": 1},
            classes,
            "fp32",
        ),
        tmp_path / "model.pt",
    )
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (40, 30), "green").save(photos / "ok.jpg")
    (photos / "broken.jpg").symlink_to(tmp_path / "gone.jpg")
    (photos / "loop.jpg").symlink_to(photos / "loop.jpg")
    proc = sh(
        [
            "python",
            str(REPO / "tools/predict.py"),
            "--model",
            str(tmp_path / "model.pt"),
            "--expect-classes",
            "boat, cake, couch, dog, motorcycle",
            str(photos),
        ],
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 1 and "ok.jpg" in proc.stdout, proc.stderr
    assert f"error: {photos / 'broken.jpg'}: a broken or looping symlink" in proc.stderr
    assert f"error: {photos / 'loop.jpg'}: a broken or looping symlink" in proc.stderr


def test_large_images_work_up_to_the_stated_bound_without_a_warning(tmp_path, monkeypatch, recwarn):
    Image.new("RGB", (300, 200), "red").save(tmp_path / "big.jpg")  # 60,000 pixels
    default = Image.MAX_IMAGE_PIXELS
    monkeypatch.setattr(prepare, "MAX_PIXELS", 80_000)  # PIL would warn above half its limit, 40,000
    assert prepare.load_image(tmp_path / "big.jpg", 32).shape == (32, 32, 3)
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]
    monkeypatch.setattr(prepare, "MAX_PIXELS", 20_000)
    with pytest.raises(SkipnetError) as err:
        prepare.load_image(tmp_path / "big.jpg", 32)
    assert "exceeds limit of 40000 pixels" in one_line(err.value)  # PIL refuses at twice the bound
    assert Image.MAX_IMAGE_PIXELS == default  # PIL's process-wide guard is left as it was


def test_stale_resume_checkpoints_are_listed_when_a_run_finishes(tiny_sample, tmp_path):
    train, val = tiny_sample
    (tmp_path / "resume").mkdir()
    (tmp_path / "resume/0123456789abcdef.pt").write_bytes(b"\0" * (3 << 20))
    logged = []
    engine.train(params(epochs=1, batch_size=32), train, val, tmp_path / "m.pt", tmp_path / "resume", log=logged.append)
    [line] = [x for x in logged if "resume checkpoints of other unfinished runs" in x]
    assert "0123456789abcdef.pt" in line and "(3 MB)" in line
