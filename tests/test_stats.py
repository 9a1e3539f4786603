"""The statistics on hand-made inputs with known answers (no data, no training)."""

import math

import pytest

from skipnet.analysis import stats


def test_t_interval_of_a_fixed_sample():
    s = stats.summary([1.0, 2.0, 3.0, 4.0, 5.0])
    # mean 3, sd sqrt(2.5), t(0.975, 4) = 2.776445: half-width 2.776445 * sqrt(2.5) / sqrt(5) = 1.963243
    assert s["n"] == 5 and s["mean"] == 3.0 and s["sd"] == pytest.approx(1.5811388)
    assert (s["low"], s["high"]) == pytest.approx((3 - 1.963243, 3 + 1.963243), abs=1e-6)


def test_exact_mcnemar_on_a_constructed_table():
    # 10 images only A got right, 2 only B, 5 both, 3 neither: two-sided exact p = 2 * P(X <= 2 | 12, 1/2)
    truth = [0] * 20
    a = [0] * 10 + [1] * 2 + [0] * 5 + [1] * 3
    b = [1] * 10 + [0] * 2 + [0] * 5 + [1] * 3
    got = stats.mcnemar(truth, a, b)
    assert (got["a_only"], got["b_only"]) == (10, 2)
    assert got["p"] == pytest.approx(2 * (1 + 12 + 66) / 4096)
    assert stats.mcnemar([0, 1], [0, 1], [0, 1]) == {"a_only": 0, "b_only": 0, "p": 1.0}


def _t2_upper(t):
    """P(T > t) for Student's t with 2 degrees of freedom, in closed form: (1 - t / sqrt(t^2 + 2)) / 2."""
    return (1 - t / math.sqrt(t * t + 2)) / 2


def test_prediction_interval_for_one_more_run():
    s = stats.summary([1.0, 2.0, 3.0])
    # mean 2, sd 1, t(0.975, 2) = 4.302653: 2 +- 4.302653 * sqrt(1 + 1/3) = 2 +- 4.968275
    assert (s["pred_low"], s["pred_high"]) == pytest.approx((2 - 4.968275, 2 + 4.968275), abs=1e-6)


def test_intervals_stay_inside_what_is_possible():
    for values in ([0.98, 0.99, 1.0], [0.0, 0.01, 0.02], [0.3, 0.9, 0.99]):
        s = stats.summary(values, "proportion")
        assert 0 <= s["pred_low"] <= s["low"] <= s["mean"] <= s["high"] <= s["pred_high"] <= 1, (values, s)
    loss = stats.summary([0.01, 0.02, 0.5], "positive")
    assert 0 < loss["pred_low"] < loss["low"] and loss["high"] < loss["pred_high"]
    # the same values on the plain scale leave [0, 1]: what the logit scale is for
    assert stats.summary([0.98, 0.99, 1.0])["pred_high"] > 1


def test_one_value_or_no_spread_gives_no_interval_and_no_verdict():
    assert stats.summary([0.5]) == {
        "n": 1,
        "mean": 0.5,
        "sd": None,
        "low": None,
        "high": None,
        "pred_low": None,
        "pred_high": None,
    }
    same = stats.summary([0.25, 0.25, 0.25])
    assert same["sd"] == 0.0 and same["low"] is None and same["pred_low"] is None
    assert stats.equivalence([0.5, 0.5, 0.5], 0.5, 0.03)["verdict"] == "not decided (n = 3)"
    assert stats.equivalence([0.5, 0.52], 0.5, 0.03)["verdict"] == "not decided (n = 2)"
    assert stats.welch([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])["p"] is None
    assert not stats.decided([0.5, 0.5, 0.5], [0.4, 0.4, 0.4])  # two constant sides: no spread to judge by
    assert stats.decided([0.5, 0.6, 0.7], [0.4, 0.4, 0.4]) and not stats.decided([0.5, 0.6], [0.4, 0.5, 0.6])


def test_tost_against_the_closed_form_at_two_degrees_of_freedom():
    # mean 0.52, sd 0.02, se 0.02 / sqrt 3; study 0.5452 +- 0.03
    got = stats.equivalence([0.50, 0.52, 0.54], 0.5452, 0.03)
    se = 0.02 / math.sqrt(3)
    p_low, p_high = _t2_upper((0.52 - 0.5152) / se), _t2_upper((0.5752 - 0.52) / se)
    assert got["p_tost"] == pytest.approx(max(p_low, p_high), abs=1e-9)  # 0.3590: not shown equivalent
    assert got["p_diff"] == pytest.approx(2 * _t2_upper(abs(0.52 - 0.5452) / se), abs=1e-9)  # 0.1608
    t90 = 2.919986  # t(0.95, 2)
    assert (got["low90"], got["high90"]) == pytest.approx((0.52 - t90 * se, 0.52 + t90 * se), abs=1e-6)
    assert got["verdict"] == "not decided at this n"
    close = stats.equivalence([0.54, 0.545, 0.55], 0.545, 0.03)
    assert close["p_tost"] == pytest.approx(_t2_upper(0.03 / (0.005 / math.sqrt(3))), abs=1e-9)  # 0.0046
    assert close["verdict"] == "reproduced within the margin"
    assert stats.equivalence([0.40, 0.41, 0.42], 0.5452, 0.03)["verdict"] == "differs"


def test_welch_against_its_formula():
    a, b = [1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 4.0, 6.0, 8.0, 10.0]
    got = stats.welch(a, b)
    # variances 2.5 and 10: se = sqrt(2.5/5 + 10/5) = sqrt 2.5; Welch-Satterthwaite df = 2.5^2 / (0.5^2/4 + 2^2/4)
    se, df = math.sqrt(2.5), 2.5**2 / (0.5**2 / 4 + 2**2 / 4)
    assert df == pytest.approx(5.882353, abs=1e-6) and got["diff"] == -3.0
    assert got["p"] == pytest.approx(0.1075, abs=5e-5)  # 2 * P(T_5.882 > 3 / sqrt 2.5 = 1.897367), 4 digits
    half = 2.458757 * se  # t(0.975, 5.882353) * sqrt 2.5 = 3.88774
    assert (got["low"], got["high"]) == pytest.approx((-3 - half, -3 + half), abs=1e-3)
    assert stats.welch([0.5], [0.4, 0.5, 0.6])["p"] is None


def test_holm_on_a_fixed_list():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.02, 0.03, 0.06, 0.06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([None, 0.01, 0.04]) == [None, pytest.approx(0.02), pytest.approx(0.04)]
    assert stats.holm([None]) == [None]


def test_sign_test_and_trend():
    # dog lowest in 4 of 5 runs against 1/5 by chance: P(X >= 4) = 5 * 0.2^4 * 0.8 + 0.2^5 = 0.00672
    assert stats.sign_test(4, 5, 0.2) == pytest.approx(0.00672)
    assert stats.sign_test(0, 0, 0.2) is None
    tau, p = stats.trend([1, 2, 4, 8], [0.1, 0.2, 0.3, 0.4])
    # exact: of the 24 orders of 4 values, one is increasing and one decreasing: two-sided p = 2/24
    assert tau == pytest.approx(1.0) and p == pytest.approx(2 / 24)
    assert stats.trend([1, 2], [0.1, 0.2]) == (None, None)
