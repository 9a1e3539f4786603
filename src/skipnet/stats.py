"""How far a number moves: t-intervals over seeds, paired differences, and the exact McNemar test.

The distributions and tests are scipy.stats' (the sample standard deviation is the standard library's);
these functions only choose the test and shape its answer for the report.
"""
import math
import statistics

from scipy import stats

LEVEL = 0.95


def summary(values):
    """{n, mean, sd, low, high}: the sample mean with its t-based 95% interval (no interval for n < 2)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return {"n": n, "mean": mean, "sd": None, "low": None, "high": None}
    sd = statistics.stdev(values)
    if sd <= 1e-12 * max(1.0, abs(mean)):  # equal values (up to rounding): the interval is the point
        return {"n": n, "mean": mean, "sd": 0.0, "low": mean, "high": mean}
    low, high = stats.t.interval(LEVEL, n - 1, loc=mean, scale=sd / math.sqrt(n))
    return {"n": n, "mean": mean, "sd": sd, "low": float(low), "high": float(high)}


def paired(a, b):
    """Mean of a - b over pairs (paired by seed), its 95% t-interval and the paired t-test's two-sided p."""
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    out = summary(diffs)
    out["p"] = float(stats.ttest_rel(a, b).pvalue) if len(diffs) >= 2 and out["sd"] else None
    return out


def mcnemar(truth, predicted_a, predicted_b):
    """Exact McNemar test of two classifiers on the same images: {a_only, b_only, p}.

    a_only: images only A got right; b_only: only B. Under "equally accurate" each discordant image is
    A's or B's with probability 1/2, so the exact test is a two-sided binomial test on them.
    """
    a_only = sum(1 for t, a, b in zip(truth, predicted_a, predicted_b, strict=True) if a == t != b)
    b_only = sum(1 for t, a, b in zip(truth, predicted_a, predicted_b, strict=True) if b == t != a)
    p = float(stats.binomtest(a_only, a_only + b_only, 0.5).pvalue) if a_only + b_only else 1.0
    return {"a_only": a_only, "b_only": b_only, "p": p}


def holds(interval):
    """True when a 95% interval of a difference excludes zero; None when there is no interval."""
    if interval["low"] is None:
        return None
    return interval["low"] > 0 or interval["high"] < 0
