"""The misclassified-images figure picks the most confused pairs and the surest mistakes."""

import warnings

import numpy as np

from skipnet.analysis import run_figures


def test_misclassified_rows_pick_the_most_confused_pairs_then_the_surest_mistakes(tmp_path):
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    probs = np.array(
        [
            [0.1, 0.9, 0.0],
            [0.3, 0.7, 0.0],
            [0.9, 0.1, 0.0],  # two 0->1 mistakes
            [0.0, 0.2, 0.8],
            [0.0, 1.0, 0.0],  # one 1->2
            [0.6, 0.0, 0.4],
            [0.55, 0.0, 0.45],
            [0.9, 0.05, 0.05],
            [0.0, 0.0, 1.0],
        ]
    )  # three 2->0
    rows = run_figures.misclassified_rows(labels, probs, pairs=3, per_row=2)
    assert [pair for pair, _ in rows] == [(2, 0, 3), (0, 1, 2), (1, 2, 1), None]
    assert rows[0][1] == [7, 5]  # most confident first, at most per_row
    assert rows[3][1] == [0, 7]  # both 0.9 sure: the two surest mistakes overall, ties in image order
    images = np.zeros((9, 8, 8, 3), np.uint8)
    run_figures.misclassified_png(images, labels, probs, ["a", "b", "c"], tmp_path / "m.png")
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"


def test_misclassified_figure_lays_out_long_row_titles_without_a_warning(tmp_path):
    """Each row's title ("true motorcycle, predicted couch (2 images)") fits above its images: matplotlib lays the
    figure out with nothing to warn about (row titles drawn across the images warned "Tight layout not applied")."""
    labels = np.array([0, 0, 1, 2])
    probs = np.array([[0.1, 0.9, 0.0], [0.2, 0.8, 0.0], [0.0, 0.1, 0.9], [0.7, 0.2, 0.1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_figures.misclassified_png(
            np.zeros((4, 8, 8, 3), np.uint8), labels, probs, ["motorcycle", "couch", "boat"], tmp_path / "m.png"
        )
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"


def test_epoch_axes_tick_whole_epochs_only():
    import matplotlib.pyplot as plt

    epochs = [
        {"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.1 / e, "train_acc": 0.1 * e, "val_acc": 0.09 * e}
        for e in range(1, 21)
    ]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2)
    run_figures.epochs_axes(ax_loss, ax_acc, epochs)
    fig.canvas.draw()
    for ax in (ax_loss, ax_acc):
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
    plt.close(fig)
