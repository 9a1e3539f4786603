"""The evaluate stage: the headline, per-class scores, confusion matrix, model and speed details, and the figures.

One evaluation per model: every number here comes from the train stage's pass over val with the final
model (its last epoch, on the training device, in the training precision), kept in the train log: the
headline's val accuracy is the accuracy of the predictions written here, exactly.
"""

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..config.archs import ARCHITECTURES
from ..config.params import KNOBS
from ..data.prepare import train_and_eval_splits
from ..errors import SkipnetError
from ..files import atomic_write_json, atomic_write_text
from ..training.history import EPOCH_FIELDS, csv_text, headline
from . import run_figures


@dataclass(frozen=True)
class Outputs:
    """The evaluate stage's files, by role: dvc.yaml lists these paths (tests/test_dvc_deps.py checks), and run
    records are built from some of them (records.SOURCES)."""

    headline: str = "metrics/headline.json"
    classes: str = "metrics/classes.json"
    run: str = "metrics/run.json"
    data: str = "metrics/data.json"
    predictions: str = "metrics/predictions.csv"
    epochs_csv: str = "plots/epochs.csv"
    confusion_csv: str = "plots/confusion.csv"
    loss_csv: str = "plots/loss.csv"
    grad_csv: str = "plots/grad_norms.csv"
    confusion_png: str = "plots/confusion.png"
    loss_png: str = "plots/loss.png"
    grad_png: str = "plots/grad_norms.png"
    epochs_png: str = "plots/epochs.png"
    misclassified_png: str = "plots/misclassified.png"


OUTPUTS = Outputs()
LOG10 = "log10_"  # plots/grad_norms.csv: a stage's column is LOG10 + its name, holding log10 of its norm


def confusion_matrix(actual, predicted, num_classes):
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (actual, predicted), 1)
    return matrix


def per_class_scores(matrix, classes):
    """precision, recall (= the class's accuracy) and F1 per class."""
    scores = {}
    for i, name in enumerate(classes):
        tp = matrix[i, i]
        precision = tp / matrix[:, i].sum() if matrix[:, i].sum() else 0.0
        recall = tp / matrix[i, :].sum() if matrix[i, :].sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores[name] = {"precision": float(precision), "recall": float(recall), "f1": float(f1)}
    return scores


def run_title(params):
    """A run's name in figure titles and legends, e.g. "MyNet depth=16 no-skip lr=0.001 adamw weight_decay=0.05 ..."."""
    on = [
        f" {k}={params[k]:g}" if isinstance(params[k], float) else f" {k}={params[k]}"
        for k in KNOBS  # shown when on: non-zero, true, or a schedule other than constant
        if params[k] not in (0, False, "constant")
    ]
    return f"{ARCHITECTURES[params['arch']].title(params)} lr={params['lr']:g} {params['optimizer']}{''.join(on)}"


def write_csv(path, fieldnames, rows):
    atomic_write_text(path, csv_text(fieldnames, rows))


def class_metrics(history, labels, classes):
    """(scores: accuracy, val loss, per-class scores, confusion matrix; predicted class per image) from the
    train log's evaluation of the final model."""
    predicted = np.asarray(history.val_predicted, dtype=np.int64)
    if len(predicted) != len(labels):
        raise SkipnetError(
            f"the train log scores {len(predicted)} val images, the data has {len(labels)}: "
            f"rerun the train stage (dvc repro)"
        )
    matrix = confusion_matrix(labels, predicted, len(classes))
    last = history.epochs[-1]
    return {
        "accuracy": last.val_acc,
        "val_loss": last.val_loss,
        "per_class": per_class_scores(matrix, classes),
        "confusion_matrix": matrix.tolist(),
    }, predicted


def run_details(history):
    """Model size and training speed: what ran, where, how fast."""
    epochs = history.epochs
    return {
        "model": history.model,
        "speed": {
            "images_per_s": float(np.mean([e.images_per_s for e in epochs])),
            "seconds_per_epoch": float(np.mean([e.seconds for e in epochs])),
            "train_seconds": float(np.sum([e.seconds for e in epochs])),  # without pauses
            "wall_seconds": history.wall_seconds,  # with them
            "device": history.device,
            "world_size": history.world_size,
            "precision": history.precision,
            "precision_reason": history.precision_reason,
        },
    }


def write_outputs(params, train_path, val_path, history, eval_names, out=OUTPUTS):
    """From the train log's evaluation of the final model, write the detail metrics, the per-epoch table, the
    prediction for each eval image (eval_names: their manifest file names, in order) and the plots to `out`."""
    epochs = [asdict(e) for e in history.epochs]
    _, (images, labels), classes = train_and_eval_splits(train_path, val_path, params["tune_holdout"], params["seed"])
    scores, predicted = class_metrics(history, labels, classes)
    probs = np.asarray(history.val_probs)
    atomic_write_json(out.headline, headline(epochs))
    atomic_write_json(out.classes, scores)
    write_csv(
        out.predictions,
        ["image", "label", "predicted"],
        [{"image": n, "label": classes[a], "predicted": classes[p]} for n, a, p in zip(eval_names, labels, predicted)],
    )
    write_csv(out.epochs_csv, EPOCH_FIELDS, epochs)
    atomic_write_json(out.run, run_details(history))

    title = run_title(params)
    write_csv(
        out.confusion_csv,
        ["actual", "predicted"],
        [{"actual": classes[a], "predicted": classes[p]} for a, p in zip(labels, predicted)],
    )
    run_figures.confusion_png(
        np.array(scores["confusion_matrix"]), classes, f"Confusion Matrix for {title}", out.confusion_png
    )
    write_csv(out.loss_csv, ["step", "epoch", "loss"], history.running_loss)
    run_figures.loss_png(
        {title: [(r["step"], r["loss"]) for r in history.running_loss]},
        out.loss_png,
        title=f"Training Loss for {title}",
    )
    run_figures.epochs_png(epochs, out.epochs_png, f"Per epoch: train vs val, {title}")
    run_figures.misclassified_png(images, labels, probs, classes, out.misclassified_png)
    groups = [k for k in (history.grad_norms[0] if history.grad_norms else {}) if k != "step"]
    write_csv(
        out.grad_csv,
        ["step"] + [LOG10 + g for g in groups],
        [{"step": r["step"], **{LOG10 + g: math.log10(max(r[g], 1e-30)) for g in groups}} for r in history.grad_norms],
    )
    run_figures.grad_norms_png(history.grad_norms, out.grad_png, f"Gradient norms per stage, {title}")
    return scores
