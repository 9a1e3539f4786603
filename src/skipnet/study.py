"""The study's reported numbers, the margins that say "the same", and the claims tested, in their families.

A configuration is named by the params that identify it; every record whose params match is one seed of it.
"""
from . import recipes

SETTING = {"epochs": 20, "batch_size": 128, "tune_holdout": 0}  # the study's setting
MYNET16 = {"arch": "mynet", "depth": 16, "skip_connections": True, "lr": 0.001, "image_size": 32, **SETTING,
           **recipes.STUDY}
MYNET16_LR1E4 = {**MYNET16, "lr": 0.0001}
MYNET16_NOSKIP = {**MYNET16, "skip_connections": False}
NET3 = {"arch": "net3", "lr": 0.001, "image_size": 64, **SETTING, **recipes.STUDY}
IMPROVED = {**MYNET16, **recipes.IMPROVED}
NET3_IMPROVED = {**NET3, **recipes.IMPROVED}

# The study's Table 1 (ECE60146 HW5, single runs): the params that identify the run, then its numbers.
REPORTED = [
    (MYNET16, "MyNet-16, lr 1e-3", {"val_acc": 0.5452, "train_loss": 0.435, "val_loss": 1.552}),
    (MYNET16_LR1E4, "MyNet-16, lr 1e-4", {"val_acc": 0.4900, "train_loss": 0.101, "val_loss": 2.399}),
    (NET3, "Net3 (64x64)", {"val_acc": 0.5632}),
]
# "The same as the study" within: 3 points of accuracy; 15% of the study's number for a loss.
ACC_MARGIN = 0.03
LOSS_MARGIN = 0.15


def margin(metric, number):
    return ACC_MARGIN if metric == "val_acc" else LOSS_MARGIN * number


# Comparisons between configurations, A - B in final val accuracy, in families: each verdict uses the
# Holm-adjusted p within its family. The study's claims (a) and (b) are among them.
STUDY_FAMILY = "the study's claims and ours"
COMPARISONS = [
    ("the improved recipe vs the study's (MyNet-16)", IMPROVED, MYNET16),
    ("the improved recipe vs the study's (Net3, 64x64)", NET3_IMPROVED, NET3),
    ("skip connections vs none (MyNet-16, study recipe)", MYNET16, MYNET16_NOSKIP),
    ("(a) MyNet-16 vs Net3 (64x64), study recipe", MYNET16, NET3),
    ("(b) lr 1e-3 vs lr 1e-4 (MyNet-16, study recipe)", MYNET16, MYNET16_LR1E4),
]
ABLATION_FAMILY = "the ablation (vs the full improved recipe)"
SWEEP_FAMILY = "the depth sweep"
WORST_CLASS = "dog"  # claim (c): the study's worst class for both networks
AIM_MEAN, AIM_GAIN = 0.65, 5.0  # the improved recipe's aims: mean val accuracy, lower end of the gain (points)
