"""evaluate: metrics/ (git-tracked) and plots/ from the trained model and its training log."""
import json

from skipnet import evaluate
from skipnet.cli import run_stage
from skipnet.files import atomic_write_text

VAL_NPZ = "data/prepared/val.npz"
MODEL = "models/model.pt"
TRAIN_LOG = "models/train_log.json"
SELECTION_STATS = "data/selection.json"
OUT = {
    "metrics": "metrics/eval.json",
    "confusion_csv": "plots/confusion.csv",
    "confusion_png": "plots/confusion.png",
    "loss_csv": "plots/loss.csv",
    "loss_png": "plots/loss.png",
    "grad_csv": "plots/grad_norms.csv",
    "grad_png": "plots/grad_norms.png",
}
DATA_METRICS = "metrics/data.json"


def main(params, args):
    with open(TRAIN_LOG) as f:
        history = json.load(f)
    metrics = evaluate.run(params, MODEL, VAL_NPZ, history, OUT)
    with open(SELECTION_STATS) as f:  # republished here: git-tracked, unlike the cached select stage
        atomic_write_text(DATA_METRICS, f.read())
    print(f"val accuracy {metrics['accuracy']:.4f}, val loss {metrics['val_loss']:.4f}")


if __name__ == "__main__":
    run_stage(__doc__, main)
