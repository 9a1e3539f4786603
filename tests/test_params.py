import copy
import subprocess

import pytest
import yaml

from conftest import MAIN_PARAMS, REPO, committed, set_params, sh
from skipnet.analysis import study
from skipnet.config.params import ParamError, lookup, validate

BAD = [
    ("lr", -0.001),
    ("lr", 0),
    ("depth", 0),
    ("image_size", 30),
    ("image_size", 0),
    ("classes", ["boat", "unicorn"]),
    ("classes", ["boat", "dog", "boat"]),
    ("epochs", 2.5),
    ("dataset", "imagenet"),
    ("coco.base_url", "not a url"),
    ("datasets.sample.train_per_class", 0),
    ("optimizer", "sgd"),
    ("weight_decay", -0.1),
    ("label_smoothing", 1.0),
    ("lr_schedule", "step"),
    ("warmup_epochs", -1),
    ("warmup_epochs", 20),  # as many as epochs: no epoch left at full lr
    ("crop_padding", -2),
    ("flip", "yes"),
]


def test_shipped_params_are_valid():
    params = validate(copy.deepcopy(MAIN_PARAMS))
    assert params["dataset"] == "coco" and params["lr"] == 0.001 and params["seed"] == 60146


def test_main_params_are_the_study():
    """The study's recipe and setting: Adam at a constant 1e-3, no augmentation, 20 epochs of 128, MyNet-16."""
    params = validate(copy.deepcopy(MAIN_PARAMS))
    assert {k: params[k] for k in study.IMPROVED} == {
        "optimizer": "adam",
        "weight_decay": 0.0,
        "lr_schedule": "constant",
        "warmup_epochs": 0,
        "crop_padding": 0,
        "flip": False,
    }
    assert params["label_smoothing"] == 0.0
    assert (params["lr"], params["epochs"], params["batch_size"], params["seed"]) == (0.001, 20, 128, 60146)
    assert (params["arch"], params["depth"], params["skip_connections"], params["image_size"]) == (
        "mynet",
        16,
        True,
        32,
    )
    assert params["classes"] == ["boat", "cake", "couch", "dog", "motorcycle"] and params["tune_holdout"] == 0


def test_bad_knob_message_is_one_line_naming_key_and_value():
    params = copy.deepcopy(MAIN_PARAMS)
    params["lr_schedule"] = "step"
    with pytest.raises(ParamError) as err:
        validate(params)
    assert str(err.value) == "params.yaml: lr_schedule = 'step' is not allowed: one of constant, cosine"


@pytest.mark.parametrize("key,value", BAD)
def test_bad_value_names_the_key(key, value):
    params = copy.deepcopy(MAIN_PARAMS)
    node = params
    *parents, leaf = key.split(".")
    for p in parents:
        node = node[p]
    node[leaf] = value
    with pytest.raises(ParamError) as err:
        validate(params)
    assert err.value.key == key
    assert key in str(err.value) and "\n" not in str(err.value)


def test_unknown_and_missing_keys():
    params = copy.deepcopy(MAIN_PARAMS)
    unknown = dict(params, learning_rate=0.1)
    with pytest.raises(ParamError, match="learning_rate"):
        validate(unknown)
    nested = copy.deepcopy(params)
    nested["coco"]["mirror"] = "x"
    with pytest.raises(ParamError, match=r"coco\.mirror"):
        validate(nested)
    missing = {k: v for k, v in params.items() if k != "depth"}
    with pytest.raises(ParamError, match="depth"):
        validate(missing)


@pytest.mark.parametrize(
    "key,value",
    [
        ("lr", -1),
        ("depth", 0),
        ("image_size", 20),
        ("classes", ["boat", "unicorn"]),
        ("classes", ["dog", "dog"]),
        ("learning_rate", 0.1),
    ],
)
def test_stage_stops_with_one_line_before_touching_outputs(repo, key, value):
    set_params(repo, **{key: value})
    proc = sh(["python", "stages/download.py"], cwd=repo, check=False)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: params.yaml: ") and key in lines[0], proc.stderr
    assert sorted(p.name for p in (repo / "data").iterdir()) == [".gitkeep"]


def test_help_describes_the_stage():
    out = sh(["python", "stages/fetch.py", "--help"], cwd=REPO).stdout
    assert "fetch_workers" in out and "--params" in out


def test_committed_pipeline_outputs_come_from_params_yaml():
    """main must not show one run's numbers under other params: a committed dvc.lock records exactly
    params.yaml, and without a committed dvc.lock no pipeline metrics or plots are committed."""
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    params = copy.deepcopy(MAIN_PARAMS)
    if "dvc.lock" not in tracked:
        outputs = [
            f
            for f in tracked
            if f.startswith(("metrics/", "dvclive/")) or (f.startswith("plots/") and f != "plots/.gitignore")
        ]
        assert outputs == [], f"pipeline outputs committed without the dvc.lock that made them: {outputs}"
        return
    lock = yaml.safe_load(committed("dvc.lock"))
    for name, stage in lock["stages"].items():
        for key, value in stage.get("params", {}).get("params.yaml", {}).items():
            assert value == lookup(params, key), f"dvc.lock stage {name}: {key} = {value!r}, params.yaml differs"
