"""One name per metric: the per-epoch record the engine writes, DVCLive logs, the evaluate stage tabulates
(plots/epochs.csv) and run records keep (epochs.csv); the headline is its last epoch's. The train log, the train
stage's hand-off to the evaluate stage. One CSV writer."""

import csv
import io
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import SkipnetError


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


@dataclass(kw_only=True)
class TrainLog:
    """What the train stage hands the evaluate stage (models/train_log.json), and what a resume checkpoint keeps of a
    run so far: each epoch's record, every logged step's running loss and gradient norms, where and how it trained,
    the model's size, and the final model's one evaluation (its predicted class and probabilities per val image)."""

    epochs: list[Epoch] = field(default_factory=list)
    running_loss: list[dict] = field(default_factory=list)  # {"step", "epoch", "loss"} every display_interval steps
    grad_norms: list[dict] = field(default_factory=list)  # {"step", <stage name>: L2 norm, ...} at the same steps
    wall_seconds: float = 0.0  # training's wall time, pauses included (each epoch's seconds leave them out)
    batch_norm: str = ""  # how BatchNorm's statistics were taken
    device: str = ""
    world_size: int = 1
    precision: str = ""
    precision_reason: str = ""
    model: dict = field(default_factory=dict)  # parameters, parameter tensors, multiply-accumulates per image
    val_predicted: list[int] = field(default_factory=list)
    val_probs: list[list[float]] = field(default_factory=list)

    def to_json(self):
        return asdict(self)

    @classmethod
    def from_json(cls, data, source="the train log"):
        """A train log from its JSON form; one line where it is not one this version writes."""
        names = {f.name for f in fields(cls)}
        if not isinstance(data, dict) or set(data) != names:
            got = set(data) if isinstance(data, dict) else set()
            missing, unknown = sorted(names - got), sorted(got - names)
            raise SkipnetError(
                f"{source} is not this version's (missing {', '.join(missing) or 'nothing'}; unknown "
                f"{', '.join(unknown) or 'nothing'}): an older train stage wrote it; rerun the train stage"
            )
        return cls(**{**data, "epochs": [Epoch(**e) for e in data["epochs"]]})

    @classmethod
    def read(cls, path):
        return cls.from_json(json.loads(Path(path).read_text()), str(path))


def headline(epochs):
    """The headline: the last epoch's train loss, val loss and val accuracy (the final model's); epochs as dicts
    (a CSV's rows) or Epochs."""
    last = epochs[-1] if isinstance(epochs[-1], dict) else asdict(epochs[-1])
    return {k: last[k] for k in HEADLINE}


def csv_text(fieldnames, rows):
    """rows (dicts) as CSV with these columns, in this order; other keys left out."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fieldnames, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
