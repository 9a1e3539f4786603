"""The report's figures over many runs, drawn from configurations (skipnet.analysis.tables) with run_figures'
helpers."""

import math

import matplotlib.pyplot as plt

from . import run_figures, study
from .evaluate import LOG10
from .tables import find, summarize, value


def _band(ax, x, series, style, label):
    """The mean line over seeds, with a band from the lowest to the highest seed where there are several."""
    mean = [sum(v) / len(v) for v in zip(*series)]
    (line,) = ax.plot(x, mean, style, label=f"{label} (n={len(series)})" if len(series) > 1 else label, linewidth=1.8)
    if len(series) > 1:
        ax.fill_between(
            x, [min(v) for v in zip(*series)], [max(v) for v in zip(*series)], color=line.get_color(), alpha=0.2
        )


def table1_png(configs, path):
    fig, ax = plt.subplots(figsize=(8, 4.5))
    labels = []
    for i, (name, (label, numbers)) in enumerate(study.REPORTED.items()):
        found = find(configs, name)
        labels.append(label)
        ax.plot(
            [i - 0.12], [100 * numbers["val_acc"]], "kx", markersize=10, label="study (one run)" if i == 0 else None
        )
        for c in found[:1]:
            s = summarize(c, "val_acc")
            values = [100 * value(r, "val_acc") for r in c["runs"]]
            ax.plot(
                [i + 0.12] * len(values),
                values,
                "o",
                color="tab:blue",
                alpha=0.35,
                label="ours, each seed" if i == 0 else None,
            )
            err = None if s["low"] is None else [[100 * (s["mean"] - s["low"])], [100 * (s["high"] - s["mean"])]]
            ax.errorbar(
                [i + 0.12],
                [100 * s["mean"]],
                yerr=err,
                fmt="s",
                color="tab:blue",
                capsize=6,
                label="ours, mean and 95% interval" if i == 0 else None,
            )
            ax.annotate(f"n={s['n']}", (i + 0.18, 100 * s["mean"]), fontsize=8)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylabel("final val accuracy (%)")
    ax.set_title("Table 1: the study's numbers and ours over seeds")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    run_figures.save(fig, path)


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
            (line,) = ax.plot(depths, [scale * s["mean"] for s in summaries], style, label=label)
            if all(s["low"] is not None for s in summaries):
                ax.fill_between(
                    depths,
                    [scale * s["low"] for s in summaries],
                    [scale * s["high"] for s in summaries],
                    color=line.get_color(),
                    alpha=0.2,
                )
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
    fig.suptitle(
        f"Depth sweep, {'/'.join(map(str, epochs))} epochs per point, lr {group[0]['params']['lr']:g}; "
        f"mean over {'/'.join(map(str, seeds))} seeds per point, band: 95% interval where n >= 2"
    )
    fig.tight_layout()
    run_figures.save(fig, path)


def epochs_grid_png(configs, path):
    fig, axes = plt.subplots(len(configs), 2, figsize=(11, 3.2 * len(configs)), squeeze=False)
    for (ax_loss, ax_acc), c in zip(axes, configs):
        x = [e["epoch"] for e in c["runs"][0].epochs]
        for split, style in (("train", "-"), ("val", "--")):
            _band(ax_loss, x, [[e[f"{split}_loss"] for e in r.epochs] for r in c["runs"]], style, split)
            _band(ax_acc, x, [[e[f"{split}_acc"] for e in r.epochs] for r in c["runs"]], style, split)
        seeds = f", {len(c['runs'])} seeds (band: lowest to highest)" if len(c["runs"]) > 1 else ""
        for ax, name in ((ax_loss, "loss"), (ax_acc, "accuracy")):
            ax.set_title(f"{c['name']}: {name}{seeds}", fontsize=9)
            ax.set_xlabel("Epoch")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
            run_figures.integer_ticks(ax)
    fig.tight_layout()
    run_figures.save(fig, path)


def confusion_grid_png(configs, path):
    cols = min(3, len(configs))
    rows = -(-len(configs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(7 * cols, 5.5 * rows), squeeze=False)
    for ax in axes.flat[len(configs) :]:
        ax.axis("off")
    for ax, c in zip(axes.flat, configs):
        first = c["runs"][0]
        run_figures.confusion_heatmap(
            ax,
            first.classes["confusion_matrix"],
            first.params["classes"],
            f"{first.name} (seed {first.params['seed']})",
        )
    fig.tight_layout()
    run_figures.save(fig, path)


def grad_norm_means(runs):
    """Per logged step, each stage's geometric mean gradient norm over the runs (the mean of their log10 norms;
    the runs of one configuration log the same steps), as run_figures.grad_norms_png reads them."""
    stages = [k for k in runs[0].grad_norms[0] if k != "step"]
    logged = min(len(r.grad_norms) for r in runs)
    return [
        {
            "step": runs[0].grad_norms[i]["step"],
            **{k.removeprefix(LOG10): 10 ** (sum(r.grad_norms[i][k] for r in runs) / len(runs)) for k in stages},
        }
        for i in range(logged)
    ]


def grad_norms_png(runs, path):
    """Claim (e)'s figure: each stage's gradient norm over training, geometric mean over the runs."""
    run_figures.grad_norms_png(
        grad_norm_means(runs),
        path,
        f"Gradient norms per stage, {runs[0].name.split('-seed')[0]} (geometric mean over runs, n = {len(runs)})",
    )
