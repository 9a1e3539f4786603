"""The study report, built from the committed run records alone (reports/runs/, see skipnet.records).

Runs that differ only in seed are one configuration (skipnet.tables). The inference sections (the study's
numbers reproduced, comparisons, McNemar, hardware, the study's claims) come from skipnet.verdicts; this
module adds the overfitting rule run by run, every run, depth sweeps, tuning runs, the figures and the
commands, and writes reports/study.md and the README's Table 1 block.
"""
import math
import re
from pathlib import Path

import matplotlib.pyplot as plt

from . import plots, stats, study, verdicts
from .errors import SkipnetError
from .evaluate import run_title
from .files import atomic_write_text
from .tables import (LAST, cell, configurations, find, last_epochs, pct, summarize, used, value,
                     varying)

OVERFIT_RISE = 0.25
OVERFIT_RULE = (f"a run overfits when its final val loss is at least {OVERFIT_RISE} above its lowest val loss while "
                f"its final train loss is below the train loss of that lowest epoch")


def _param_cell(flat, key):
    """A param's value, or "-" where the run does not read it (Net3 has no depth or skips)."""
    return cell(flat[key]) if key in flat else "-"


def _minutes(seconds):
    return f"{seconds / 60:.1f} min"


def overfits(run):
    """The overfitting rule's numbers for one run: (lowest val loss epoch, rise, train loss then, verdict)."""
    lowest = min(run["epochs"], key=lambda e: e["val_loss"])
    last = run["epochs"][-1]
    rise = last["val_loss"] - lowest["val_loss"]
    return lowest, rise, rise >= OVERFIT_RISE and last["train_loss"] < lowest["train_loss"]


def overfitting_table(runs):
    rows = []
    for r in runs:
        lowest, rise, verdict_ = overfits(r)
        mean, low, high = last_epochs(r)
        rows.append(f"| {r['name']} | {lowest['val_loss']:.3f} ({lowest['epoch']}) | {r['headline']['val_loss']:.3f} | "
                    f"{rise:+.3f} | {lowest['train_loss']:.3f} -> {r['headline']['train_loss']:.3f} | "
                    f"{'overfits' if verdict_ else 'does not overfit'} | {pct(low)} to {pct(high)} |")
    return (f"Rule: {OVERFIT_RULE}. Last column: how far val accuracy moved over the last {LAST} epochs of that run.\n\n"
            "| run | lowest val loss (epoch) | final val loss | rise | train loss at that epoch -> final | by the rule | "
            f"val acc over the last {LAST} epochs |\n|---|---:|---:|---:|---|---|---|\n" + "\n".join(rows) + "\n")


def runs_table(runs, keys, scored_on="val"):
    """One row per run; scored_on names the split its "val" numbers come from (the hold-out for tuning runs)."""
    names = ["run", *keys, "epochs run", "final train loss", f"{scored_on} loss", f"{scored_on} acc",
             f"{scored_on} acc, mean of last {LAST} epochs", f"best {scored_on} acc (epoch)", f"train acc - {scored_on} acc",
             "train time", "machine"]
    rows = []
    for r in runs:
        flat, h, last = used(r["params"]), r["headline"], r["epochs"][-1]
        best = max(r["epochs"], key=lambda e: e["val_acc"])
        rows.append([r["name"], *(_param_cell(flat, k) for k in keys), str(len(r["epochs"])), f"{h['train_loss']:.3f}",
                     f"{h['val_loss']:.3f}", pct(h["val_acc"]), pct(last_epochs(r)[0]),
                     f"{pct(best['val_acc'])} ({best['epoch']})",
                     f"{100 * (last['train_acc'] - last['val_acc']):+.1f}", _minutes(r["train_seconds"]),
                     r["machine"]])
    align = ["---"] * (1 + len(keys)) + ["---:"] * 8 + ["---"]
    return "\n".join("| " + " | ".join(row) + " |" for row in [names, align, *rows]) + "\n"


def best_tuning(tuning):
    """The tuning run with the highest held-out accuracy: the settings the improved recipe uses."""
    return max(tuning, key=lambda r: r["headline"]["val_acc"])


def standard_error(run):
    """One standard error of the run's accuracy from sampling its scored images alone: sqrt(p(1-p)/n)."""
    n = sum(map(sum, run["classes"]["confusion_matrix"]))
    p = run["headline"]["val_acc"]
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
        code = r["code"]
        return code["commit"][:12] + (" (inferred)" if code.get("basis") else "")
    rows = [f"| {r['name']} | `{r['command']}` | {r['source']} | {commit(r)} | {r['date'][:16]} |" for r in runs]
    return ("Each command runs from the root of a fresh clone (data paths are relative: `../shared/...`). DVC's queue "
            "(`dvc exp run --queue`) runs experiments in a temporary copy of the repository, where the data path must "
            "be absolute (`-S datasets.folder.root=$PWD/../shared/data/coco-5class-64`).\n\n"
            "| run | command | source | code commit | finished |\n|---|---|---|---|---|\n" + "\n".join(rows) + "\n")


def _band(ax, x, series, style, label):
    """The mean line over seeds, with a band from the lowest to the highest seed where there are several."""
    mean = [sum(v) / len(v) for v in zip(*series)]
    line, = ax.plot(x, mean, style, label=f"{label} (n={len(series)})" if len(series) > 1 else label, linewidth=1.8)
    if len(series) > 1:
        ax.fill_between(x, [min(v) for v in zip(*series)], [max(v) for v in zip(*series)], color=line.get_color(),
                        alpha=0.2)


def table1_png(configs, path):
    fig, ax = plt.subplots(figsize=(8, 4.5))
    labels = []
    for i, (name, (label, numbers)) in enumerate(study.REPORTED.items()):
        found = find(configs, name)
        labels.append(label)
        ax.plot([i - 0.12], [100 * numbers["val_acc"]], "kx", markersize=10, label="study (one run)" if i == 0 else None)
        for c in found[:1]:
            s = summarize(c, "val_acc")
            values = [100 * value(r, "val_acc") for r in c["runs"]]
            ax.plot([i + 0.12] * len(values), values, "o", color="tab:blue", alpha=0.35,
                    label="ours, each seed" if i == 0 else None)
            err = None if s["low"] is None else [[100 * (s["mean"] - s["low"])], [100 * (s["high"] - s["mean"])]]
            ax.errorbar([i + 0.12], [100 * s["mean"]], yerr=err, fmt="s", color="tab:blue", capsize=6,
                        label="ours, mean and 95% interval" if i == 0 else None)
            ax.annotate(f"n={s['n']}", (i + 0.18, 100 * s["mean"]), fontsize=8)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylabel("final val accuracy (%)")
    ax.set_title("Table 1: the study's numbers and ours over seeds")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    plots.save(fig, path)


def sweep_png(group, path):
    epochs = sorted({c["params"]["epochs"] for c in group})
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.5))
    for skip, style in ((True, "o-"), (False, "s--")):
        points = sorted((c["params"]["depth"], c) for c in group if c["params"]["skip_connections"] == skip)
        if not points:
            continue
        label = "with skip connections" if skip else "without skip connections"
        depths = [d for d, _ in points]
        for ax, metric, scale in ((ax_acc, "val_acc", 100), (ax_loss, "train_loss", 1)):
            summaries = [summarize(c, metric) for _, c in points]
            line, = ax.plot(depths, [scale * s["mean"] for s in summaries], style, label=label)
            if all(s["low"] is not None for s in summaries):
                ax.fill_between(depths, [scale * s["low"] for s in summaries], [scale * s["high"] for s in summaries],
                                color=line.get_color(), alpha=0.2)
    classes = len(group[0]["params"]["classes"])
    ax_acc.axhline(100 / classes, color="gray", linestyle=":", label=f"chance ({100 / classes:g}%)")
    ax_loss.axhline(math.log(classes), color="gray", linestyle=":", label=f"uniform guess (ln {classes})")
    depths = sorted({c["params"]["depth"] for c in group})
    for ax, name in ((ax_acc, "val accuracy (%)"), (ax_loss, "final train loss")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(depths, [str(d) for d in depths])
        ax.set_xlabel("depth (SkipBlocks per stage)")
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
        ax.legend()
    seeds = sorted({len(c["runs"]) for c in group})
    fig.suptitle(f"Depth sweep, {'/'.join(map(str, epochs))} epochs per point, lr {group[0]['params']['lr']:g}; "
                 f"mean over {'/'.join(map(str, seeds))} seeds per point, band: 95% interval where n >= 2")
    fig.tight_layout()
    plots.save(fig, path)


def epochs_grid_png(configs, path):
    fig, axes = plt.subplots(len(configs), 2, figsize=(11, 3.2 * len(configs)), squeeze=False)
    for (ax_loss, ax_acc), c in zip(axes, configs):
        x = [e["epoch"] for e in c["runs"][0]["epochs"]]
        for split, style in (("train", "-"), ("val", "--")):
            _band(ax_loss, x, [[e[f"{split}_loss"] for e in r["epochs"]] for r in c["runs"]], style, split)
            _band(ax_acc, x, [[e[f"{split}_acc"] for e in r["epochs"]] for r in c["runs"]], style, split)
        seeds = f", {len(c['runs'])} seeds (band: lowest to highest)" if len(c["runs"]) > 1 else ""
        for ax, name in ((ax_loss, "loss"), (ax_acc, "accuracy")):
            ax.set_title(f"{c['name']}: {name}{seeds}", fontsize=9)
            ax.set_xlabel("Epoch")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
            plots.integer_ticks(ax)
    fig.tight_layout()
    plots.save(fig, path)


def confusion_grid_png(configs, path):
    cols = min(3, len(configs))
    rows = -(-len(configs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(7 * cols, 5.5 * rows), squeeze=False)
    for ax in axes.flat[len(configs):]:
        ax.axis("off")
    for ax, c in zip(axes.flat, configs):
        first = c["runs"][0]
        plots.confusion_heatmap(ax, first["classes"]["confusion_matrix"], first["params"]["classes"],
                                f"{first['name']} (seed {first['params']['seed']})")
    fig.tight_layout()
    plots.save(fig, path)


def partition(runs):
    """(final runs, tuning runs): tuning runs are scored on a hold-out of train."""
    return ([r for r in runs if not r["params"].get("tune_holdout")],
            [r for r in runs if r["params"].get("tune_holdout")])


def readme_block(runs, defaults):
    """What the README shows between its `<!-- table1 -->` markers: the study's numbers reproduced, every
    declared comparison, the aims."""
    final, _ = partition(runs)
    configs = configurations(final, defaults)
    found = verdicts.comparisons(configs)
    return (verdicts.reproduction(configs) + ("\n" + verdicts.comparisons_table(found) if found else "")
            + ("\n" + verdicts.goals(configs)))


def update_readme(path, runs, defaults):
    """Replace the README's Table 1 block with the records' numbers; False when it has no markers."""
    path = Path(path)
    text = path.read_text()
    start, end = "<!-- table1 -->\n", "<!-- /table1 -->"
    if start not in text or end not in text:
        return False
    head, rest = text.split(start, 1)
    atomic_write_text(path, head + start + readme_block(runs, defaults) + end + rest.split(end, 1)[1])
    return True


def write(runs, out_dir, defaults, notes=None, runs_dir="reports/runs"):
    """reports/study.md and its figures from run records (read from runs_dir); returns its path. defaults:
    params.yaml's, which the study's configurations override (skipnet.study)."""
    if not runs:
        raise SkipnetError(f"no run records in {runs_dir}: add a finished experiment with "
                           "`python stages/record.py EXP` (see `dvc exp list`), or run stages/run_grid.py")
    out_dir = Path(out_dir)
    final, tuning = partition(runs)
    configs = configurations(final, defaults)
    groups = sweeps(configs)
    in_sweeps = {id(c) for g in groups for c in g}
    main = [c for c in configs if id(c) not in in_sweeps]  # sweep points get their own section
    table1_runs = [r for name in [*study.REPORTED, study.ABLATION_BASE] for c in find(configs, name) for r in c["runs"]]
    md = ["# Skip connections on five COCO classes: the study reproduced\n",
          f"Generated by `python stages/report.py` from the {len(runs)} run records in `{runs_dir}/`. Runs that "
          "differ only in seed are one configuration. Statistics: scipy.stats and statsmodels; one run says nothing "
          "about how far another seed would land, so no verdict rests on fewer than "
          f"{stats.MIN_N} runs a side.\n"]
    if final:
        md += ["## Table 1: the study's numbers reproduced?\n", verdicts.reproduction(configs)]
        if any(find(configs, name) for name in study.REPORTED):
            table1_png(configs, out_dir / "table1.png")
            md += ["\n![Table 1 with intervals](table1.png)\n"]
    found = verdicts.comparisons(configs)
    if found:
        md += ["\n## Comparisons between configurations\n", verdicts.comparisons_table(found),
               "\n" + verdicts.goals(configs)]
        mcnemar = verdicts.mcnemar_table(found)
        md += ["\n### McNemar: two trained models on the same images\n", mcnemar] if mcnemar else []
    md += ["\n## The study's claims, checked\n", verdicts.claims(configs, sweep_points(groups))]
    split = verdicts.hardware_split(configs)
    md += ["\n## Hardware within a configuration\n", split] if split else []
    ablation = verdicts.ablation(configs)
    if ablation:
        md += ["\n## Ablation of the improved recipe\n", ablation]
    if table1_runs:
        md += ["\n## Overfitting, run by run\n", overfitting_table(table1_runs)]
    if main:
        plots.loss_png({f"{c['name']} (seed {c['runs'][0]['params']['seed']}): {run_title(c['params'])}":
                        [(p["step"], p["loss"]) for p in c["runs"][0]["loss"]] for c in main},
                       out_dir / "loss_overlay.png", title="Training loss per logging interval (first seed of each)",
                       ylim=(0, 3))
        epochs_grid_png(main, out_dir / "epochs.png")
        confusion_grid_png(main, out_dir / "confusion_matrices.png")
        main_runs = [r for c in main for r in c["runs"]]
        md += ["\n## Every run\n",
               "Columns before `epochs run` are the params that differ between runs. `train acc - val acc` is the "
               "last epoch's gap in points.\n", runs_table(main_runs, varying(main_runs)),
               "\n## Per-class accuracy (recall on val)\n", verdicts.per_class(main)]
    for i, group in enumerate(groups):
        sweep_png(group, out_dir / f"depth_sweep_{i + 1}.png")
        md += [f"\n## Depth sweep {i + 1}: with and without skip connections\n",
               f"![depth sweep](depth_sweep_{i + 1}.png)\n", verdicts.sweep(group)]
    if main:
        md += ["\n## Training loss per logging interval (the study's Figure 5)\n", "![loss curves](loss_overlay.png)\n",
               "\n## Per epoch: train vs val loss and accuracy\n", "![per-epoch curves](epochs.png)\n",
               "\n## Confusion matrices (val)\n", "![confusion matrices](confusion_matrices.png)\n"]
    if tuning:
        best = best_tuning(tuning)
        se, n = standard_error(best)
        md += ["\n## Tuning runs (scored on a held-out part of train; val untouched)\n",
               f"Every setting tried. Highest held-out accuracy: **{best['name']}** "
               f"({pct(best['headline']['val_acc'])}). One standard error of that accuracy from sampling its {n} "
               f"held-out images alone is {100 * se:.1f} points, so settings closer than about {200 * se:.1f} points "
               "are not told apart by these runs.\n",
               runs_table(tuning, varying(tuning) or ["tune_holdout"], scored_on="held-out")]
    md += ["\n## Commands\n", commands_table(runs)]
    if notes:
        md += ["\n## Notes\n", notes.strip() + "\n"]
    path = out_dir / "study.md"
    atomic_write_text(path, "\n".join(md))
    return path
