"""The prepare stage's preview figure (a row of images per class), and the one way every figure is saved: files only
(matplotlib's Agg backend, never a window), written atomically."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..files import atomic_path  # noqa: E402


def save(fig, path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def preview_png(images, labels, classes, path, per_class=8):
    """A grid with a row of `per_class` images for each class."""
    fig, axes = plt.subplots(len(classes), per_class, figsize=(per_class * 1.2, len(classes) * 1.3), squeeze=False)
    for row, name in enumerate(classes):
        picks = np.flatnonzero(labels == row)[:per_class]
        for col in range(per_class):
            ax = axes[row, col]
            ax.axis("off")
            if col < len(picks):
                ax.imshow(images[picks[col]], interpolation="nearest")
        axes[row, 0].set_title(name, loc="left", fontsize=9)
    fig.tight_layout()
    save(fig, path)
