"""The statistics on hand-made inputs with known answers (no data, no training)."""
import pytest

from skipnet import stats


def test_t_interval_of_a_fixed_sample():
    s = stats.summary([1.0, 2.0, 3.0, 4.0, 5.0])
    # mean 3, sd sqrt(2.5), t(0.975, 4) = 2.776445: half-width 2.776445 * sqrt(2.5) / sqrt(5) = 1.963243
    assert s["n"] == 5 and s["mean"] == 3.0 and s["sd"] == pytest.approx(1.5811388)
    assert (s["low"], s["high"]) == pytest.approx((3 - 1.963243, 3 + 1.963243), abs=1e-6)


def test_one_value_has_no_interval_and_equal_values_a_point():
    assert stats.summary([0.5]) == {"n": 1, "mean": 0.5, "sd": None, "low": None, "high": None}
    assert stats.holds(stats.summary([0.5])) is None
    same = stats.summary([0.25, 0.25, 0.25])
    assert (same["sd"], same["low"], same["high"]) == (0.0, 0.25, 0.25)


def test_paired_difference_by_seed():
    # differences 0.1, 0.2, 0.3: mean 0.2, sd 0.1, t(0.975, 2) = 4.302653 -> half-width 0.248414
    d = stats.paired([0.6, 0.7, 0.8], [0.5, 0.5, 0.5])
    assert d["mean"] == pytest.approx(0.2) and d["sd"] == pytest.approx(0.1)
    assert (d["low"], d["high"]) == pytest.approx((0.2 - 0.248414, 0.2 + 0.248414), abs=1e-6)
    assert stats.holds(d) is False  # the interval reaches below zero
    assert d["p"] == pytest.approx(0.07418, abs=1e-4)  # t = 0.2 / (0.1 / sqrt 3) = 3.4641, 2 df
    assert stats.holds(stats.paired([0.6, 0.61, 0.62], [0.5, 0.5, 0.5])) is True


def test_exact_mcnemar_on_a_constructed_table():
    # 10 images only A got right, 2 only B, 5 both, 3 neither: two-sided exact p = 2 * P(X <= 2 | 12, 1/2)
    truth = [0] * 20
    a = [0] * 10 + [1] * 2 + [0] * 5 + [1] * 3
    b = [1] * 10 + [0] * 2 + [0] * 5 + [1] * 3
    got = stats.mcnemar(truth, a, b)
    assert (got["a_only"], got["b_only"]) == (10, 2)
    assert got["p"] == pytest.approx(2 * (1 + 12 + 66) / 4096)
    assert stats.mcnemar([0, 1], [0, 1], [0, 1]) == {"a_only": 0, "b_only": 0, "p": 1.0}
