"""One random stream per purpose: no purpose or epoch shares another's draws."""

import torch

from skipnet.config.seeds import PURPOSES, stream_seed


def test_every_purpose_and_epoch_has_its_own_stream():
    seeds = {(p, e): stream_seed(60146, p, e) for p in PURPOSES for e in range(100)}
    assert len(set(seeds.values())) == len(seeds)  # no two streams start alike
    assert stream_seed(60146, "order", 3) == stream_seed(60146, "order", 3)  # a resumed run redraws the same
    assert stream_seed(60146, "order", 3) != stream_seed(60147, "order", 3)
    # the overlap it replaces: epoch e's augmentation stream was epoch e+1's order stream
    order = torch.randperm(1000, generator=torch.Generator().manual_seed(stream_seed(60146, "order", 4)))
    augment = torch.randperm(1000, generator=torch.Generator().manual_seed(stream_seed(60146, "augment", 3)))
    assert not torch.equal(order, augment)
