"""The study, declared once: every configuration by name, the study's reported numbers, the margins that say
"the same", and the comparisons in their families.

A configuration is a set of overrides of params.yaml, whose defaults are the study's recipe (MyNet-16, Adam at
lr 1e-3, 20 epochs, batch 128). tools/run_grid.py runs and queues these configurations by name, the report
matches every record to the configuration whose recipe params it has, and the README's commands are printed
from here (`python tools/run_grid.py --list`). Adding a configuration is one entry.
"""

from ..config.archs import not_read
from ..config.params import RECIPE_KEYS, cli_value, with_overrides

# The improved recipe: six knobs away from the study's, chosen on a held-out tenth of train (val never read;
# the "tuning" group below, reports/study.md "Tuning runs").
IMPROVED = {
    "optimizer": "adamw",
    "weight_decay": 0.05,
    "lr_schedule": "cosine",
    "warmup_epochs": 2,
    "crop_padding": 2,
    "flip": True,
}
NET3_64PX = {"arch": "net3", "image_size": 64}  # Net3 at the size it was built for
SHORT = {"epochs": 5}  # the sweep and the tuning runs
TUNE_HOLDOUT = 0.1

# The configurations the study's claims name
MYNET16, MYNET16_LR1E4, NET3 = "mynet16-lr1e-3", "mynet16-lr1e-4", "net3-64px"
GROUPS = {
    "study": {
        MYNET16: {},
        MYNET16_LR1E4: {"lr": 0.0001},
        NET3: NET3_64PX,
        "mynet16-noskip": {"skip_connections": False},
        "mynet16-improved": IMPROVED,
        "net3-64px-improved": {**NET3_64PX, **IMPROVED},
    },
    # the improved recipe with one change removed, and each change alone on the study's recipe
    "ablation": {
        "mynet16-improved-no-aug": {**IMPROVED, "crop_padding": 0, "flip": False},
        "mynet16-improved-no-wd": {**IMPROVED, "optimizer": "adam", "weight_decay": 0.0},
        "mynet16-improved-constant-lr": {**IMPROVED, "lr_schedule": "constant", "warmup_epochs": 0},
        "mynet16-aug-only": {"crop_padding": IMPROVED["crop_padding"], "flip": True},
        "mynet16-wd-only": {"optimizer": "adamw", "weight_decay": IMPROVED["weight_decay"]},
        "mynet16-schedule-only": {"lr_schedule": "cosine", "warmup_epochs": IMPROVED["warmup_epochs"]},
    },
    "sweep": {
        f"sweep-d{depth}-{'skip' if skip else 'noskip'}": {"depth": depth, "skip_connections": skip, **SHORT}
        for depth in (1, 2, 4, 8, 16, 32)
        for skip in (True, False)
    },
    "tuning": {
        f"tune-wd{wd:g}-ls{ls:g}-pad{pad}": {
            **IMPROVED,
            "weight_decay": wd,
            "label_smoothing": ls,
            "crop_padding": pad,
            "tune_holdout": TUNE_HOLDOUT,
            **SHORT,
        }
        for wd in (0.05, 0.3)
        for ls in (0.0, 0.1)
        for pad in (2, 4)
    },
}
CONFIGURATIONS = {name: overrides for runs in GROUPS.values() for name, overrides in runs.items()}

# The study's Table 1 (ECE60146 HW5, single runs): the configuration it is, its label and numbers.
REPORTED = {
    MYNET16: ("MyNet-16, lr 1e-3", {"val_acc": 0.5452, "train_loss": 0.435, "val_loss": 1.552}),
    MYNET16_LR1E4: ("MyNet-16, lr 1e-4", {"val_acc": 0.4900, "train_loss": 0.101, "val_loss": 2.399}),
    NET3: ("Net3 (64x64)", {"val_acc": 0.5632}),
}
# "The same as the study" within: 3 points of accuracy; 15% of the study's number for a loss.
ACC_MARGIN = 0.03
LOSS_MARGIN = 0.15


def margin(metric, number):
    return ACC_MARGIN if metric == "val_acc" else LOSS_MARGIN * number


# Comparisons between configurations, A - B in final val accuracy, in families: each verdict uses the
# Holm-adjusted p within its family. The study's claims (a) and (b) are among them.
STUDY_FAMILY = "the study's claims and ours"
COMPARISONS = [
    ("the improved recipe vs the study's (MyNet-16)", "mynet16-improved", MYNET16),
    ("the improved recipe vs the study's (Net3, 64x64)", "net3-64px-improved", NET3),
    ("skip connections vs none (MyNet-16, study recipe)", MYNET16, "mynet16-noskip"),
    ("(a) MyNet-16 vs Net3 (64x64), study recipe", MYNET16, NET3),
    ("(b) lr 1e-3 vs lr 1e-4 (MyNet-16, study recipe)", MYNET16, MYNET16_LR1E4),
]
ABLATION_FAMILY = "the ablation (vs the full improved recipe)"
ABLATION_BASE = "mynet16-improved"
SWEEP_FAMILY = "the depth sweep"
WORST_CLASS = "dog"  # claim (c): the study's worst class for both networks
AIM_MEAN, AIM_GAIN = 0.65, 5.0  # the improved recipe's aims: mean val accuracy, lower end of the gain (points)


def recipe(params):
    """The params that make a run's configuration (those its architecture reads)."""
    return {k: params[k] for k in RECIPE_KEYS if k not in not_read(params["arch"])}


def declared(params, defaults):
    """The name of the declared configuration a run with these params is, given params.yaml's defaults; or None."""
    mine = recipe(params)
    for name, overrides in CONFIGURATIONS.items():
        if recipe(with_overrides(defaults, overrides)) == mine:
            return name
    return None


def sets(name):
    """A configuration's overrides as `-S key=value` words, e.g. ["-S", "lr=0.0001"]."""
    return [w for k, v in CONFIGURATIONS[name].items() for w in ("-S", f"{k}={cli_value(v)}")]


def exp_run(name, seed=None, queue=False):
    """The `dvc exp run` words that run (or queue) a configuration, at a seed other than params.yaml's."""
    run = name if seed is None else f"{name}-seed{seed}"
    return [
        "dvc",
        "exp",
        "run",
        *(["--queue"] if queue else []),
        "-n",
        run,
        *sets(name),
        *(["-S", f"seed={seed}"] if seed is not None else []),
    ]
