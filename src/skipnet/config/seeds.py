"""One random stream per purpose, spawned from params.yaml's seed (numpy's SeedSequence), so that no two
purposes share draws: before, epoch e's augmentation stream was epoch e+1's order stream. Runs recorded before
this change keep their commit; a run after it is another draw of the same recipe."""

import numpy as np

PURPOSES = ("init", "order", "augment", "holdout")


def stream_seed(seed, purpose, *key):
    """A 64-bit seed for one purpose, e.g. stream_seed(60146, "order", epoch); distinct purposes and keys give
    statistically independent streams."""
    entropy = [seed, PURPOSES.index(purpose), *key]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0])
