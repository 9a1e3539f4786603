"""Gradient-flow evidence: per-stage norms, and what skip connections do to them."""

import copy
import dataclasses
import math

from conftest import MAIN_PARAMS
from skipnet.training import engine
from skipnet.training.history import TrainLog

STAGES = {"stem", "c64", "c128", "c256", "fc"}


def imbalance(history, first=3):
    """Peak of max(stem/fc, fc/stem) over the first logged steps (Adam evens it out within a few steps)."""
    return max(10 ** abs(math.log10(r["stem"]) - math.log10(r["fc"])) for r in history.grad_norms[:first])


def run(tiny_sample, skip):
    """The gradient norms of one epoch of MyNet-16 on 48 images (3 steps of 16), through the engine's own epoch step."""
    train, val = tiny_sample
    p = copy.deepcopy(MAIN_PARAMS)
    p.update(dataset="sample", depth=16, epochs=1, batch_size=16, display_interval=1, skip_connections=skip)
    setup = engine.setup(p, train, val, log=lambda *_: None)
    setup = dataclasses.replace(setup, train=tuple(t[:48] for t in setup.train))
    history = TrainLog()
    engine.train_one_epoch(setup, engine.wrap(setup, p), p, epoch=0, step=0, history=history)
    return history


def test_without_skips_the_stem_to_classifier_imbalance_is_100x_worse(tiny_sample):
    with_skips = run(tiny_sample, True)
    without = run(tiny_sample, False)
    for h in (with_skips, without):
        assert len(h.grad_norms) == 3  # one record per step at display_interval 1 (48 images / 16)
        assert all(set(r) == STAGES | {"step"} for r in h.grad_norms)
        assert all(r[s] > 0 for r in h.grad_norms for s in STAGES)
    ratio = imbalance(without) / imbalance(with_skips)
    assert ratio >= 100, (imbalance(without), imbalance(with_skips))
