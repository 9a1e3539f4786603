"""The report's inference, section by section: the study's numbers reproduced or not, comparisons between
configurations (Welch over all seeds, Holm within each family), McNemar about trained models, the hardware
behind each group, and the study's own claims (a)-(f). The verdicts are computed as data (Reproduction,
Comparison, Claim; their words are stats' one vocabulary), then rendered as markdown through tabulate."""

from dataclasses import dataclass

from . import stats, study
from .tables import (
    acc,
    by_seed,
    cell,
    find,
    hardware,
    hardware_counts,
    loss,
    markdown,
    pct,
    points,
    summarize,
    value,
)

DECIDE = (
    'Verdicts need n >= 3 runs a side and some spread; else "not decided (n = ..)". '
    "Intervals of accuracies are computed on the logit scale and of losses on the log scale, so none leaves "
    "what is possible."
)


def p_text(p):
    """A p value as the tables show it: three significant digits, "-" where there is none."""
    return "-" if p is None else f"{p:.3g}"


def metric_format(metric):
    """How a value of `metric` is written in every table: accuracy as a percentage, losses to three decimals."""
    return (lambda x: f"{100 * x:.2f}%") if metric == "val_acc" else (lambda x: f"{x:.3f}")


@dataclass(frozen=True)
class Reproduction:
    """One of the study's numbers against ours over seeds: a row of Table 1."""

    label: str  # the study's run, e.g. "MyNet-16, lr 1e-3"
    configuration: str
    metric: str
    study: float
    n: int
    mean: float
    sd: float | None
    pred_low: float | None  # where one more run of ours would land (95%)
    pred_high: float | None
    low90: float | None  # TOST's 90% interval of our mean
    high90: float | None
    p_tost: float | None
    p_diff: float | None
    verdict: str  # stats.REPRODUCED, DIFFERS, INCONCLUSIVE or too_few(n)
    hardware: str

    @property
    def outside(self):
        """The study's number lies outside our prediction interval."""
        return self.pred_low is not None and not self.pred_low <= self.study <= self.pred_high


def reproduction_rows(configs):
    """Per study number and configuration that matches it: ours (n, mean, sd), the prediction interval, TOST."""
    rows = []
    for name, (label, numbers) in study.REPORTED.items():
        for c in find(configs, name):
            for metric, number in numbers.items():
                s = summarize(c, metric)
                eq = stats.equivalence([value(r, metric) for r in c["runs"]], number, study.margin(metric, number))
                rows.append(
                    Reproduction(
                        label=label,
                        configuration=c["name"],
                        metric=metric,
                        study=number,
                        n=s["n"],
                        mean=s["mean"],
                        sd=s["sd"],
                        pred_low=s["pred_low"],
                        pred_high=s["pred_high"],
                        low90=eq["low90"],
                        high90=eq["high90"],
                        p_tost=eq["p_tost"],
                        p_diff=eq["p_diff"],
                        verdict=eq["verdict"],
                        hardware=hardware_counts(c["runs"]),
                    )
                )
    return rows


def reproduction(configs):
    """reproduction_rows as the report's markdown."""
    rows = []
    for r in reproduction_rows(configs):
        f = metric_format(r.metric)
        pred = "-" if r.pred_low is None else f"[{f(r.pred_low)}, {f(r.pred_high)}]"
        outside = " **the study's number is outside our prediction interval**" if r.outside else ""
        ci90 = "-" if r.low90 is None else f"[{f(r.low90)}, {f(r.high90)}]"
        rows.append(
            [
                r.label,
                r.configuration,
                r.metric,
                f(r.study),
                str(r.n),
                f(r.mean),
                "-" if r.sd is None else f(r.sd),
                pred + outside,
                ci90,
                p_text(r.p_tost),
                p_text(r.p_diff),
                r.verdict,
                r.hardware,
            ]
        )
    if not rows:
        return "No run matches a row of the study's Table 1 (20 epochs, batch 128, the study's recipe, no hold-out).\n"
    return (
        f"Each of the study's numbers (one run) against ours over seeds. Prediction interval: where one more run "
        f"of ours would land (95%). TOST: is our mean within +-{100 * study.ACC_MARGIN:g} points (accuracy) or "
        f"+-{100 * study.LOSS_MARGIN:g}% of the study's number (losses) of it; its 90% interval, p, and a "
        f'two-sided t-test of "equal". {DECIDE}\n\n'
        + markdown(
            rows,
            [
                "study's run",
                "configuration",
                "metric",
                "study",
                "n",
                "our mean",
                "sd",
                "95% prediction interval",
                "90% interval (TOST)",
                "p TOST",
                "p differs",
                "verdict",
                "hardware",
            ],
        )
    )


@dataclass(kw_only=True)
class Comparison:
    """Configuration A against B in final val accuracy: Welch over all seeds; Holm's p within its family and the
    verdict it gives, set by adjust() over the family."""

    family: str
    claim: str
    a: dict  # the configurations (tables.configurations)
    b: dict
    values: tuple  # (A's final val accuracies, B's)
    welch: dict  # stats.welch
    r: float | None  # their correlation over the seeds both have (shown, not used)
    pairs: int  # seeds both have
    holm: float | None = None
    verdict: str | None = None


def _compare(family, claim, a, b):
    va, vb = [value(r, "val_acc") for r in a["runs"]], [value(r, "val_acc") for r in b["runs"]]
    r, pairs = stats.seed_correlation(
        {s: value(x, "val_acc") for s, x in by_seed(a).items()}, {s: value(x, "val_acc") for s, x in by_seed(b).items()}
    )
    return Comparison(
        family=family, claim=claim, a=a, b=b, values=(va, vb), welch=stats.welch(va, vb), r=r, pairs=pairs
    )


def adjust(found):
    """Holm within each family; then each comparison's verdict from its adjusted p."""
    for family in dict.fromkeys(c.family for c in found):
        members = [c for c in found if c.family == family]
        for c, q in zip(members, stats.holm([c.welch["p"] for c in members])):
            c.holm = q
            c.verdict = verdict(c)
    return found


def verdict(c):
    va, vb = c.values
    if not stats.decided(va, vb):
        return stats.not_decided(va, vb)
    if c.holm is not None and c.holm < stats.ALPHA:
        return stats.holds_higher("A" if c.welch["diff"] > 0 else "B")
    return stats.NOT_SHOWN


def comparisons(configs):
    """The declared comparisons whose configurations both have runs, Holm-adjusted within the family."""
    return adjust(
        [
            _compare(study.STUDY_FAMILY, claim, a, b)
            for claim, ma, mb in study.COMPARISONS
            for a in find(configs, ma)
            for b in find(configs, mb)
        ]
    )


def points_of(c):
    """A comparison's difference of val accuracy in points, with its Welch interval and both n."""
    w = c.welch
    return points({"mean": w["diff"], "low": w["low"], "high": w["high"], "n": f"{w['n_a']}, {w['n_b']}"})


def _pairing(c):
    return f"r = {c.r:+.2f} ({c.pairs} seeds)" if c.r is not None else f"- ({c.pairs} seeds in common)"


def comparisons_table(found):
    rows = [
        [
            c.family,
            c.claim,
            c.a["name"],
            c.b["name"],
            points_of(c),
            p_text(c.welch["p"]),
            p_text(c.holm),
            c.verdict,
            _pairing(c),
            f"{hardware_counts(c.a['runs'])} / {hardware_counts(c.b['runs'])}",
        ]
        for c in found
    ]
    return (
        "Final val accuracy, A - B in points over all seeds of each (unpaired): difference of means [Welch 95% "
        "interval] (n A, n B), Welch's t-test p, and p adjusted by Holm within the family; the verdict reads the "
        "adjusted p. Pairing by seed: the correlation of the two over the seeds both have; no comparison pairs, "
        f"since two recipes with one seed diverge from the first step. {DECIDE}\n\n"
        + markdown(
            rows,
            [
                "family",
                "comparison",
                "A",
                "B",
                "A - B (points)",
                "p",
                "Holm p",
                "verdict",
                "pairing by seed",
                "hardware A / B",
            ],
        )
    )


def mcnemar_table(found):
    """Exact McNemar per seed pair with predictions: about two trained models on these val images."""
    rows = []
    for c in found:
        ra, rb = by_seed(c.a), by_seed(c.b)
        for s in sorted(set(ra) & set(rb)):
            pa, pb = ra[s].predictions, rb[s].predictions
            ka, kb = ({p["image"]: p for p in pa}, {p["image"]: p for p in pb}) if pa and pb else ({}, {})
            if not ka or set(ka) != set(kb):
                continue
            images = sorted(ka)
            m = stats.mcnemar(
                [ka[i]["label"] for i in images],
                [ka[i]["predicted"] for i in images],
                [kb[i]["predicted"] for i in images],
            )
            rows.append([c.claim, str(s), f"{m['a_only']} / {m['b_only']}", p_text(m["p"])])
    if not rows:
        return ""
    return (
        "Two trained models of one seed each, scored on the same val images: images only A's model got right / "
        "only B's, and the exact McNemar p. It says whether these two models differ on these images, not whether "
        "their recipes do (that is the comparison above).\n\n"
        + markdown(rows, ["comparison", "seed", "only A / only B", "p"])
    )


def ablation(configs):
    """Each ablation configuration against the full improved recipe, one family."""
    rows = [c for name in study.GROUPS["ablation"] for c in find(configs, name)]
    full = find(configs, study.ABLATION_BASE)
    if not (rows and full):
        return ""
    found = adjust(
        [_compare(study.ABLATION_FAMILY, _changed(c["params"], full[0]["params"]), c, full[0]) for c in rows]
    )
    table = [
        [
            c.a["name"],
            c.claim,
            acc(summarize(c.a, "val_acc")),
            points_of(c),
            p_text(c.welch["p"]),
            p_text(c.holm),
            c.verdict,
            hardware_counts(c.a["runs"]),
        ]
        for c in found
    ]
    return (
        f"Each row changes the full improved recipe ({full[0]['name']}, "
        f"{acc(summarize(full[0], 'val_acc'))}) as stated; A is the row, B the full recipe; Welch over all seeds, "
        f"Holm within this family. {DECIDE}\n\n"
        + markdown(
            table,
            [
                "configuration",
                "changed from the full recipe",
                "final val acc",
                "A - B (points)",
                "p",
                "Holm p",
                "verdict",
                "hardware",
            ],
        )
    )


def _changed(params, base):
    """e.g. "crop_padding 0, flip no": the recipe params where a configuration differs from `base`."""
    mine, theirs = study.recipe(params), study.recipe(base)
    return ", ".join(f"{k} {cell(v)}" for k, v in mine.items() if theirs.get(k) != v)


def hardware_split(configs):
    """Where one configuration's seeds trained on more than one kind of machine: each kind's mean (information)."""
    rows = []
    for c in configs:
        kinds = {}
        for r in c["runs"]:
            kinds.setdefault(hardware(r), []).append(r)
        if len(kinds) > 1:
            rows += [
                [c["name"], k, str(len(rs)), acc(summarize({"runs": rs}, "val_acc"))] for k, rs in sorted(kinds.items())
            ]
    if not rows:
        return ""
    return (
        "Configurations whose seeds ran on different machines (CPU kinds differ in bf16 kernels; a GPU in its "
        "own), final val accuracy per kind; shown as information, not tested.\n\n"
        + markdown(rows, ["configuration", "hardware", "n", "final val acc"])
    )


def _worst(runs, name):
    """How many runs have `name` as their lowest-recall class."""
    return sum(
        1 for r in runs if min(r.classes["per_class"], key=lambda k: r.classes["per_class"][k]["recall"]) == name
    )


@dataclass(frozen=True)
class Claim:
    """One of the study's claims, tested on our records."""

    claim: str  # the study's text, paraphrased
    test: str  # the test and what it measured
    n: str  # runs (or depths) behind it, per side
    p: float | None
    holm: float | None  # Holm-adjusted within the claims' family; None outside it ((e))
    verdict: str  # stats.HOLDS, CONTRADICTED, NOT_SHOWN or too_few(n)


def claim_rows(configs, sweep_points):
    """The study's text, claim by claim: (a)-(f), each with its test, n and verdict; Holm over the tested ones.

    sweep_points: [(depth, skip config, no-skip config)] of the depth sweep, for (f)."""
    mynet, net3, lr4 = (find(configs, name) for name in (study.MYNET16, study.NET3, study.MYNET16_LR1E4))
    items = []  # (claim, test, n, p, direction holds?, samples for decided)

    def welch_claim(text, a, b, metric, sign):
        va, vb = [value(r, metric) for r in a["runs"]], [value(r, metric) for r in b["runs"]]
        w = stats.welch(va, vb)
        diff = f"{100 * w['diff']:+.2f} points" if metric in ("val_acc", "gap") else f"{w['diff']:+.3f}"
        items.append(
            [
                text,
                f"Welch, {metric}: A - B = {diff} (A {a['name']}, B {b['name']})",
                f"{len(va)}, {len(vb)}",
                w["p"],
                sign * w["diff"] > 0,
                stats.decided(va, vb),
            ]
        )

    if mynet and net3:
        welch_claim("(a) MyNet-16 (lr 1e-3) is below Net3", net3[0], mynet[0], "val_acc", 1)
    if mynet and lr4:
        welch_claim("(b) lr 1e-4 ends with a lower train loss than lr 1e-3", mynet[0], lr4[0], "train_loss", 1)
        welch_claim("(b) lr 1e-4 ends with a higher val loss than lr 1e-3", lr4[0], mynet[0], "val_loss", 1)
        welch_claim("(b) lr 1e-4 ends with a lower val accuracy than lr 1e-3", mynet[0], lr4[0], "val_acc", 1)
    for label, found in (("MyNet-16", mynet), ("Net3", net3)):
        if found:
            runs = found[0]["runs"]
            k, n = _worst(runs, study.WORST_CLASS), len(runs)
            classes = len(runs[0].classes["per_class"])
            items.append(
                [
                    f"(c) {study.WORST_CLASS} is the worst class of {label}",
                    f"exact binomial: {study.WORST_CLASS} lowest in {k} of {n} runs, vs 1/{classes} by chance",
                    str(n),
                    stats.sign_test(k, n, 1 / classes),
                    k > n / classes,
                    n >= stats.MIN_N,
                ]
            )
    if mynet and net3:
        welch_claim("(d) MyNet-16's train-val accuracy gap is larger than Net3's", mynet[0], net3[0], "gap", 1)
    if sweep_points:
        depths = [d for d, _, _ in sweep_points]
        gaps = [value(s["runs"][0], "val_acc") - value(n["runs"][0], "val_acc") for _, s, n in sweep_points]
        rho, p = stats.trend(depths, gaps)
        seeds = max(len(s["runs"]) for _, s, _ in sweep_points)
        items.append(
            [
                "(f) skip connections matter more as depth grows",
                f"Kendall's tau of (skip - no skip) val accuracy with depth over {len(depths)} depths "
                f"({seeds} seed a point): tau = {'-' if rho is None else f'{rho:+.2f}'}",
                str(len(depths)),
                p,
                rho is not None and rho > 0,
                len(depths) >= stats.MIN_N,
            ]
        )
    adjusted = stats.holm([i[3] for i in items])
    rows = []
    for (text, test, n, p, direction, enough), q in zip(items, adjusted):
        if not enough or p is None:
            word = stats.too_few(n)
        elif q < stats.ALPHA:
            word = stats.HOLDS if direction else stats.CONTRADICTED
        else:
            word = stats.NOT_SHOWN
        rows.append(Claim(claim=text, test=test, n=n, p=p, holm=q, verdict=word))
    return rows + [explosion(mynet)]


def claims(configs, sweep_points):
    """claim_rows as the report's markdown."""
    rows = [[c.claim, c.test, c.n, p_text(c.p), p_text(c.holm), c.verdict] for c in claim_rows(configs, sweep_points)]
    return (
        "The study's text, claim by claim (paraphrased), each tested on our records; Holm over this family. "
        '(a), (b), (d): Welch over all seeds, in the direction stated ("contradicted": significant the other way). '
        f"{DECIDE}\n\n" + markdown(rows, ["claim", "test", "n", "p", "Holm p", "verdict"])
    )


def explosion_runs(mynet):
    """The MyNet-16 lr 1e-3 runs (the first such configuration) that kept their gradient norms."""
    return [r for c in mynet[:1] for r in c["runs"] if r.grad_norms]


def explosion(mynet):
    """(e) as measured, outside the Holm family (a description of the runs, not a comparison): per MyNet-16 lr 1e-3
    run that kept its gradient norms, does the mean log10 norm over the stages rise with the step (Kendall's
    tau, p < 0.05)? Then an exact sign test over those runs against a coin."""
    runs = explosion_runs(mynet)
    rising = 0
    for r in runs:
        steps = [row["step"] for row in r.grad_norms]
        level = [sum(v for k, v in row.items() if k != "step") / (len(row) - 1) for row in r.grad_norms]
        tau, p = stats.trend(steps, level)
        rising += tau is not None and tau > 0 and p < stats.ALPHA
    p = stats.sign_test(rising, len(runs), 0.5)
    if len(runs) < stats.MIN_N:
        word = stats.too_few(len(runs))
    else:
        word = stats.HOLDS if p < stats.ALPHA else stats.NOT_SHOWN
    return Claim(
        claim="(e) gradient norms grow over training (gradient explosion) at lr 1e-3",
        test=f"per run, Kendall's tau of the mean log10 stage gradient norm with the step; rising in {rising} of "
        f"{len(runs)} runs that kept their norms (records from 2026-12-04 on), exact sign test vs 1/2",
        n=str(len(runs)),
        p=p,
        holm=None,
        verdict=word,
    )


def per_class(configs):
    classes = list(dict.fromkeys(k for c in configs for k in c["params"]["classes"]))
    rows = []
    for c in configs:
        cells = []
        for k in classes:
            if k not in c["params"]["classes"]:
                cells.append("-")
                continue
            s = stats.summary([r.classes["per_class"][k]["recall"] for r in c["runs"]], "proportion")
            cells.append(
                pct(s["mean"])
                if s["low"] is None
                else f"{pct(s['mean'])} [{100 * s['low']:.1f}, {100 * s['high']:.1f}]"
            )
        rows.append([c["name"], str(len(c["runs"])), *cells])
    return (
        "Recall on val per class: mean over seeds [95% interval on the logit scale, where n >= 2 and the values "
        "vary].\n\n" + markdown(rows, ["configuration", "n", *classes])
    )


def goals(configs):
    """Whether the improved recipe met its aims: a mean of at least 65%, and a gain whose interval is above +5."""
    lines = []
    for c in find(configs, study.ABLATION_BASE):
        s = summarize(c, "val_acc")
        lines.append(
            f"- Mean val accuracy of {c['name']}: {acc(s)}; aim {100 * study.AIM_MEAN:g}%: "
            f"{stats.MET if s['mean'] >= study.AIM_MEAN else stats.NOT_MET} (every setting tried: "
            'reports/study.md, "Tuning runs").'
        )
        for b in find(configs, study.MYNET16):
            cmp = _compare("", "", c, b)
            low = cmp.welch["low"]
            met = (
                "not decided (no interval)"
                if low is None
                else stats.MET
                if 100 * low > study.AIM_GAIN
                else stats.NOT_MET
            )
            lines.append(
                f"- Gain over {b['name']} (Welch): {points_of(cmp)} points; aim: the interval above "
                f"+{study.AIM_GAIN:g}: {met}."
            )
    return "\n".join(lines) + "\n" if lines else ""


def sweep(group):
    rows = [
        [
            str(c["params"]["depth"]),
            cell(c["params"]["skip_connections"]),
            acc(summarize(c, "val_acc")),
            loss(summarize(c, "train_loss")),
            loss(summarize(c, "val_loss")),
            c["name"],
        ]
        for c in sorted(group, key=lambda c: (not c["params"]["skip_connections"], c["params"]["depth"]))
    ]
    return "Mean over seeds [95% interval] (n seeds).\n\n" + markdown(
        rows, ["depth", "skip connections", "val acc", "final train loss", "val loss", "configuration"]
    )
