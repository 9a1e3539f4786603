"""Run records: every finished run's params, metrics, per-epoch history and curves, committed under
reports/runs/<name>/, so that the report survives a new machine (DVC experiments live only in the
local repo). A record comes from a DVC experiment (`python stages/record.py EXP`) or from the
DVC-free grid runner (`stages/run_grid.py`, e.g. on a GPU machine); both write the same files:

    run.json     name, command, source, machine, date, train wall time, params, headline metrics,
                 per-class scores and confusion matrix, model summary and speed
    epochs.csv   per epoch: train/val loss and accuracy, lr, seconds, images/s
    loss.csv     running training loss per logging interval (the study's loss curve)
"""
import csv
import io
import json
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

from . import live
from .params import SkipnetError

RUNS_DIR = Path("reports/runs")
EPOCH_FIELDS = ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds", "images_per_s"]
LOSS_FIELDS = ["step", "epoch", "loss"]


def _csv_text(fields, rows):
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _csv_rows(text):
    return [{k: float(v) if k not in ("step", "epoch") else int(v) for k, v in row.items()}
            for row in csv.DictReader(io.StringIO(text))]


def headline(epochs):
    """The numbers Table 1 reports, from the last epoch (what DVCLive's summary holds)."""
    last = epochs[-1]
    return {"train_loss": last["train_loss"], "val_loss": last["val_loss"], "val_acc": last["val_accuracy"]}


def write(runs_dir, run, epochs, running_loss):
    """Write one record folder, whole or not at all (a temp folder renamed into place)."""
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    final = runs_dir / run["name"]
    tmp = Path(tempfile.mkdtemp(dir=runs_dir, prefix=f".{run['name']}."))
    try:
        (tmp / "run.json").write_text(json.dumps(run, indent=2) + "\n")
        (tmp / "epochs.csv").write_text(_csv_text(EPOCH_FIELDS, epochs))
        (tmp / "loss.csv").write_text(_csv_text(LOSS_FIELDS, running_loss))
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def load(folder):
    folder = Path(folder)
    run = json.loads((folder / "run.json").read_text())
    run["epochs"] = _csv_rows((folder / "epochs.csv").read_text())
    run["loss"] = _csv_rows((folder / "loss.csv").read_text())
    return run


def load_all(runs_dir=RUNS_DIR):
    """Every record under runs_dir, in name order."""
    runs_dir = Path(runs_dir)
    folders = sorted(p.parent for p in runs_dir.glob("*/run.json")) if runs_dir.is_dir() else []
    return [load(f) for f in folders]


def _git(args, repo):
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)


def resolve_experiment(name, repo="."):
    """(commit, parent commit) of a DVC experiment by name (its git ref under refs/exps), or of any git rev."""
    refs = _git(["for-each-ref", "--format=%(refname) %(objectname)", "refs/exps"], repo).stdout.split("\n")
    matches = [line.split()[1] for line in refs if line and line.split()[0].endswith(f"/{name}")]
    if len(matches) > 1:
        raise SkipnetError(f"{len(matches)} experiments are named {name!r}: give the commit instead (dvc exp show --sha)")
    rev = matches[0] if matches else _git(["rev-parse", "--verify", "--quiet", f"{name}^{{commit}}"], repo).stdout.strip()
    if not rev:
        raise SkipnetError(f"no DVC experiment or git revision named {name!r}: see `dvc exp list` or `dvc exp show`")
    return rev, _git(["rev-parse", f"{rev}^"], repo).stdout.strip()


def exp_command(params, baseline):
    """The `dvc exp run` line that turns the baseline's params into these: one -S per changed leaf."""
    def leaves(tree, prefix=""):
        for key, value in tree.items():
            if isinstance(value, dict):
                yield from leaves(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}", value

    old = dict(leaves(baseline))
    sets = [f"-S {shlex.quote(f'{k}={_cli_value(v)}')}" for k, v in leaves(params) if old.get(k, object()) != v]
    return " ".join(["dvc exp run", *sets])


def _cli_value(value):
    """A param value as `dvc exp run -S key=value` takes it (YAML flow style)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ",".join(map(_cli_value, value)) + "]"
    return str(value)


def from_experiment(name, repo=".", runs_dir=RUNS_DIR, record_name=None):
    """Write the record of a finished DVC experiment from its git-tracked files; return its folder."""
    rev, parent = resolve_experiment(name, repo)

    def read(path, at=rev):
        proc = _git(["show", f"{at}:{path}"], repo)
        return proc.stdout if proc.returncode == 0 else None

    params = yaml.safe_load(read("params.yaml") or "{}")
    classes_text, details_text = read("metrics/classes.json"), read("metrics/run.json")
    epochs = live.read_epochs(read)
    if not (classes_text and details_text and epochs):
        raise SkipnetError(f"{name} ({rev[:7]}) has no finished run's metrics (metrics/classes.json, metrics/run.json, "
                           f"dvclive/): was it run to the end with this version of the pipeline?")
    details = json.loads(details_text)
    run = {"name": record_name or name, "source": f"dvc experiment {name} ({rev[:7]})",
           "command": exp_command(params, yaml.safe_load(read("params.yaml", parent) or "{}")),
           "machine": details["speed"]["device"],
           "date": _git(["show", "-s", "--format=%cI", rev], repo).stdout.strip(),
           "train_seconds": details["speed"]["train_seconds"],
           "params": params, "headline": headline(epochs), "classes": json.loads(classes_text), "details": details}
    return write(runs_dir, run, epochs, _csv_rows(read("plots/loss.csv") or "step,epoch,loss\n"))
