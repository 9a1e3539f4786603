"""One run's figures, drawn by the evaluate stage: confusion heatmap (count and row percent), loss curves, gradient
norms, misclassified images; the report's figures reuse its helpers. matplotlib's backend and the atomic save are
the data layer's (skipnet.data.preview), shared with the preview."""

import itertools

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from ..data.preview import save


def confusion_heatmap(ax, matrix, classes, title):
    """A heatmap with 'count\nrow%' in each cell, as in the study's Figures 2-4 (drawn with matplotlib alone:
    seaborn, and the scipy.stats it loads, took 0.75 s of every evaluate stage)."""
    matrix = np.asarray(matrix)
    rows = matrix.sum(axis=1, keepdims=True)
    percent = np.divide(matrix * 100.0, rows, out=np.zeros(matrix.shape), where=rows > 0)
    image = ax.imshow(matrix, cmap="YlOrBr", aspect="auto")
    ax.figure.colorbar(image, ax=ax)
    ticks = np.arange(len(classes))
    ax.set_xticks(ticks, classes)
    ax.set_yticks(ticks, classes)
    ax.set_xticks(ticks[1:] - 0.5, minor=True)
    ax.set_yticks(ticks[1:] - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=0.5)
    ax.tick_params(which="both", length=0)
    ax.spines[:].set_visible(False)
    dark = image.norm(matrix) > 0.6  # the colormap's darker part: white text there
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(
            j, i, f"{count}\n{percent[i, j]:.1f}%", ha="center", va="center", color="white" if dark[i, j] else "black"
        )
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    ax.set_title(title)


def confusion_png(matrix, classes, title, path):
    fig, ax = plt.subplots(figsize=(8, 6))
    confusion_heatmap(ax, matrix, classes, title)
    fig.tight_layout()
    save(fig, path)


def loss_png(curves, path, title="Training loss", ylim=None):
    """curves: {label: [(iteration, loss), ...]}; the study's Figure 5 when given several."""
    fig, ax = plt.subplots(figsize=(8, 6))
    plotted = [ax.plot(*zip(*points), label=label, linewidth=2) for label, points in curves.items() if points]
    ax.set_xlabel("Iterations")
    ax.set_ylabel("Loss")
    ax.set_title(title)
    if ylim:
        ax.set_ylim(*ylim)
    ax.grid(True)
    if plotted:
        ax.legend()
    fig.tight_layout()
    save(fig, path)


def integer_ticks(ax):
    """Epochs are whole numbers: no 2.5, 7.5 ticks."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def epochs_axes(ax_loss, ax_acc, epochs, label=""):
    """Train vs val loss and accuracy per epoch: a widening gap is overfitting."""
    x = [e["epoch"] for e in epochs]
    prefix = f"{label} " if label else ""
    for split, style in (("train", "-"), ("val", "--")):
        ax_loss.plot(x, [e[f"{split}_loss"] for e in epochs], style, label=f"{prefix}{split}", linewidth=1.8)
        ax_acc.plot(x, [e[f"{split}_acc"] for e in epochs], style, label=f"{prefix}{split}", linewidth=1.8)
    for ax, name in ((ax_loss, "Loss"), (ax_acc, "Accuracy")):
        ax.set_xlabel("Epoch")
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        integer_ticks(ax)


def epochs_png(epochs, path, title):
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.5))
    epochs_axes(ax_loss, ax_acc, epochs)
    fig.suptitle(title)
    fig.tight_layout()
    save(fig, path)


def grad_norms_png(records, path, title):
    """One log-scale series per parameter group: how gradients reach each stage."""
    fig, ax = plt.subplots(figsize=(8, 6))
    groups = [k for k in (records[0] if records else {}) if k != "step"]
    steps = [r["step"] for r in records]
    for name in groups:
        ax.plot(steps, [max(r[name], 1e-30) for r in records], label=name, linewidth=1.5)
    ax.set_yscale("log")
    ax.set_xlabel("Iterations")
    ax.set_ylabel("Gradient L2 norm")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if groups:
        ax.legend()
    else:  # a run shorter than display_interval logged no norms
        ax.text(
            0.5,
            0.5,
            "no gradient norms logged (fewer steps than display_interval)",
            ha="center",
            transform=ax.transAxes,
        )
    fig.tight_layout()
    save(fig, path)


def misclassified_rows(labels, probs, pairs=3, per_row=8):
    """[(row title, [image index, ...])]: the `pairs` most confused (true, predicted) pairs, each with its
    most confident mistakes, then the most confident mistakes overall."""
    predicted, confidence = probs.argmax(1), probs.max(1)
    wrong = np.flatnonzero(predicted != labels)
    wrong = wrong[np.argsort(-confidence[wrong], kind="stable")]
    counts = {}
    for i in wrong:
        counts[(labels[i], predicted[i])] = counts.get((labels[i], predicted[i]), 0) + 1
    top = sorted(counts, key=lambda pair: -counts[pair])[:pairs]
    rows = [
        ((a, b, counts[(a, b)]), [i for i in wrong if (labels[i], predicted[i]) == (a, b)][:per_row]) for a, b in top
    ]
    return rows + [(None, list(wrong[:per_row]))]


def misclassified_png(images, labels, probs, classes, path, per_row=8):
    """Which photographs the model confuses: a row per most-confused pair, then the surest mistakes; each row a
    subfigure whose title sits above its images."""
    rows = misclassified_rows(labels, probs, per_row=per_row)
    fig = plt.figure(figsize=(per_row * 1.5, len(rows) * 2.1), layout="constrained")
    for (pair, picks), sub in zip(rows, fig.subfigures(len(rows), 1, squeeze=False).ravel()):
        sub.suptitle(
            f"true {classes[pair[0]]}, predicted {classes[pair[1]]} ({pair[2]} images)"
            if pair
            else "most confident mistakes",
            x=0.01,
            ha="left",
            fontsize=9,
            fontweight="bold",
        )
        for ax, i in itertools.zip_longest(sub.subplots(1, per_row), picks):
            ax.axis("off")
            if i is not None:
                ax.imshow(images[i], interpolation="nearest")
                ax.set_title(
                    f"{classes[labels[i]]} -> {classes[probs[i].argmax()]}\n{100 * probs[i].max():.0f}%", fontsize=7
                )
    save(fig, path)
