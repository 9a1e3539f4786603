"""Run records grouped into configurations (runs that differ only in seed), and the cells the report prints."""

import re

from tabulate import tabulate

from ..config.archs import not_read
from ..config.params import flatten
from . import stats, study

LAST = 5  # epochs averaged to tell a trend from the epoch-to-epoch swing of a final number
SCALE = {
    "val_acc": "proportion",
    "last5": "proportion",
    "train_loss": "positive",
    "val_loss": "positive",
    "gap": "identity",
}


def used(params):
    """The run's params, flattened, without those it never read: other datasets' settings, COCO's source when
    the data is not COCO, architecture params its architecture has not (Net3's depth and skips)."""
    unused = [f"datasets.{d}." for d in params["datasets"] if d != params["dataset"]]
    unused += ["coco."] if params["dataset"] != "coco" else []
    return {
        k: v
        for k, v in flatten(params).items()
        if not k.startswith(tuple(unused)) and k not in not_read(params["arch"])
    }


def varying(runs):
    """Param keys (flattened) whose values differ between runs, in params.yaml order."""
    flat = [used(r.params) for r in runs]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    return [k for k in keys if len({repr(f.get(k)) for f in flat}) > 1]


def value(run, metric):
    if metric == "last5":
        return last_epochs(run)[0]
    if metric == "gap":
        return gap(run)
    return run.headline[metric]


def last_epochs(run, n=LAST):
    """(mean, min, max) of val accuracy over the last n epochs."""
    accs = [e["val_acc"] for e in run.epochs[-n:]]
    return sum(accs) / len(accs), min(accs), max(accs)


def configuration_key(params):
    """What makes runs one configuration: the recipe (study.recipe) on the same data. Not the seed, nor how a run
    executed (precision, determinism, checkpoints, launcher, logging): params that later versions added or
    changed there do not split a configuration's seeds."""
    data = {k: v for k, v in used(params).items() if k in ("dataset", "classes") or k.startswith("datasets.")}
    return repr(sorted({**study.recipe(params), **data}.items()))


def configurations(runs, defaults):
    """Runs grouped by configuration_key: [{name, declared, params, runs (by seed)}], in name order.
    declared: the study's configuration (skipnet.analysis.study) the runs are, given params.yaml's defaults, or None."""
    groups = {}
    for r in runs:
        groups.setdefault(configuration_key(r.params), []).append(r)
    out = []
    for members in groups.values():
        members = sorted(members, key=lambda r: r.params["seed"])
        names = sorted(re.sub(r"-seed\d+$", "", r.name) for r in members)
        out.append(
            {
                "name": names[0],
                "declared": study.declared(members[0].params, defaults),
                "params": members[0].params,
                "runs": members,
            }
        )
    return sorted(out, key=lambda c: c["name"])


def find(configs, name):
    """The configurations that are the declared configuration `name` (one, or none)."""
    return [c for c in configs if c["declared"] == name]


def summarize(config, metric):
    """stats.summary of one metric over the configuration's seeds, on the metric's scale."""
    return stats.summary([value(r, metric) for r in config["runs"]], SCALE[metric])


def by_seed(config):
    return {r.params["seed"]: r for r in config["runs"]}


def markdown(rows, headers, align=None):
    """A GitHub-flavoured markdown table (tabulate), cells as given."""
    return tabulate(rows, headers, tablefmt="github", disable_numparse=True, colalign=align) + "\n"


def pct(x):
    return "-" if x is None else f"{100 * x:.2f}%"


def num(x, digits=3):
    return "-" if x is None else f"{x:.{digits}f}"


def cell(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:g}" if isinstance(value, float) else str(value)


def interval(s, fmt):
    """mean [low, high] (n), or the mean and n where there is no interval (n < 2 or no spread)."""
    if s["low"] is None:
        return f"{fmt(s['mean'])} (n={s['n']})"
    return f"{fmt(s['mean'])} [{fmt(s['low'])}, {fmt(s['high'])}] (n={s['n']})"


def acc(s):
    return interval(s, lambda x: f"{100 * x:.2f}%")


def loss(s):
    return interval(s, lambda x: f"{x:.3f}")


def points(d):
    return interval(d, lambda x: f"{100 * x:+.2f}")


def gap(run):
    """The last epoch's train accuracy minus val accuracy."""
    last = run.epochs[-1]
    return last["train_acc"] - last["val_acc"]


def hardware(run):
    """The kind of machine a run trained on, with the CPU's vector ISA (it decides bf16 or fp32), e.g.
    "AMD EPYC (AVX512)", "Intel Xeon (AVX512)", "NVIDIA H200"."""
    machine = run.machine.removeprefix("cpu: ").split(",")[0]
    return " ".join(re.sub(r"\(R\)|\(TM\)|\bProcessor\b", "", machine).split()) or "unknown"


def hardware_counts(runs):
    """e.g. "AMD EPYC 1, Intel Xeon 2": how many of these runs trained on each kind."""
    counts = {}
    for r in runs:
        counts[hardware(r)] = counts.get(hardware(r), 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
