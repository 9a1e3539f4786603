"""evaluate: the headline (metrics/headline.json, git-tracked: `dvc metrics diff main <branch>` needs no
pull), detail metrics (per class, confusion matrix, model, speed, data), per-epoch table, per-image
predictions and plots, all from the train stage's one evaluation of the final model.

The detail stays one command away:
    dvc metrics show metrics/classes.json metrics/run.json metrics/data.json
metrics/predictions.csv holds the predicted class of every val image (by file name), so that two runs
scored on the same images can be compared image by image (a paired test).
"""

from pathlib import Path

from skipnet.analysis import evaluate
from skipnet.cli import run_stage
from skipnet.data import prepare, select
from skipnet.files import atomic_write_text
from skipnet.training.history import TrainLog

TRAIN_NPZ = "data/prepared/train.npz"  # read only with tune_holdout > 0
VAL_NPZ = "data/prepared/val.npz"
MANIFEST = "data/manifest.csv"
TRAIN_LOG = "models/train_log.json"
SELECTION_STATS = "data/selection.json"


def main(params, args):
    history = TrainLog.read(TRAIN_LOG)
    names = [
        r["file_name"]
        for r in prepare.eval_rows(select.read_manifest(MANIFEST), params["tune_holdout"], params["seed"])
    ]
    scores = evaluate.write_outputs(params, TRAIN_NPZ, VAL_NPZ, history, names)
    # republished here: git-tracked, unlike the cached select stage's output
    atomic_write_text(evaluate.OUTPUTS.data, Path(SELECTION_STATS).read_text())
    print(f"val accuracy {scores['accuracy']:.4f}, val loss {scores['val_loss']:.4f}")


if __name__ == "__main__":
    run_stage(__doc__, main)
