"""How far a number moves over seeds, and what a difference shows: scipy.stats and statsmodels do the tests.

- `summary`: mean, sd, a 95% interval for the mean and a 95% prediction interval for one new run. Accuracies
  and recalls are computed on the logit scale and losses on the log scale, so an interval never leaves
  [0, 1] or goes below 0.
- `equivalence`: our mean against one number of the study: TOST within a margin, and a two-sided t-test.
- `welch`: the difference of two configurations' means over all their seeds (unpaired: two recipes with the
  same seed diverge at once, so a seed is no pairing).
- `holm`: Holm's step-down adjustment within a family of tests.
- `mcnemar`: the exact test of two trained models on the same images (about those models, not their recipes).
No verdict rests on fewer than MIN_N runs a side or on zero spread.
"""

import math
import statistics

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import DescrStatsW

LEVEL = 0.95
ALPHA = 1 - LEVEL
MIN_N = 3  # below this a side's sd is too uncertain to decide anything
_EPS = 1e-6  # a proportion of exactly 0 or 1 is pulled this far inside before its logit

# The verdict words, one vocabulary for every table of the report and the README's Table 1.
REPRODUCED = "reproduced within the margin"  # TOST: our mean is within the margin of the study's number
DIFFERS = "differs"  # the t-test: our mean is not the study's number
INCONCLUSIVE = "not decided at this n"  # enough runs, and neither TOST nor the t-test decides
HOLDS = "holds"  # significant (Holm-adjusted where a family is tested) in the direction stated
CONTRADICTED = "contradicted"  # significant the other way
NOT_SHOWN = "not shown"  # enough runs, not significant
MET, NOT_MET = "met", "not met"  # an aim of the improved recipe


def too_few(*ns):
    """The verdict where a side has fewer than MIN_N runs or nothing varies: nothing is decided."""
    return f"not decided (n = {', '.join(str(n) for n in ns)})"


def holds_higher(side):
    """HOLDS for a comparison of two configurations, naming the higher one."""
    return f"{HOLDS}: {side} higher"


SCALES = {
    "identity": (lambda x: x, lambda y: y),
    "proportion": (
        lambda p: math.log(min(max(p, _EPS), 1 - _EPS) / (1 - min(max(p, _EPS), 1 - _EPS))),
        lambda y: 1 / (1 + math.exp(-y)),
    ),
    "positive": (lambda x: math.log(max(x, _EPS)), math.exp),
}


def _spread(values):
    return len(values) >= 2 and statistics.stdev(values) > 1e-12 * max(1.0, abs(statistics.fmean(values)))


def summary(values, scale="identity"):
    """{n, mean, sd, low, high, pred_low, pred_high}: the mean with its 95% t-interval and the 95% prediction
    interval for one more run; intervals on `scale` (identity | proportion | positive), None for n < 2 or no spread."""
    n, mean = len(values), statistics.fmean(values)
    out = {
        "n": n,
        "mean": mean,
        "sd": statistics.stdev(values) if n >= 2 else None,
        "low": None,
        "high": None,
        "pred_low": None,
        "pred_high": None,
    }
    forward, back = SCALES[scale]
    moved = [forward(v) for v in values]
    if not _spread(moved):
        return out
    m, sd, t = statistics.fmean(moved), statistics.stdev(moved), stats.t.ppf(1 - ALPHA / 2, n - 1)
    out.update(
        low=back(m - t * sd / math.sqrt(n)),
        high=back(m + t * sd / math.sqrt(n)),
        pred_low=back(m - t * sd * math.sqrt(1 + 1 / n)),
        pred_high=back(m + t * sd * math.sqrt(1 + 1 / n)),
    )
    return out


def decided(*samples):
    """True when every sample has at least MIN_N values and the pooled values vary."""
    return all(len(s) >= MIN_N for s in samples) and any(_spread(list(s)) for s in samples)


def not_decided(*samples):
    return too_few(*(len(s) for s in samples))


def equivalence(values, target, margin):
    """Our mean against the study's `target`: TOST within +-margin (its 90% interval) and a two-sided t-test.

    verdict: REPRODUCED (TOST p < 0.05) | DIFFERS (t-test p < 0.05) | INCONCLUSIVE | too_few(n).
    """
    out = {
        "n": len(values),
        "target": target,
        "margin": margin,
        "p_tost": None,
        "p_diff": None,
        "low90": None,
        "high90": None,
    }
    if not decided(values):
        return {**out, "verdict": not_decided(values)}
    d = DescrStatsW(np.asarray(values, dtype=float))
    out["p_tost"] = float(d.ttost_mean(target - margin, target + margin)[0])
    out["p_diff"] = float(d.ttest_mean(target)[1])
    out["low90"], out["high90"] = (float(x) for x in d.tconfint_mean(alpha=2 * ALPHA))
    if out["p_tost"] < ALPHA:
        verdict = REPRODUCED
    elif out["p_diff"] < ALPHA:
        verdict = DIFFERS
    else:
        verdict = INCONCLUSIVE
    return {**out, "verdict": verdict}


def welch(a, b):
    """{n_a, n_b, diff (mean a - mean b), low, high (Welch 95%), p (Welch's t-test)}; None where a side has n < 2
    or neither varies."""
    out = {
        "n_a": len(a),
        "n_b": len(b),
        "diff": statistics.fmean(a) - statistics.fmean(b),
        "low": None,
        "high": None,
        "p": None,
    }
    if len(a) < 2 or len(b) < 2 or not (_spread(list(a)) or _spread(list(b))):
        return out
    res = stats.ttest_ind(a, b, equal_var=False)
    ci = res.confidence_interval(LEVEL)
    return {**out, "low": float(ci.low), "high": float(ci.high), "p": float(res.pvalue)}


def seed_correlation(a_by_seed, b_by_seed):
    """Pearson r of two configurations' values over the seeds both have (what pairing by seed would buy), or None."""
    seeds = sorted(set(a_by_seed) & set(b_by_seed))
    x, y = [a_by_seed[s] for s in seeds], [b_by_seed[s] for s in seeds]
    if len(seeds) < MIN_N or not (_spread(x) and _spread(y)):
        return None, len(seeds)
    return float(stats.pearsonr(x, y).statistic), len(seeds)


def holm(pvalues):
    """Holm-adjusted p for each p in the family (None stays None and does not count)."""
    tested = [p for p in pvalues if p is not None]
    if not tested:
        return list(pvalues)
    adjusted = iter(float(q) for q in multipletests(tested, method="holm")[1])
    return [None if p is None else next(adjusted) for p in pvalues]


def mcnemar(truth, predicted_a, predicted_b):
    """Exact McNemar test of two classifiers on the same images: {a_only, b_only, p}.

    a_only: images only A got right; b_only: only B. Under "equally accurate" each discordant image is
    A's or B's with probability 1/2, so the exact test is a two-sided binomial test on them.
    """
    a_only = sum(1 for t, a, b in zip(truth, predicted_a, predicted_b, strict=True) if a == t != b)
    b_only = sum(1 for t, a, b in zip(truth, predicted_a, predicted_b, strict=True) if b == t != a)
    p = float(stats.binomtest(a_only, a_only + b_only, 0.5).pvalue) if a_only + b_only else 1.0
    return {"a_only": a_only, "b_only": b_only, "p": p}


def sign_test(successes, n, chance):
    """Exact one-sided binomial test: more than `chance` of n runs show it? p, or None for n = 0."""
    return float(stats.binomtest(successes, n, chance, alternative="greater").pvalue) if n else None


def trend(x, y):
    """Kendall's tau of y with x and its two-sided p, exact for few points without ties (None for fewer than
    MIN_N points): a rank test whose p stays honest at n = 4 or 6, where Spearman's t approximation does not."""
    if len(x) < MIN_N or not _spread(list(y)):
        return None, None
    res = stats.kendalltau(x, y, method="auto")
    return float(res.statistic), float(res.pvalue)
