"""Run records: every finished run's params, metrics, per-epoch history, curves and predictions, committed
under reports/runs/<name>/, so that the report survives a new machine (DVC experiments live only in the
local repo). A record comes from a DVC experiment (`python tools/record.py EXP`) or from the DVC-free
runner (`tools/run_grid.py`, e.g. on a GPU machine), which runs the same stage code in a work folder;
`build` makes both from the same files (the evaluate stage's outputs). In code a record is a `Run`:

    run.json         name, command, source, code (path and git commit), machine, date, training time without
                     pauses (train_seconds) and with them (wall_seconds, records from 2026-12-04 on),
                     params, headline metrics, per-class scores and confusion matrix, model summary, speed
    epochs.csv       per epoch: train/val loss and accuracy, lr, seconds, images/s
    loss.csv         running training loss per logging interval (the study's loss curve)
    predictions.csv  the predicted class of every val image (file name, label, predicted), for paired
                     tests; records made before it existed have none
    grad_norms.csv   log10 gradient norm per stage per logging interval (records from 2026-12-04 on)
"""

import csv
import io
import json
import math
import re
import shlex
import shutil
import tempfile
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

import yaml

from ..errors import SkipnetError
from ..files import with_umask
from ..training.history import EPOCH_FIELDS, csv_text, headline
from .evaluate import OUTPUTS

RUNS_DIR = Path("reports/runs")
LOSS_FIELDS = ["step", "epoch", "loss"]
PREDICTION_FIELDS = ["image", "label", "predicted"]
# The evaluate stage's outputs a record is built from (git-tracked in an experiment's commit)
SOURCES = {
    "params": "params.yaml",
    "classes": OUTPUTS.classes,
    "details": OUTPUTS.run,
    "epochs": OUTPUTS.epochs_csv,
    "loss": OUTPUTS.loss_csv,
    "predictions": OUTPUTS.predictions,
    "grad_norms": OUTPUTS.grad_csv,
}


@dataclass(kw_only=True)
class Run:
    """One run record: run.json's fields, then the CSV files beside it (None where a record has none)."""

    name: str
    source: str  # "dvc experiment NAME (sha)" or "tools/run_grid.py"
    command: str  # reproduces the run from a fresh clone at code["commit"]
    code: dict  # path, commit (and basis, where the commit was inferred)
    machine: str
    date: str
    train_seconds: float  # training time, pauses excluded
    wall_seconds: float | None = None  # with pauses (records from 2026-12-04 on)
    params: dict
    headline: dict  # history.HEADLINE: the last epoch's, the model's one evaluation
    classes: dict  # accuracy, per_class scores, confusion_matrix
    details: dict  # the evaluate stage's metrics/run.json: model summary, speed, precision
    command_as_run: str | None = None  # as typed, where it differs from command
    source_note: str | None = None
    second_pass: dict | None = None  # records made when evaluate scored the model a second time (check)
    epochs: list = field(default_factory=list)  # epochs.csv: history.Epoch rows
    loss: list = field(default_factory=list)  # loss.csv: LOSS_FIELDS rows
    predictions: list | None = None  # predictions.csv: PREDICTION_FIELDS rows
    grad_norms: list | None = None  # grad_norms.csv: step and one log10 norm per stage


CSV_PARTS = ("epochs", "loss", "predictions", "grad_norms")
JSON_FIELDS = [f.name for f in fields(Run) if f.name not in CSV_PARTS]
REQUIRED = [f.name for f in fields(Run) if f.default is MISSING and f.default_factory is MISSING]


def _json(run):
    """run.json's fields of a record: those that are set, in the dataclass's order."""
    return {k: v for k, v in asdict(run).items() if k in JSON_FIELDS and v is not None}


def _csv_rows(text):
    return [
        {k: float(v) if k not in ("step", "epoch") else int(v) for k, v in row.items()}
        for row in csv.DictReader(io.StringIO(text))
    ]


def _csv_strings(text):
    return list(csv.DictReader(io.StringIO(text)))


def check_finite(run):
    """A diverged run (a NaN or infinite loss or accuracy) is not a result: one line naming where. Returns
    run.json's text (strict JSON, as every parser reads it)."""
    for e in run.epochs:
        for key, value in e.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise SkipnetError(
                    f"{run.name}: {key} is {value} at epoch {e['epoch']}: the run diverged and is not "
                    f"recorded (rerun with a lower lr, or precision: fp32)"
                )
    try:
        return json.dumps(_json(run), indent=2, allow_nan=False) + "\n"
    except ValueError:
        raise SkipnetError(f"{run.name}: a non-finite number in its metrics: the run is not recorded") from None


def write(runs_dir, run, force=False):
    """Write one record folder, whole or not at all (a temp folder renamed into place); an existing record
    is replaced only with `force`."""
    runs_dir = Path(runs_dir)
    final = runs_dir / run.name
    if final.exists() and not force:
        raise SkipnetError(
            f"record {final} exists and is kept: rename the experiment (dvc exp rename) or replace the record (--force)"
        )
    text = check_finite(run)
    problem = check(run)
    if problem:
        raise SkipnetError(f"{run.name}: {problem}; not recorded")
    runs_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=runs_dir, prefix=f".{run.name}."))
    with_umask(tmp, 0o777)
    try:
        (tmp / "run.json").write_text(text)
        (tmp / "epochs.csv").write_text(csv_text(EPOCH_FIELDS, run.epochs))
        (tmp / "loss.csv").write_text(csv_text(LOSS_FIELDS, run.loss))
        if run.predictions:
            (tmp / "predictions.csv").write_text(csv_text(PREDICTION_FIELDS, run.predictions))
        if run.grad_norms is not None:  # kept even without a row (a run shorter than display_interval)
            (tmp / "grad_norms.csv").write_text(
                csv_text(list(run.grad_norms[0]) if run.grad_norms else ["step"], run.grad_norms)
            )
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def load(folder):
    """A record as a Run. A torn, incomplete, wrongly typed or self-contradicting record (`check`) raises one
    line naming the file and what is wrong."""
    folder = Path(folder)
    try:
        fields_ = json.loads((folder / "run.json").read_text())
        epochs = _csv_rows((folder / "epochs.csv").read_text())
        loss = _csv_rows((folder / "loss.csv").read_text())
    except json.JSONDecodeError as e:
        raise SkipnetError(f"{folder / 'run.json'}: not valid JSON ({e})") from None
    except FileNotFoundError as e:
        raise SkipnetError(f"{e.filename}: missing") from None
    except ValueError as e:
        raise SkipnetError(f"{folder}: a CSV with a value that is not a number ({e})") from None
    if not isinstance(fields_, dict):
        raise SkipnetError(f"{folder / 'run.json'}: not a JSON object")
    missing = [k for k in REQUIRED if k not in fields_]
    missing += [
        k for k in ("name", "params", "headline", "classes", "details") if not isinstance(fields_.get(k), (str, dict))
    ]
    missing += [f"classes.{k}" for k in ("per_class", "confusion_matrix") if k not in fields_.get("classes", {})]
    unknown = [k for k in fields_ if k not in JSON_FIELDS]
    bad = [k for k in ("train_loss", "val_loss", "val_acc") if not _number(fields_.get("headline", {}).get(k))]
    if missing or unknown or bad or not epochs:
        what = (
            f"no {', '.join(dict.fromkeys(missing))}"
            if missing
            else f"unknown field {unknown[0]!r}"
            if unknown
            else f"headline {', '.join(bad)} not a finite number"
            if bad
            else "no epochs in epochs.csv"
        )
        raise SkipnetError(f"{folder / 'run.json'}: {what}")
    kept, norms = folder / "predictions.csv", folder / "grad_norms.csv"
    run = Run(
        **fields_,
        epochs=epochs,
        loss=loss,
        predictions=_csv_strings(kept.read_text()) if kept.exists() else None,
        grad_norms=_csv_rows(norms.read_text()) if norms.exists() else None,
    )
    problem = check(run)
    if problem:
        raise SkipnetError(f"{folder / 'run.json'}: {problem}")
    return run


def _correct(predictions):
    return sum(p["label"] == p["predicted"] for p in predictions)


def check(run):
    """What makes a record contradict itself or its provenance, in one line; None when nothing does.

    Its headline accuracy is its predictions' accuracy (to the image: headlines are float32); its source names
    the experiment the record is named after; its code commit is known; its commands name no machine path (a
    record's command reproduces it from a fresh clone). A record made when evaluate scored the model a second
    time says so in `second_pass` with that pass's count, and that count must be its predictions'."""
    if run.predictions:
        n, right = len(run.predictions), _correct(run.predictions)
        headline = round(run.headline["val_acc"] * n)
        second = (run.second_pass or {}).get("predictions_correct")
        if headline != right and second != right:
            return (
                f"headline val_acc {run.headline['val_acc']:.4f} ({headline} of {n}) but its predictions "
                f"score {right} of {n}: not one evaluation of one model"
            )
    source = re.fullmatch(r"dvc experiment (\S+) \([0-9a-f]+\)", run.source)
    if source and source[1] != run.name:
        return (
            f"source is experiment {source[1]!r} but the record is {run.name!r}: record an experiment under "
            f"its own name (rename it first: dvc exp rename)"
        )
    commit = str((run.code or {}).get("commit"))
    if not known_commit(commit):
        return f"code commit {commit!r} is not a git commit: the code that trained it is unknown"
    for name in ("command", "command_as_run"):
        machine = [w for w in shlex.split(getattr(run, name) or "") if re.match(r"^(\S+=)?(/|~)", w)]
        if machine:
            return f"{name} names a machine path ({machine[0]}): give paths relative to the repository"
    return None


def load_all(runs_dir=RUNS_DIR, skipped=None):
    """Every record under runs_dir, in name order. With a list as `skipped`, a bad record is left out and its
    one-line reason appended there; without, it raises."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise SkipnetError(
            f"no run records in {runs_dir} (no such folder): add a finished experiment with "
            "`python tools/record.py EXP` (see `dvc exp list`), or run tools/run_grid.py"
        )
    runs = []
    for folder in sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            runs.append(load(folder))
        except SkipnetError as e:
            if skipped is None:
                raise
            skipped.append(str(e))
    return runs


def build(read, name, source, command, code, date, runs_dir=RUNS_DIR, force=False):
    """Write the record of a finished run from the evaluate stage's files; read(path) -> text or None."""
    texts = {key: read(path) for key, path in SOURCES.items()}
    missing = [SOURCES[k] for k in ("params", "classes", "details", "epochs") if not texts[k]]
    if missing:
        raise SkipnetError(
            f"{source} has no finished run's metrics ({', '.join(missing)} missing): was it run to "
            f"the end with this version of the pipeline?"
        )
    details = json.loads(texts["details"])
    epochs = _csv_rows(texts["epochs"])
    run = Run(
        name=name,
        source=source,
        command=command,
        code=code,
        machine=details["speed"]["device"],
        date=date,
        train_seconds=details["speed"]["train_seconds"],
        wall_seconds=details["speed"].get("wall_seconds"),
        params=relative_root(yaml.safe_load(texts["params"])),
        headline=headline(epochs),
        classes=json.loads(texts["classes"]),
        details=details,
        epochs=epochs,
        loss=_csv_rows(texts["loss"] or "step,epoch,loss\n"),
        predictions=_csv_strings(texts["predictions"]) if texts["predictions"] else None,
        grad_norms=_csv_rows(texts["grad_norms"]) if texts["grad_norms"] else None,
    )
    return write(runs_dir, run, force)


def known_commit(commit):
    """A git commit as `head_commit` gives it: 40 hex digits, "-dirty" when the tree differed from it."""
    return re.fullmatch(r"[0-9a-f]{40}(-dirty)?", commit) is not None


def repo_relative(path):
    """An absolute path into the shared data folder as a fresh clone reaches it (../shared/...)."""
    text = str(path)
    return "../shared/" + text.split("/shared/", 1)[1] if text.startswith("/") and "/shared/" in text else text


def relative_root(params):
    """Params with an absolute folder-dataset root (as `dvc exp run --temp` needs it) made repository-relative, so
    the record names no machine path."""
    folder = params.get("datasets", {}).get("folder")
    if not folder or not folder.get("root"):
        return params
    return {**params, "datasets": {**params["datasets"], "folder": {**folder, "root": repo_relative(folder["root"])}}}
