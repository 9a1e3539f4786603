"""One name per metric: the per-epoch record the engine writes, DVCLive logs, the evaluate stage tabulates
(plots/epochs.csv) and run records keep (epochs.csv); the headline is its last epoch's. One CSV writer."""

import csv
import io
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Epoch:
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float  # of the model as this epoch ends; the last epoch's is the model's one evaluation
    lr: float
    seconds: float
    images_per_s: float


EPOCH_FIELDS = [f.name for f in fields(Epoch)]
HEADLINE = ("train_loss", "val_loss", "val_acc")  # metrics/headline.json, Table 1


def headline(epochs):
    """The headline: the last epoch's train loss, val loss and val accuracy (the final model's)."""
    return {k: epochs[-1][k] for k in HEADLINE}


def csv_text(fieldnames, rows):
    """rows (dicts) as CSV with these columns, in this order; other keys left out."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fieldnames, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
