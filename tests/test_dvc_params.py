"""dvc.yaml's params of each stage are the keys that stage's code reads: each stage's main runs here, in order, on a
tiny generated sample, with params that record every key read (dotted: datasets.sample.train_per_class). A key may
also come through the stage's data from an upstream stage's params; HOW_NOT_WHAT are left out on purpose."""

import argparse
import runpy

import yaml

from conftest import MAIN_PARAMS, REPO
from skipnet.config.params import HOW_NOT_WHAT, with_overrides

TINY = {
    "dataset": "sample",
    "depth": 1,
    "epochs": 1,
    "batch_size": 16,
    "datasets.sample.train_per_class": 8,
    "datasets.sample.val_per_class": 4,
}


class Recording(dict):
    """A params tree that notes each key read, as a dotted path, in `read`."""

    def __init__(self, tree, read, prefix=""):
        super().__init__(tree)
        self.read, self.prefix = read, prefix

    def __getitem__(self, key):
        value = super().__getitem__(key)
        if isinstance(value, dict):
            return Recording(value, self.read, f"{self.prefix}{key}.")
        self.read.add(f"{self.prefix}{key}")
        return value

    def get(self, key, default=None):
        return self[key] if key in self else default


def covered(key, declared):
    """Whether dvc.yaml's `declared` params cover a dotted key read (a declared `coco` covers `coco.base_url`)."""
    return any(key == d or key.startswith(d + ".") for d in declared)


def upstream(stages, name):
    """The stages whose outputs `name` depends on, transitively: their params reach it through its data."""
    outs = {n: {o if isinstance(o, str) else next(iter(o)) for o in s.get("outs", [])} for n, s in stages.items()}
    found, todo = set(), [name]
    while todo:
        deps = set(stages[todo.pop()].get("deps", []))
        for other, made in outs.items():
            if made & deps and other not in found:
                found.add(other)
                todo.append(other)
    return found


def test_each_stage_reads_the_params_dvc_yaml_lists_and_no_other(tmp_path, monkeypatch):
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    params = with_overrides(MAIN_PARAMS, TINY)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    problems = []
    for name, stage in stages.items():
        script = next(w for w in stage["cmd"].split() if w.startswith("stages/"))
        read = set()
        runpy.run_path(str(REPO / script))["main"](Recording(params, read), argparse.Namespace(params="params.yaml"))
        own = stage.get("params", [])
        from_data = [p for other in upstream(stages, name) for p in stages[other].get("params", [])]
        allowed = own + from_data + list(HOW_NOT_WHAT)
        problems += [f"{name} reads {k}, not in dvc.yaml" for k in sorted(read) if not covered(k, allowed)]
        read |= {f"coco.{k}" for k in params["coco"]}  # read only with dataset: coco, which a test cannot download
        if name == "train":  # train_launcher is read by DVC itself: the stage's cmd is built from it
            read.add("train_launcher")
        problems += [f"{name} lists {p} in dvc.yaml, never read" for p in own if not any(covered(k, [p]) for k in read)]
    assert problems == [], problems
