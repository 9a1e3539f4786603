"""Nothing hangs, nothing exhausts memory, nothing blocks a rerun (issue 34): each mechanism with crafted input.
Special files are real FIFOs; a full disk is a real 1 MiB tmpfs (mounting it needs root: skipped elsewhere)."""

import json
import os
import runpy
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from conftest import MAIN_PARAMS, REPO, env, sh
from skipnet.analysis.predict import probabilities
from skipnet.config.params import ParamError, load, validate
from skipnet.data import fetch, prepare
from skipnet.errors import SkipnetError
from skipnet.files import atomic_write_bytes, not_regular
from skipnet.training import checkpoints, engine
from skipnet.training.models import build_model, load_model_file, model_file
from test_engine import params

CLASSES = ["boat", "dog"]
FIVE = ["boat", "cake", "couch", "dog", "motorcycle"]
MAX_RSS_MB = 4000  # predict with a depth-1 model peaks at 1.2-1.6 GB here; building depth 100000 took minutes and GBs


def a_model_file(path, **config):
    model = build_model({"arch": "mynet", "depth": 1, "skip_connections": True, "image_size": 32}, 5)
    saved = model_file(model, {**MAIN_PARAMS, "depth": 1}, FIVE, "fp32")
    saved["config"].update(config)
    torch.save(saved, path)
    return saved


def predict(cwd, *args, timeout=120):
    """tools/predict.py in a process that reports its peak memory (MB) as its last stderr line."""
    code = (
        "import atexit, resource, runpy, sys; atexit.register(lambda: print('max_rss_mb', resource.getrusage("
        "resource.RUSAGE_SELF).ru_maxrss // 1024, file=sys.stderr)); sys.argv = sys.argv[1:]; "
        "runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(REPO / "tools/predict.py"), *map(str, args)],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    *lines, rss = proc.stderr.strip().splitlines()
    return proc.returncode, proc.stdout, lines, int(rss.split()[1])


# 1. only regular files are opened


def test_a_fifo_in_a_folder_dataset_is_skipped_by_name_never_opened(tmp_path):
    root = tmp_path / "photos"
    for split in ("train", "val"):
        for name in CLASSES:
            (root / split / name).mkdir(parents=True)
            Image.new("RGB", (40, 30), "green").save(root / split / name / "1.jpg")
    os.mkfifo(root / "train/boat/99.jpg")  # opening it would block until someone writes
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "params.yaml").write_text(
        yaml.safe_dump(
            {
                **MAIN_PARAMS,
                "dataset": "folder",
                "classes": CLASSES,
                "datasets": {
                    **MAIN_PARAMS["datasets"],
                    "folder": {"root": str(root), "train_per_class": None, "val_per_class": None},
                },
            }
        )
    )
    proc = sh([sys.executable, str(REPO / "stages/download.py")], cwd=repo, timeout=60)
    assert proc.stderr.strip().splitlines() == [f"skipped: {root / 'train/boat/99.jpg'}: a named pipe (FIFO)"]
    index = json.loads((repo / "data/source/annotations/instances_train.json").read_text())
    assert [i["file_name"] for i in index["images"]] == ["train/boat/1.jpg", "train/dog/1.jpg"]
    (root / "train/dog/1.jpg").unlink()
    os.mkfifo(root / "train/dog/1.jpg")
    proc = sh([sys.executable, str(REPO / "stages/download.py")], cwd=repo, check=False, timeout=60)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines()[-1] == (
        f"error: {root / 'train/dog'} holds no readable images (regular .jpg, .jpeg or .png files)"
    )


def test_fetch_names_a_fifo_in_its_image_list_without_opening_it(tmp_path):
    os.mkfifo(tmp_path / "pipe.jpg")
    assert not_regular(tmp_path / "pipe.jpg") == "a named pipe (FIFO)"
    with pytest.raises(fetch.FetchError, match="a named pipe"):
        fetch.read_source(None, str(tmp_path / "pipe.jpg"))


# 2. sizes checked before memory is asked for


def test_a_small_model_file_asking_for_a_huge_model_is_refused_before_anything_is_built(tmp_path):
    saved = a_model_file(tmp_path / "model.pt", depth=100000)
    torch.save({**saved, "state_dict": {"conv.weight": torch.zeros(1)}}, tmp_path / "model.pt")
    assert (tmp_path / "model.pt").stat().st_size < 2000
    Image.new("RGB", (40, 30), "green").save(tmp_path / "photo.jpg")
    code, _, lines, rss = predict(tmp_path, "--model", tmp_path / "model.pt", tmp_path / "photo.jpg", timeout=60)
    assert code == 2 and len(lines) == 1, lines
    assert "holds a config its weights do not match (the config builds" in lines[0]
    assert rss < MAX_RSS_MB, rss


def test_params_the_machine_cannot_hold_are_one_line_naming_both_numbers(tiny_sample):
    for too_big in ({"depth": 100000}, {"image_size": 4096}):
        with pytest.raises(SkipnetError) as err:
            engine.setup(params(**too_big), *tiny_sample, log=lambda *_: None)
        line = str(err.value)
        assert line.startswith("this run needs about ") and "GB available: lower depth, image_size" in line, line
    with pytest.raises(SkipnetError, match=r"need [\d.]+ GB and this machine has [\d.]+ GB available"):
        prepare.pack([tiny_sample[0]], 10**6)


# 3. a resume checkpoint that cannot be used is set aside


def test_an_unusable_checkpoint_is_set_aside_and_training_starts_over(tiny_sample, tmp_path):
    trainer = engine.setup(params(epochs=1, batch_size=32), *tiny_sample, log=lambda *_: None)
    good = {
        "version": checkpoints.CHECKPOINT_VERSION,
        "model": trainer.model.state_dict(),
        "optimizer": {},
        "scaler": {},
        "rng_cpu": torch.get_rng_state(),
        "epoch": 1,
        "step": 3,
        "history": {},
        "fingerprint": trainer.fingerprint,
    }
    ckpt = checkpoints.checkpoint_file(tmp_path, trainer.fingerprint)
    for why, bad in (
        (
            f"of format version None, not {checkpoints.CHECKPOINT_VERSION}",
            {k: v for k, v in good.items() if k != "version"},
        ),
        ("missing model", {k: v for k, v in good.items() if k != "model"}),
        ("of another model layout", {**good, "model": {k: v.flatten()[:1] for k, v in good["model"].items()}}),
    ):
        torch.save(bad, ckpt)
        logged = []
        history, epoch, step = checkpoints.resume(trainer, ckpt, logged.append)
        assert (history.epochs, epoch, step) == ([], 0, 0)  # from scratch
        assert logged == [
            f"checkpoint {ckpt} is {why}: set aside as {ckpt.with_name(ckpt.stem + '.stale.pt')}, training from scratch"
        ]
        assert not ckpt.exists() and ckpt.with_name(ckpt.stem + ".stale.pt").exists()


# 4. out of space


@pytest.fixture
def tiny_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("mounting a 1 MiB tmpfs needs root")
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


def test_a_full_disk_is_one_line_naming_the_path_and_the_space_left_and_nothing_is_torn(tiny_disk):
    for write in (
        lambda p: atomic_write_bytes(p, b"\0" * (2 << 20)),
        lambda p: checkpoints.save_atomic({"w": torch.zeros(1 << 19)}, p),
    ):  # torch's own writer
        with pytest.raises(SkipnetError) as err:
            write(tiny_disk / "model.pt")
        assert str(err.value).startswith(f"no space left to write {tiny_disk / 'model.pt'} (")
        assert "MiB free on its disk" in str(err.value)
        assert list(tiny_disk.iterdir()) == []  # no temp file, no torn file
    atomic_write_bytes(tiny_disk / "model.pt", b"fits")  # a rerun once there is space
    assert (tiny_disk / "model.pt").read_bytes() == b"fits"


# 5. params checked for type everywhere, values quoted briefly, tune_holdout against the images


def test_params_that_are_not_text_or_hide_wrong_types_are_one_line(tmp_path):
    (tmp_path / "params.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    with pytest.raises(SkipnetError, match="is not a YAML text file"):
        load(tmp_path / "params.yaml")
    with pytest.raises(ParamError, match=r"classes = \['dog'\] is not allowed: a COCO category name"):
        validate({**MAIN_PARAMS, "classes": ["boat", ["dog"]]})
    with pytest.raises(ParamError) as err:
        validate({**MAIN_PARAMS, "lr": "x" * 10**6})
    assert len(str(err.value)) < 300 and "(1000002 characters)" in str(err.value)


def test_a_tune_holdout_that_holds_out_nothing_stops_before_training(tiny_sample):
    with pytest.raises(SkipnetError, match=r"tune_holdout = 0.001 of 96 train images holds out 0"):
        engine.setup(params(tune_holdout=0.001), *tiny_sample, log=lambda *_: None)


# 6. what a person or a program reads cannot be forged or broken


def test_predict_names_special_files_without_opening_them_and_escapes_names(tmp_path):
    """A folder holding a FIFO and a photograph whose name holds a newline: the FIFO is one line on stderr, never
    opened (it would block); the photograph is one row, its newline escaped, not a forged second row."""
    a_model_file(tmp_path / "model.pt")
    (tmp_path / "photos").mkdir()
    os.mkfifo(tmp_path / "photos/99.jpg")
    Image.new("RGB", (40, 30), "green").save(tmp_path / "photos/x.jpg")
    os.rename(tmp_path / "photos/x.jpg", tmp_path / "photos/a\nboat  99.9%.jpg")
    code, out, lines, _ = predict(tmp_path, "--model", tmp_path / "model.pt", tmp_path / "photos")
    assert code == 1 and lines == [
        f"error: {tmp_path / 'photos/99.jpg'}: a named pipe (FIFO), skipped",
        "1 predicted, 1 failed",
    ], lines
    assert len(out.strip().splitlines()) == 2 and "a\\nboat  99.9%.jpg" in out, out  # the header and one row


def test_a_model_with_non_finite_weights_is_refused_in_the_table_and_in_json(tmp_path, capsys):
    saved = a_model_file(tmp_path / "model.pt")
    saved["state_dict"]["fc2.bias"][0] = float("nan")
    torch.save(saved, tmp_path / "model.pt")
    Image.new("RGB", (40, 30), "green").save(tmp_path / "photo.jpg")
    model, config = load_model_file(tmp_path / "model.pt")
    with pytest.raises(SkipnetError, match="non-finite outputs for 1 of 1 images"):  # both outputs come through here
        probabilities(model, config, np.zeros((1, 32, 32, 3), np.uint8))
    argv, sys.argv = (
        sys.argv,
        ["predict.py", "--model", str(tmp_path / "model.pt"), str(tmp_path / "photo.jpg"), "--json"],
    )
    try:  # in this process: nothing here can block
        with pytest.raises(SystemExit) as exit_status:
            runpy.run_path(str(REPO / "tools/predict.py"), run_name="__main__")
    finally:
        sys.argv = argv
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert exit_status.value.code == 2 and out == "" and len(lines) == 1 and "non-finite outputs" in lines[0], lines
