"""Per-epoch metrics through DVCLive as each epoch ends, so `dvc exp show` and the VS Code extension see a run live.

dvc.yaml declares what DVCLive writes (dvclive/metrics.json as metrics, dvclive/plots as a cached
output); DVCLive is told not to write a dvc.yaml of its own, nor to save experiments itself. The summary
is progress only, `step` (epochs done), so that `dvc exp show` fits a terminal and names no metric twice:
the headline (train_loss, val_loss, val_acc) is the evaluate stage's git-tracked metrics/headline.json.
Every series, growing as each epoch ends, is in dvclive/plots/metrics/<name>.tsv (`dvc plots show`).
"""

from .history import EPOCH_FIELDS

DIR = "dvclive"
# Every per-epoch metric, under its one name (skipnet.training.history); the epoch is DVCLive's step
EPOCH_METRICS = [name for name in EPOCH_FIELDS if name != "epoch"]


class EpochLog:
    """`log(record)` once per epoch. Starts from an empty directory: a resumed run replays the
    checkpoint's epochs through `log`, so the log ends with each epoch exactly once."""

    def __init__(self, directory=DIR):
        from dvclive import Live  # here, not at the top: the GPU machine has no dvclive and never logs

        self.live = Live(directory, resume=False, report=None, save_dvc_exp=False, dvcyaml=False)

    def log(self, record):
        self.live.step = record.epoch
        for name in EPOCH_METRICS:
            self.live.log_metric(name, getattr(record, name))
        self.live.summary = {}  # DVCLive adds the step
        self.live.next_step()


def epoch_logger(directory=DIR):
    """A log(record) that opens EpochLog(directory) at its first call, or None where DVCLive is not installed
    (a lent GPU machine runs the stages without DVC: every per-epoch number is in the train log either way).

    Opening it empties `directory`; the first call comes once the training data has loaded, so a torn or
    missing input stops the run before the previous run's log is gone."""
    try:
        import dvclive  # noqa: F401
    except ImportError:
        return None
    opened = []

    def log(record):
        if not opened:
            opened.append(EpochLog(directory))
        opened[0].log(record)

    return log
