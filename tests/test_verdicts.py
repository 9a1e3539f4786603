"""The report's inference on hand-made records with known answers (no data, no training): the study's numbers
reproduced or not, Welch comparisons with Holm within a family, McNemar outside the verdicts, the hardware of
each group, and each of the study's claims."""

import math
import re

import pytest

from skipnet.analysis import report, report_figures, stats, study, tables, verdicts
from test_report import MAIN, record, seeds


def row(table, *cells):
    """The markdown table row whose cells start with `cells`."""
    for line in table.splitlines():
        got = [c.strip() for c in line.strip("|").split("|")]
        if got[: len(cells)] == list(cells):
            return got
    raise AssertionError(f"no row {cells} in\n{table}")


def logit(p):
    return math.log(p / (1 - p))


def test_reproduction_rows_give_the_prediction_interval_and_tost_verdict():
    runs = seeds("mynet16-lr1e-3", [0.50, 0.52, 0.54]) + [record("net3-64px", 0.60, arch="net3", image_size=64)]
    configs = tables.configurations(runs, MAIN)
    by = {(r.configuration, r.metric): r for r in verdicts.reproduction_rows(configs)}
    got = by["mynet16-lr1e-3", "val_acc"]
    # on the logit scale: mean m and sd s of the three logits, then m +- t(0.975, 2) * s * sqrt(4/3), back
    z = [logit(v) for v in (0.50, 0.52, 0.54)]
    m, s = sum(z) / 3, math.sqrt(sum((x - sum(z) / 3) ** 2 for x in z) / 2)
    half = 4.302653 * s * math.sqrt(4 / 3)
    low, high = (1 / (1 + math.exp(-(m + d))) for d in (-half, half))
    assert (got.label, got.study, got.n) == ("MyNet-16, lr 1e-3", 0.5452, 3)
    assert (got.mean, got.sd) == (pytest.approx(0.52), pytest.approx(0.02))
    assert (got.pred_low, got.pred_high) == (pytest.approx(low), pytest.approx(high)) and not got.outside
    assert (got.p_tost, got.p_diff) == (pytest.approx(0.359, abs=5e-4), pytest.approx(0.161, abs=5e-4))  # test_stats
    assert got.verdict == stats.INCONCLUSIVE == "not decided at this n"
    assert by["net3-64px", "val_acc"].verdict == stats.too_few(1) == "not decided (n = 1)"
    far = verdicts.reproduction_rows(tables.configurations(seeds("mynet16-lr1e-3", [0.40, 0.41, 0.42]), MAIN))
    assert far[0].verdict == stats.DIFFERS and far[0].outside
    # rendered: the same numbers, and the flag where the study's number is outside
    table = verdicts.reproduction(configs)
    cells = row(table, "MyNet-16, lr 1e-3", "mynet16-lr1e-3", "val_acc")
    assert cells[3:8] == ["54.52%", "3", "52.00%", "2.00%", f"[{100 * low:.2f}%, {100 * high:.2f}%]"]
    assert cells[9:12] == ["0.359", "0.161", "not decided at this n"]
    assert "outside our prediction interval" not in table
    far_table = verdicts.reproduction(tables.configurations(seeds("mynet16-lr1e-3", [0.40, 0.41, 0.42]), MAIN))
    assert "**the study's number is outside our prediction interval**" in far_table


def test_comparisons_are_welch_over_all_seeds_with_holm_in_the_family():
    base = seeds("mynet16-lr1e-3", [0.50, 0.52, 0.54])
    improved = seeds("mynet16-improved", [0.60, 0.62, 0.64, 0.66], **study.IMPROVED)
    noskip = seeds("mynet16-noskip", [0.20, 0.21], skip_connections=False)
    found = verdicts.comparisons(tables.configurations(base + improved + noskip, MAIN))
    by = {c.claim: c for c in found}
    imp, skip = by[study.COMPARISONS[0][0]], by[study.COMPARISONS[2][0]]
    assert imp.welch["diff"] == pytest.approx(0.11) and (imp.welch["n_a"], imp.welch["n_b"]) == (4, 3)
    # two tested comparisons in the family (skips vs none has p too): Holm doubles the smaller p, at most 1
    ps = sorted(c.welch["p"] for c in found if c.welch["p"] is not None)
    assert len(ps) == 2 and min(c.holm for c in found if c.holm is not None) == pytest.approx(2 * ps[0])
    assert imp.verdict == stats.holds_higher("A") == "holds: A higher"
    assert skip.welch["p"] is not None and skip.verdict == stats.too_few(3, 2)  # a p, but n = 2
    table = verdicts.comparisons_table(found)
    got = row(table, study.STUDY_FAMILY, study.COMPARISONS[0][0], "mynet16-improved", "mynet16-lr1e-3")
    assert got[4].startswith("+11.00 [") and got[4].endswith("(n=4, 3)") and got[7] == "holds: A higher"
    assert got[8] == "r = +1.00 (3 seeds)"  # the pairing correlation over seeds in common, shown, not used


def test_mcnemar_is_a_model_level_table_outside_the_verdicts():
    base, improved = seeds("mynet16-lr1e-3", [0.50]), seeds("mynet16-improved", [0.60], **study.IMPROVED)
    improved[0].predictions = record("x", 0.6, right=set(range(12))).predictions
    base[0].predictions = record("x", 0.5, right=set(range(9)) | {19}).predictions
    found = verdicts.comparisons(tables.configurations(base + improved, MAIN))
    table = verdicts.mcnemar_table(found)
    # only A right: images 9, 10, 11; only B right: image 19 -> exact two-sided p = 2 * 5/16 = 0.625
    assert row(table, study.COMPARISONS[0][0], "60146") == [study.COMPARISONS[0][0], "60146", "3 / 1", "0.625"]
    assert "not whether their recipes do" in table
    assert "McNemar" not in verdicts.comparisons_table(found)


def test_each_group_shows_its_hardware_and_the_split_between_kinds():
    amd, intel, gpu = (
        "cpu: AMD EPYC (AVX512), 2 threads",
        "cpu: Intel(R) Xeon(R) Processor (AVX512), 2 threads",
        "NVIDIA H200",
    )
    runs = seeds("mynet16-lr1e-3", [0.50, 0.52, 0.54, 0.56])
    for r, machine in zip(runs, (amd, intel, intel, gpu)):
        r.machine = machine
    assert tables.hardware_counts(runs) == "AMD EPYC (AVX512) 1, Intel Xeon (AVX512) 2, NVIDIA H200 1"
    configs = tables.configurations(runs, MAIN)
    assert (
        row(verdicts.reproduction(configs), "MyNet-16, lr 1e-3", "mynet16-lr1e-3", "val_acc")[12]
        == "AMD EPYC (AVX512) 1, Intel Xeon (AVX512) 2, NVIDIA H200 1"
    )
    split = verdicts.hardware_split(configs)
    got = row(split, "mynet16-lr1e-3", "Intel Xeon (AVX512)")
    assert got[2] == "2" and got[3].startswith("53.00% [") and got[3].endswith("(n=2)")
    assert verdicts.hardware_split(tables.configurations(runs[1:3], MAIN)) == ""  # one kind: nothing to split


def test_the_study_claims_each_get_their_verdict():
    # (a) Net3 above MyNet-16; (b) lr 1e-4: lower train loss and higher val loss, val accuracy not lower
    mynet = seeds("mynet16-lr1e-3", [0.50, 0.52, 0.54])
    lr4 = seeds("mynet16-lr1e-4", [0.51, 0.52, 0.53], lr=0.0001)
    net3 = seeds("net3-64px", [0.60, 0.61, 0.62], arch="net3", image_size=64)
    for i, r in enumerate(lr4):
        r.headline.update(train_loss=0.1 + 0.01 * i, val_loss=2.4 + 0.01 * i)
    for i, r in enumerate(mynet):
        r.headline.update(train_loss=0.45 + 0.01 * i, val_loss=1.5 + 0.01 * i)
    for r in mynet + net3:  # (c) dog lowest in every MyNet-16 run, in one of three Net3 runs
        for c in r.classes["per_class"]:
            r.classes["per_class"][c]["recall"] = 0.2 if c == "dog" else 0.6
    net3[0].classes["per_class"]["boat"]["recall"] = net3[1].classes["per_class"]["boat"]["recall"] = 0.1
    sweep = {}
    for depth, gap in ((1, 0.0), (2, 0.05), (4, 0.1), (8, 0.2)):  # (f) the skip gap grows with depth
        for skip in (True, False):
            sweep[depth, skip] = seeds(
                f"sweep-d{depth}-{'skip' if skip else 'noskip'}",
                [0.3 + (gap if skip else 0)],
                depth=depth,
                skip_connections=skip,
                epochs=5,
            )
    configs = tables.configurations(mynet + lr4 + net3 + [r for rs in sweep.values() for r in rs], MAIN)
    found = {c.claim: c for c in verdicts.claim_rows(configs, report.sweep_points(report.sweeps(configs)))}
    verdict = {
        name: found[name].verdict
        for name in (
            "(a) MyNet-16 (lr 1e-3) is below Net3",
            "(b) lr 1e-4 ends with a lower train loss than lr 1e-3",
            "(b) lr 1e-4 ends with a higher val loss than lr 1e-3",
            "(b) lr 1e-4 ends with a lower val accuracy than lr 1e-3",
            "(c) dog is the worst class of MyNet-16",
            "(c) dog is the worst class of Net3",
            "(d) MyNet-16's train-val accuracy gap is larger than Net3's",
            "(f) skip connections matter more as depth grows",
            "(e) gradient norms grow over training (gradient explosion) at lr 1e-3",
        )
    }
    assert list(verdict.values()) == [
        "holds",
        "holds",
        "holds",
        "not shown",
        "holds",
        "not shown",
        "holds",
        "not shown",
        "not decided (n = 0)",
    ]
    # (c) MyNet-16: dog lowest in 3 of 3, P = 0.2^3 = 0.008, fifth smallest of 8 p: Holm's 4 * 0.008 is below the
    # running maximum set by (a), third smallest: 6 * 0.006458
    got, a = found["(c) dog is the worst class of MyNet-16"], found["(a) MyNet-16 (lr 1e-3) is below Net3"]
    assert got.test == "exact binomial: dog lowest in 3 of 3 runs, vs 1/5 by chance" and got.p == pytest.approx(0.008)
    assert got.holm == pytest.approx(6 * a.p) and got.holm == a.holm
    # (d): train accuracy 0.8 in every made-up run, so the gaps are 30/28/26 against 20/19/18 points
    assert "A - B = +9.00 points" in found["(d) MyNet-16's train-val accuracy gap is larger than Net3's"].test
    # (f): a perfect rank order of 4 depths, exact p = 2/24 = 0.0833: not enough alone
    got = found["(f) skip connections matter more as depth grows"]
    assert "tau = +1.00" in got.test and got.p == pytest.approx(2 / 24)
    # (e): no record above kept its gradient norms; three runs whose norms all rise: one-sided sign test 0.5^3
    for r in mynet:
        r.grad_norms = [{"step": s, "log10_stem": 0.01 * s, "log10_fc": 0.02 * s} for s in range(5, 105, 5)]
    (got,) = [c for c in verdicts.claim_rows(configs, []) if c.claim.startswith("(e)")]
    assert "rising in 3 of 3 runs" in got.test and got.p == 0.125 and got.verdict == stats.NOT_SHOWN  # 0.5^3
    assert row(verdicts.claims(configs, []), got.claim)[3:] == ["0.125", "-", "not shown"]  # rendered


def test_per_class_intervals_stay_inside_zero_to_one_hundred():
    runs = seeds("mynet16-lr1e-3", [0.5, 0.5, 0.5])
    for r, recall in zip(runs, (0.98, 0.99, 1.0)):
        r.classes["per_class"]["motorcycle"]["recall"] = recall
    got = row(verdicts.per_class(tables.configurations(runs, MAIN)), "mynet16-lr1e-3")
    low, high = (float(x) for x in re.search(r"\[([\d.]+), ([\d.]+)\]", got[-1]).groups())
    assert 0 <= low < 99.0 < high <= 100
    assert stats.summary([0.98, 0.99, 1.0])["high"] > 1  # what the plain t-interval would say


def test_claim_e_has_its_figure_from_the_runs_that_kept_their_norms(tmp_path):
    runs = seeds("mynet16-lr1e-3", [0.50, 0.52, 0.54])
    assert report.claims(report.group(runs, MAIN))[1] == {}  # no norms kept: no figure
    runs[0].grad_norms = [{"step": s, "log10_stem": 0.0, "log10_fc": 1.0} for s in (5, 10)]
    runs[1].grad_norms = [{"step": s, "log10_stem": 2.0, "log10_fc": -1.0} for s in (5, 10, 15)]
    assert report_figures.grad_norm_means(runs[:2]) == [
        {"step": 5, "stem": 10.0, "fc": 1.0},
        {"step": 10, "stem": 10.0, "fc": 1.0},
    ]  # steps both logged
    md, figs = report.claims(report.group(runs, MAIN))
    assert "![gradient norms per stage at lr 1e-3](gradient_norms.png)" in md and list(figs) == ["gradient_norms.png"]
    figs["gradient_norms.png"](tmp_path / "g.png")
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
