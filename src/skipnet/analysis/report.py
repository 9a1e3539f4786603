"""The study report, built from the committed run records alone (reports/runs/, see skipnet.analysis.records).

Runs that differ only in seed are one configuration (skipnet.analysis.tables). The inference sections (the study's
numbers reproduced, comparisons, McNemar, hardware, the study's claims) come from skipnet.analysis.verdicts; this
module adds the overfitting rule run by run, every run, depth sweeps, tuning runs, the figures and the
commands, and writes reports/study.md and the README's Table 1 block.
"""

import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import SkipnetError
from ..files import atomic_write_text
from . import report_figures, run_figures, stats, study, verdicts
from .evaluate import run_title
from .tables import LAST, cell, configurations, find, last_epochs, markdown, pct, used, varying

OVERFIT_RISE = 0.25
OVERFIT_RULE = (
    f"a run overfits when its final val loss is at least {OVERFIT_RISE} above its lowest val loss while "
    f"its final train loss is below the train loss of that lowest epoch"
)


def _param_cell(flat, key):
    """A param's value, or "-" where the run does not read it (Net3 has no depth or skips)."""
    return cell(flat[key]) if key in flat else "-"


def _minutes(seconds):
    return f"{seconds / 60:.1f} min"


def overfits(run):
    """The overfitting rule's numbers for one run: (lowest val loss epoch, rise, train loss then, verdict)."""
    lowest = min(run.epochs, key=lambda e: e["val_loss"])
    last = run.epochs[-1]
    rise = last["val_loss"] - lowest["val_loss"]
    return lowest, rise, rise >= OVERFIT_RISE and last["train_loss"] < lowest["train_loss"]


def overfitting_table(runs):
    rows = []
    for r in runs:
        lowest, rise, verdict_ = overfits(r)
        mean, low, high = last_epochs(r)
        rows.append(
            [
                r.name,
                f"{lowest['val_loss']:.3f} ({lowest['epoch']})",
                f"{r.headline['val_loss']:.3f}",
                f"{rise:+.3f}",
                f"{lowest['train_loss']:.3f} -> {r.headline['train_loss']:.3f}",
                "overfits" if verdict_ else "does not overfit",
                f"{pct(low)} to {pct(high)}",
            ]
        )
    return (
        f"Rule: {OVERFIT_RULE}. Last column: how far val accuracy moved over the last {LAST} epochs of that run.\n\n"
        + markdown(
            rows,
            [
                "run",
                "lowest val loss (epoch)",
                "final val loss",
                "rise",
                "train loss at that epoch -> final",
                "by the rule",
                f"val acc over the last {LAST} epochs",
            ],
            ["left", "right", "right", "right", "left", "left", "left"],
        )
    )


def runs_table(runs, keys, scored_on="val"):
    """One row per run; scored_on names the split its "val" numbers come from (the hold-out for tuning runs)."""
    names = [
        "run",
        *keys,
        "epochs run",
        "final train loss",
        f"{scored_on} loss",
        f"{scored_on} acc",
        f"{scored_on} acc, mean of last {LAST} epochs",
        f"best {scored_on} acc (epoch)",
        f"train acc - {scored_on} acc",
        "train time",
        "machine",
    ]
    rows = []
    for r in runs:
        flat, h, last = used(r.params), r.headline, r.epochs[-1]
        best = max(r.epochs, key=lambda e: e["val_acc"])
        rows.append(
            [
                r.name,
                *(_param_cell(flat, k) for k in keys),
                str(len(r.epochs)),
                f"{h['train_loss']:.3f}",
                f"{h['val_loss']:.3f}",
                pct(h["val_acc"]),
                pct(last_epochs(r)[0]),
                f"{pct(best['val_acc'])} ({best['epoch']})",
                f"{100 * (last['train_acc'] - last['val_acc']):+.1f}",
                _minutes(r.train_seconds),
                r.machine,
            ]
        )
    return markdown(rows, names, ["left"] * (1 + len(keys)) + ["right"] * 8 + ["left"])


def best_tuning(tuning):
    """The tuning run with the highest held-out accuracy: the settings the improved recipe uses."""
    return max(tuning, key=lambda r: r.headline["val_acc"])


def standard_error(run):
    """One standard error of the run's accuracy from sampling its scored images alone: sqrt(p(1-p)/n)."""
    n = sum(map(sum, run.classes["confusion_matrix"]))
    p = run.headline["val_acc"]
    return math.sqrt(p * (1 - p) / n), n


def sweeps(configs):
    """Groups of configurations equal in every param but depth and skip_connections, with several depths."""
    groups = {}
    for c in configs:
        if c["params"]["arch"] != "mynet":
            continue
        rest = {k: v for k, v in used(c["params"]).items() if k not in ("depth", "skip_connections", "seed")}
        groups.setdefault(repr(sorted(rest.items())), []).append(c)
    return [g for g in groups.values() if len({c["params"]["depth"] for c in g}) >= 3]


def sweep_points(groups):
    """[(depth, skip configuration, no-skip configuration)] of the first depth sweep, where both were trained."""
    if not groups:
        return []
    by = {(c["params"]["depth"], c["params"]["skip_connections"]): c for c in groups[0]}
    return [(d, by[d, True], by[d, False]) for d in sorted({d for d, _ in by}) if (d, True) in by and (d, False) in by]


def commands_table(runs):
    def commit(r):
        return r.code["commit"][:12] + (" (inferred)" if r.code.get("basis") else "")

    rows = [[r.name, f"`{r.command}`", r.source, commit(r), r.date[:16]] for r in runs]
    return (
        "Each command runs from the root of a fresh clone checked out at its code commit (data paths are relative: "
        "`../shared/...`). DVC's queue "
        "(`dvc exp run --queue`) runs experiments in a temporary copy of the repository, where the data path must "
        "be absolute (`-S datasets.folder.root=$PWD/../shared/data/coco-5class-64`).\n\n"
        + markdown(rows, ["run", "command", "source", "code commit", "finished"])
    )


def partition(runs):
    """(final runs, tuning runs): tuning runs are scored on a hold-out of train."""
    return ([r for r in runs if not r.params.get("tune_holdout")], [r for r in runs if r.params.get("tune_holdout")])


def study_block():
    """The README's `study` block: the study's own numbers, one run each (study.REPORTED)."""
    rows = [
        [
            label,
            *(verdicts.metric_format(k)(n[k]) if k in n else "" for k in ("val_acc", "train_loss", "val_loss")),
        ]
        for label, n in study.REPORTED.values()
    ]
    return markdown(rows, ["the study's run", "val accuracy", "train loss", "val loss"])


def table1_block(runs, defaults):
    """The README's `table1` block, compact: each of the study's numbers against ours, each declared comparison,
    the improved recipe's aims. The full tables are the report's."""
    final, _ = partition(runs)
    configs = configurations(final, defaults)
    ours = [
        [
            r.label,
            r.metric,
            verdicts.metric_format(r.metric)(r.study),
            f"{verdicts.metric_format(r.metric)(r.mean)} (n = {r.n})",
            r.verdict,
        ]
        for r in verdicts.reproduction_rows(configs)
    ]
    compared = [
        [c.claim, verdicts.points_of(c), verdicts.p_text(c.holm), c.verdict] for c in verdicts.comparisons(configs)
    ]
    return (
        markdown(ours, ["the study's run", "metric", "study", "ours: mean (n seeds)", "verdict"])
        + (
            "\n" + markdown(compared, ["comparison (A vs B)", "A - B, val accuracy points", "Holm p", "verdict"])
            if compared
            else ""
        )
        + "\n"
        + verdicts.goals(configs)
    )


BLOCKS = {"study": lambda runs, defaults: study_block(), "table1": table1_block}  # README's generated blocks


def readme_blocks(text, runs, defaults):
    """`text` (a README) with each generated block rewritten from the records; unchanged where it has none."""
    for name, make in BLOCKS.items():
        start, end = f"<!-- {name} -->\n", f"<!-- /{name} -->"
        if start in text and end in text:
            head, rest = text.split(start, 1)
            text = head + start + make(runs, defaults) + end + rest.split(end, 1)[1]
    return text


def update_readme(path, runs, defaults):
    """Rewrite the README's generated blocks from the records; False when it has none."""
    path = Path(path)
    text = path.read_text()
    new = readme_blocks(text, runs, defaults)
    if not any(f"<!-- {name} -->" in text for name in BLOCKS):
        return False
    if new != text:
        atomic_write_text(path, new)
    return True


@dataclass
class Records:
    """What the sections read: the records, split and grouped once."""

    runs: list
    final: list  # scored on val
    tuning: list  # scored on a hold-out of train
    configs: list  # the final runs by configuration (skipnet.analysis.tables)
    sweeps: list  # groups of configurations that differ in depth and skips only
    main: list  # the configurations outside the sweeps


def group(runs, defaults):
    final, tuning = partition(runs)
    configs = configurations(final, defaults)
    groups = sweeps(configs)
    in_sweeps = {id(c) for g in groups for c in g}
    return Records(runs, final, tuning, configs, groups, [c for c in configs if id(c) not in in_sweeps])


# Each section: (markdown, {figure file: draw(path)}); "" where the records have nothing for it.
def table1(r):
    if not r.final:
        return "", {}
    md = "## Table 1: the study's numbers reproduced?\n\n" + verdicts.reproduction(r.configs)
    if not any(find(r.configs, name) for name in study.REPORTED):
        return md, {}
    return md + "\n![Table 1 with intervals](table1.png)\n", {
        "table1.png": lambda p: report_figures.table1_png(r.configs, p)
    }


def comparisons(r):
    found = verdicts.comparisons(r.configs)
    if not found:
        return "", {}
    mcnemar = verdicts.mcnemar_table(found)
    return (
        "## Comparisons between configurations\n\n"
        + verdicts.comparisons_table(found)
        + "\n"
        + verdicts.goals(r.configs)
        + ("\n### McNemar: two trained models on the same images\n\n" + mcnemar if mcnemar else "")
    ), {}


def claims(r):
    md = "## The study's claims, checked\n\n" + verdicts.claims(r.configs, sweep_points(r.sweeps))
    runs = verdicts.explosion_runs(find(r.configs, study.MYNET16))
    if not runs:
        return md, {}
    return (
        md + "\n(e) as measured: the gradient norm of each stage over training at lr 1e-3\n\n"
        "![gradient norms per stage at lr 1e-3](gradient_norms.png)\n",
        {"gradient_norms.png": lambda p: report_figures.grad_norms_png(runs, p)},
    )


def hardware(r):
    split = verdicts.hardware_split(r.configs)
    return ("## Hardware within a configuration\n\n" + split if split else ""), {}


def ablation(r):
    table = verdicts.ablation(r.configs)
    return ("## Ablation of the improved recipe\n\n" + table if table else ""), {}


def overfitting(r):
    runs = [x for name in [*study.REPORTED, study.ABLATION_BASE] for c in find(r.configs, name) for x in c["runs"]]
    return ("## Overfitting, run by run\n\n" + overfitting_table(runs) if runs else ""), {}


def every_run(r):
    if not r.main:
        return "", {}
    runs = [x for c in r.main for x in c["runs"]]
    return (
        "## Every run\n\nColumns before `epochs run` are the params that differ between runs. `train acc - val acc` "
        "is the last epoch's gap in points.\n\n"
        + runs_table(runs, varying(runs))
        + "\n## Per-class accuracy (recall on val)\n\n"
        + verdicts.per_class(r.main)
    ), {}


def depth_sweeps(r):
    md, figs = [], {}
    for i, g in enumerate(r.sweeps, 1):
        md.append(
            f"## Depth sweep {i}: with and without skip connections\n\n![depth sweep](depth_sweep_{i}.png)\n\n"
            + verdicts.sweep(g)
        )
        figs[f"depth_sweep_{i}.png"] = lambda p, g=g: report_figures.sweep_png(g, p)
    return "\n".join(md), figs


def curves(r):
    if not r.main:
        return "", {}
    losses = {
        f"{c['name']} (seed {c['runs'][0].params['seed']}): {run_title(c['params'])}": [
            (p["step"], p["loss"]) for p in c["runs"][0].loss
        ]
        for c in r.main
    }
    return (
        "## Training loss per logging interval (the study's Figure 5)\n\n![loss curves](loss_overlay.png)\n\n"
        "## Per epoch: train vs val loss and accuracy\n\n![per-epoch curves](epochs.png)\n\n"
        "## Confusion matrices (val)\n\n![confusion matrices](confusion_matrices.png)\n"
    ), {
        "loss_overlay.png": lambda p: run_figures.loss_png(
            losses, p, title="Training loss per logging interval (first seed of each)", ylim=(0, 3)
        ),
        "epochs.png": lambda p: report_figures.epochs_grid_png(r.main, p),
        "confusion_matrices.png": lambda p: report_figures.confusion_grid_png(r.main, p),
    }


def tuning(r):
    if not r.tuning:
        return "", {}
    best = best_tuning(r.tuning)
    se, n = standard_error(best)
    return (
        "## Tuning runs (scored on a held-out part of train; val untouched)\n\n"
        f"Every setting tried. Highest held-out accuracy: **{best.name}** ({pct(best.headline['val_acc'])}). "
        f"One standard error of that accuracy from sampling its {n} held-out images alone is {100 * se:.1f} points, "
        f"so settings closer than about {200 * se:.1f} points are not told apart by these runs.\n\n"
        + runs_table(r.tuning, varying(r.tuning) or ["tune_holdout"], scored_on="held-out")
    ), {}


def commands(r):
    return "## Commands\n\n" + commands_table(r.runs), {}


SECTIONS = (
    table1,
    comparisons,
    claims,
    hardware,
    ablation,
    overfitting,
    every_run,
    depth_sweeps,
    curves,
    tuning,
    commands,
)


def write(runs, out_dir, defaults, notes=None, runs_dir="reports/runs"):
    """reports/study.md and its figures from run records (read from runs_dir); returns its path. defaults:
    params.yaml's, which the study's configurations override (skipnet.analysis.study)."""
    if not runs:
        raise SkipnetError(
            f"no run records in {runs_dir}: add a finished experiment with "
            "`python tools/record.py EXP` (see `dvc exp list`), or run tools/run_grid.py"
        )
    out_dir = Path(out_dir)
    records = group(runs, defaults)
    md = [
        "# Skip connections on five COCO classes: the study reproduced\n\n"
        f"Generated by `python tools/report.py` from the {len(runs)} run records in `{runs_dir}/`. Runs that "
        "differ only in seed are one configuration. Statistics: scipy.stats and statsmodels; one run says nothing "
        f"about how far another seed would land, so no verdict rests on fewer than {stats.MIN_N} runs a side.\n"
    ]
    for section in SECTIONS:
        text, figs = section(records)
        md += [text] if text else []
        for name, draw in figs.items():
            draw(out_dir / name)
    md += ["## Notes\n\n" + notes.strip() + "\n"] if notes else []
    path = out_dir / "study.md"
    atomic_write_text(path, "\n".join(md))
    return path
