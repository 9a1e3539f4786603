"""Which images each rank trains on in an epoch, and how each is augmented: seeded by (seed, epoch) alone, so a
resumed run draws what an uninterrupted one would, and dealt so that any number of ranks sees what one rank does."""

import torch
from torch.nn import functional as F

from ..config.seeds import stream_seed


def epoch_order(n, seed, epoch, rank, world):
    """This rank's sample order for an epoch: a seeded permutation, dealt round-robin across ranks.

    Seeded by (seed, epoch) alone, so a resumed run draws exactly what an
    uninterrupted one would; ranks get disjoint, equally long shards.
    """
    g = torch.Generator().manual_seed(stream_seed(seed, "order", epoch))
    perm = torch.randperm(n, generator=g)
    return perm[: shard_size(n, world) * world][rank::world]


def shard_size(n, world):
    return n // world


def augment_draws(n, padding, generator, device):
    """An epoch's augmentation draws, one column per position of its order: (crop dy, crop dx, flip). Drawn on the
    host from the epoch's own stream (the same draws on every device) and copied to the device once an epoch."""
    draws = torch.stack(
        [
            torch.randint(0, 2 * padding + 1, (n,), generator=generator),
            torch.randint(0, 2 * padding + 1, (n,), generator=generator),
            (torch.rand(n, generator=generator) < 0.5).long(),
        ]
    )
    return draws.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else draws


def augment(x, padding, flip, draws):
    """Random crop with zero padding and/or horizontal flip, per image, on the device, from this batch's columns of
    `augment_draws`; the result is channels_last, as the model takes it."""
    n, _, h, w = x.shape
    dy, dx, flipped = draws[0, :n], draws[1, :n], draws[2, :n].bool()
    if padding:
        x = F.pad(x, (padding,) * 4)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None].expand(
            n, x.shape[1], h, w + 2 * padding
        )
        x = x.gather(2, rows)
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :].expand(n, x.shape[1], h, w)
        x = x.gather(3, cols)
    if flip:
        x = torch.where(flipped[:, None, None, None], x.flip(3), x)
    return x.contiguous(memory_format=torch.channels_last)


def rank_draws(n, rank, world, padding, generator, device):
    """This rank's columns of the epoch's augmentation draws for all n images: column g belongs to position g of the
    epoch's permutation and the rank holds positions rank, rank + world, ... (epoch_order), so each image is
    augmented as a one-rank run of the same seed augments it."""
    return augment_draws(n, padding, generator, device)[:, rank::world][:, : shard_size(n, world)]
