"""The study report, built from the committed run records alone (reports/runs/, see skipnet.records).

Runs that differ only in seed are one configuration: every number is shown with its n, mean and 95%
interval over seeds. Table 1 beside the study's numbers (and whether the study's number lies in our
interval), every stated comparison as a paired difference over seeds with its interval and exact
McNemar tests on the val images, the ablation of the improved recipe, the overfitting rule applied run
by run, per-class accuracy, depth sweeps, tuning runs, figures, and each run's machine, time and command.
"""
import math
import re
from pathlib import Path

import matplotlib.pyplot as plt

from . import plots, recipes, stats
from .errors import SkipnetError
from .evaluate import run_title
from .files import atomic_write_text

SETTING = {"epochs": 20, "batch_size": 128, "tune_holdout": 0}  # the study's setting
MYNET16 = {"arch": "mynet", "depth": 16, "skip_connections": True, "lr": 0.001, "image_size": 32, **SETTING,
           **recipes.STUDY}
NET3 = {"arch": "net3", "lr": 0.001, "image_size": 64, **SETTING, **recipes.STUDY}
IMPROVED = {**MYNET16, **recipes.IMPROVED}
# The study's reported numbers (ECE60146 HW5): the params that identify the run, then its numbers.
STUDY = [
    (MYNET16, "MyNet-16, lr 1e-3", {"val_acc": 0.5452, "train_loss": 0.435, "val_loss": 1.552}),
    ({**MYNET16, "lr": 0.0001}, "MyNet-16, lr 1e-4", {"val_acc": 0.4900, "train_loss": 0.101, "val_loss": 2.399}),
    (NET3, "Net3 (64x64)", {"val_acc": 0.5632}),
]
# Every comparison the report states: (claim, configuration A, configuration B); the difference is A - B.
COMPARISONS = [
    ("the improved recipe vs the study's (MyNet-16)", IMPROVED, MYNET16),
    ("the improved recipe vs the study's (Net3, 64x64)", {**NET3, **recipes.IMPROVED}, NET3),
    ("skip connections vs none (MyNet-16, study recipe)", MYNET16, {**MYNET16, "skip_connections": False}),
    ("MyNet-16 vs Net3 (64x64), study recipe", MYNET16, NET3),
    ("lr 1e-3 vs lr 1e-4 (MyNet-16, study recipe)", MYNET16, {**MYNET16, "lr": 0.0001}),
]
SWEEP_KEYS = ("depth", "skip_connections")
LAST = 5  # epochs averaged to tell a trend from the epoch-to-epoch swing of a final number
# The overfitting rule, applied to each run's own numbers
OVERFIT_RISE = 0.25
OVERFIT_RULE = (f"a run overfits when its final val loss is at least {OVERFIT_RISE} above its lowest val loss while "
                f"its final train loss is below the train loss of that lowest epoch")
AIM_MEAN, AIM_GAIN = 0.65, 5.0  # the improved recipe's aims: mean val accuracy, lower end of the paired gain (points)
METRICS = {"val_acc": "final val acc", "last5": f"val acc, mean of last {LAST} epochs", "train_loss": "final train loss",
           "val_loss": "final val loss"}


def flatten(tree, prefix=""):
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def used(params):
    """The run's params, flattened, without those it never read: other datasets' settings, COCO's source when
    the data is not COCO."""
    unused = [f"datasets.{d}." for d in params["datasets"] if d != params["dataset"]]
    unused += ["coco."] if params["dataset"] != "coco" else []
    return {k: v for k, v in flatten(params).items() if not k.startswith(tuple(unused))}


def varying(runs):
    """Param keys (flattened) whose values differ between runs, in params.yaml order."""
    flat = [used(r["params"]) for r in runs]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    return [k for k in keys if len({repr(f.get(k)) for f in flat}) > 1]


def matches(params, match):
    return all(params.get(k) == v for k, v in match.items())


def study_row(params):
    """The study's row this run reproduces, or None."""
    for match, label, numbers in STUDY:
        if matches(params, match):
            return label, numbers
    return None


def value(run, metric):
    if metric == "last5":
        return last_epochs(run)[0]
    return run["headline"][metric]


def last_epochs(run, n=LAST):
    """(mean, min, max) of val accuracy over the last n epochs."""
    accs = [e["val_accuracy"] for e in run["epochs"][-n:]]
    return sum(accs) / len(accs), min(accs), max(accs)


def configurations(runs):
    """Runs grouped by every used param but the seed: [{name, params, runs (by seed)}], in name order."""
    groups = {}
    for r in runs:
        key = repr(sorted((k, v) for k, v in used(r["params"]).items() if k != "seed"))
        groups.setdefault(key, []).append(r)
    out = []
    for members in groups.values():
        members = sorted(members, key=lambda r: r["params"]["seed"])
        names = sorted(re.sub(r"-seed\d+$", "", r["name"]) for r in members)
        out.append({"name": names[0], "params": members[0]["params"], "runs": members})
    return sorted(out, key=lambda c: c["name"])


def find(configs, match):
    return [c for c in configs if matches(c["params"], match)]


def summarize(config, metric):
    return stats.summary([value(r, metric) for r in config["runs"]])


def by_seed(config):
    return {r["params"]["seed"]: r for r in config["runs"]}


def compare(a, b, metric="val_acc"):
    """The paired difference A - B over the seeds both have, and exact McNemar tests per seed pair."""
    ra, rb = by_seed(a), by_seed(b)
    seeds = sorted(set(ra) & set(rb))
    out = {"seeds": seeds, "diff": None, "mcnemar": []}
    if not seeds:
        return out
    out["diff"] = stats.paired([value(ra[s], metric) for s in seeds], [value(rb[s], metric) for s in seeds])
    for s in seeds:
        pa, pb = ra[s].get("predictions"), rb[s].get("predictions")
        if not (pa and pb):
            continue
        ka, kb = {p["image"]: p for p in pa}, {p["image"]: p for p in pb}
        if set(ka) != set(kb):
            continue
        images = sorted(ka)
        out["mcnemar"].append((s, stats.mcnemar([ka[i]["label"] for i in images], [ka[i]["predicted"] for i in images],
                                                [kb[i]["predicted"] for i in images])))
    return out


def _pct(x):
    return "-" if x is None else f"{100 * x:.2f}%"


def _num(x, digits=3):
    return "-" if x is None else f"{x:.{digits}f}"


def _cell(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _interval(s, fmt):
    """mean [low, high] (n), or the value and n = 1 where there is no interval."""
    if s["low"] is None:
        return f"{fmt(s['mean'])} (n={s['n']})"
    return f"{fmt(s['mean'])} [{fmt(s['low'])}, {fmt(s['high'])}] (n={s['n']})"


def _acc(s):
    return _interval(s, lambda x: f"{100 * x:.2f}%")


def _loss(s):
    return _interval(s, lambda x: f"{x:.3f}")


def _points(d):
    return _interval(d, lambda x: f"{100 * x:+.2f}")


def inside(s, number):
    if s["low"] is None:
        return "n=1: no interval"
    return "yes" if s["low"] <= number <= s["high"] else "no"


def _param_cell(flat, key):
    """A param's value, or "-" where the run does not use it (Net3 has no depth or skips)."""
    return "-" if key not in flat or (flat.get("arch") == "net3" and key in SWEEP_KEYS) else _cell(flat[key])


def _minutes(seconds):
    return f"{seconds / 60:.1f} min"


def table1(configs):
    rows = []
    for match, label, study in STUDY:
        for c in find(configs, match):
            acc, last5 = summarize(c, "val_acc"), summarize(c, "last5")
            tl, vl = summarize(c, "train_loss"), summarize(c, "val_loss")
            rows.append(f"| {label} | {c['name']} | {_pct(study['val_acc'])} | {_acc(acc)} | "
                        f"{inside(acc, study['val_acc'])} | {_acc(last5)} | {inside(last5, study['val_acc'])} | "
                        f"{_num(study.get('train_loss'))} | {_loss(tl)} | {_num(study.get('val_loss'))} | {_loss(vl)} |")
    if not rows:
        return "No run matches a row of the study's Table 1 (20 epochs, batch 128, the study's recipe, no hold-out).\n"
    return ("Our numbers: mean over seeds [95% t-interval] (n seeds). \"In interval\": whether the study's single "
            "number lies inside our interval.\n\n"
            "| study's run | our configuration | study val acc | our final val acc | study's in interval | "
            f"our mean of last {LAST} epochs | study's in interval | study train loss | our train loss | "
            "study val loss | our val loss |\n|---|---|---:|---:|---|---:|---|---:|---:|---:|---:|\n"
            + "\n".join(rows) + "\n")


def verdict(cmp):
    """What the comparison shows at 95%, in words."""
    d = cmp["diff"]
    tested = cmp["mcnemar"]
    mc = ""
    if tested:
        below = sum(1 for _, m in tested if m["p"] < 0.05)
        mc = f"; McNemar p < 0.05 in {below} of {len(tested)} seed pairs"
    if d is None:
        return "no seed in common: no paired comparison"
    if stats.holds(d) is None:
        return f"one seed pair: no interval{mc}"
    p = "" if d["p"] is None else f"; paired t p = {d['p']:.3g}"  # None: every pair differs by the same amount
    if stats.holds(d):
        return f"holds at 95% ({'A' if d['mean'] > 0 else 'B'} higher{p}){mc}"
    return f"not shown at 95% (the interval includes 0{p}){mc}"


def _mcnemar_cell(cmp):
    if not cmp["mcnemar"]:
        return "no predictions kept"
    return "; ".join(f"{s}: {m['a_only']}/{m['b_only']}, p={m['p']:.2g}" for s, m in cmp["mcnemar"])


def comparisons(configs):
    """[(claim, A, B, comparison)] for every stated comparison whose two configurations both have runs."""
    out = []
    for claim, ma, mb in COMPARISONS:
        for a in find(configs, ma):
            for b in find(configs, mb):
                out.append((claim, a, b, compare(a, b)))
    return out


def comparisons_table(found):
    rows = [f"| {claim} | {a['name']} | {b['name']} | {len(cmp['seeds'])} | "
            f"{'-' if cmp['diff'] is None else _points(cmp['diff'])} | {_mcnemar_cell(cmp)} | {verdict(cmp)} |"
            for claim, a, b, cmp in found]
    return ("Final val accuracy, A - B in points, paired by seed: mean [95% t-interval] (n seed pairs). McNemar: "
            "for each seed pair scored on the same val images, images only A got right / only B, and the exact "
            "test's p.\n\n| claim | A | B | seed pairs | A - B (points) | McNemar, per seed | at 95% |\n"
            "|---|---|---|---:|---:|---|---|\n" + "\n".join(rows) + "\n")


def goals(configs):
    """Whether the improved recipe met its aims: a mean of at least 65%, and a paired gain whose interval is above +5."""
    lines = []
    for c in find(configs, IMPROVED):
        acc = summarize(c, "val_acc")
        lines.append(f"- Mean val accuracy of {c['name']}: {_acc(acc)}; aim {100 * AIM_MEAN:g}%: "
                     f"{'met' if acc['mean'] >= AIM_MEAN else 'not met'} (every setting tried: "
                     "reports/study.md, \"Tuning runs\").")
        for b in find(configs, MYNET16):
            d = compare(c, b)["diff"]
            if d is None:
                continue
            if d["low"] is None:
                met = "cannot tell from one seed pair"
            else:
                met = "met" if 100 * d["low"] > AIM_GAIN else "not met"
            lines.append(f"- Paired gain over {b['name']}: {_points(d)} points; aim: the interval above "
                         f"+{AIM_GAIN:g}: {met}.")
    return "\n".join(lines) + "\n" if lines else ""


def ablation_configs(configs):
    """MyNet-16 configurations at the study's setting whose recipe is neither the study's nor the improved one."""
    base = {k: v for k, v in MYNET16.items() if k not in recipes.KNOBS}
    return [c for c in find(configs, base)
            if recipes.changes(c["params"]) and recipes.changes(c["params"], recipes.IMPROVED)]


def _knobs(changed):
    return ", ".join(f"{k} {_cell(v)}" for k, v in changed.items()) or "none"


def ablation_table(configs):
    full, study = find(configs, IMPROVED), find(configs, MYNET16)
    rows = []
    for c in ablation_configs(configs):
        vs = [compare(c, ref[0]) if ref else None for ref in (full, study)]
        cells = ["-" if v is None or v["diff"] is None else
                 f"{_points(v['diff'])}; McNemar {_mcnemar_cell(v)}; {verdict(v)}" for v in vs]
        removed = [k for k in recipes.KNOBS if c["params"][k] != recipes.IMPROVED[k]]
        rows.append(f"| {c['name']} | {_knobs(recipes.changes(c['params']))} | "
                    f"{', '.join(removed)} | {_acc(summarize(c, 'val_acc'))} | {cells[0]} | {cells[1]} |")
    if not rows:
        return ""
    return ("Each row changes the recipe of MyNet-16 (lr 1e-3, 20 epochs, batch 128); the differences are final val "
            "accuracy in points, paired by seed: mean [95% t-interval] (n seed pairs), then McNemar per seed pair "
            f"(only this run right / only the other, p). Full recipe: {full[0]['name'] if full else '(no run)'}; "
            f"study recipe: {study[0]['name'] if study else '(no run)'}.\n\n"
            "| configuration | recipe knobs set (vs the study's) | knobs that differ from the full recipe | "
            "final val acc | vs the full recipe | vs the study recipe |\n|---|---|---|---:|---|---|\n"
            + "\n".join(rows) + "\n" + seed_noise(full, study))


def _sd_points(s):
    return "no sd" if s["sd"] is None else f"sd {100 * s['sd']:.2f} points"


def seed_noise(full, study):
    """What a difference of one seed pair means: how far the reference recipes move from seed to seed."""
    if not (full and study):
        return ""
    a, b, d = summarize(full[0], "val_acc"), summarize(study[0], "val_acc"), compare(full[0], study[0])["diff"]
    gap = "" if d is None else f", their paired difference {_sd_points(d)} (n={d['n']} seed pairs)"
    return (f"\nHow far one seed moves: final val accuracy of {full[0]['name']} {_sd_points(a)} (n={a['n']}), "
            f"of {study[0]['name']} {_sd_points(b)} (n={b['n']}){gap}. A McNemar p speaks to these two trained "
            "models on these val images, not to what another seed would give.\n")


def overfits(run):
    """The overfitting rule's numbers for one run: (lowest val loss epoch, rise, train loss then, verdict)."""
    lowest = min(run["epochs"], key=lambda e: e["val_loss"])
    last = run["epochs"][-1]
    rise = last["val_loss"] - lowest["val_loss"]
    return lowest, rise, rise >= OVERFIT_RISE and last["train_loss"] < lowest["train_loss"]


def overfitting_table(runs):
    rows = []
    for r in runs:
        lowest, rise, verdict_ = overfits(r)
        mean, low, high = last_epochs(r)
        rows.append(f"| {r['name']} | {lowest['val_loss']:.3f} ({lowest['epoch']}) | {r['headline']['val_loss']:.3f} | "
                    f"{rise:+.3f} | {lowest['train_loss']:.3f} -> {r['headline']['train_loss']:.3f} | "
                    f"{'overfits' if verdict_ else 'does not overfit'} | {_pct(low)} to {_pct(high)} |")
    return (f"Rule: {OVERFIT_RULE}. Last column: how far val accuracy moved over the last {LAST} epochs of that run.\n\n"
            "| run | lowest val loss (epoch) | final val loss | rise | train loss at that epoch -> final | by the rule | "
            f"val acc over the last {LAST} epochs |\n|---|---:|---:|---:|---|---|---|\n" + "\n".join(rows) + "\n")


def runs_table(runs, keys, scored_on="val"):
    """One row per run; scored_on names the split its "val" numbers come from (the hold-out for tuning runs)."""
    names = ["run", *keys, "epochs run", "final train loss", f"{scored_on} loss", f"{scored_on} acc",
             f"{scored_on} acc, mean of last {LAST} epochs", f"best {scored_on} acc (epoch)", f"train acc - {scored_on} acc",
             "train time", "machine"]
    rows = []
    for r in runs:
        flat, h, last = used(r["params"]), r["headline"], r["epochs"][-1]
        best = max(r["epochs"], key=lambda e: e["val_accuracy"])
        rows.append([r["name"], *(_param_cell(flat, k) for k in keys), str(len(r["epochs"])), f"{h['train_loss']:.3f}",
                     f"{h['val_loss']:.3f}", _pct(h["val_acc"]), _pct(last_epochs(r)[0]),
                     f"{_pct(best['val_accuracy'])} ({best['epoch']})",
                     f"{100 * (last['train_accuracy'] - last['val_accuracy']):+.1f}", _minutes(r["train_seconds"]),
                     r["machine"]])
    align = ["---"] * (1 + len(keys)) + ["---:"] * 8 + ["---"]
    return "\n".join("| " + " | ".join(row) + " |" for row in [names, align, *rows]) + "\n"


def best_tuning(tuning):
    """The tuning run with the highest held-out accuracy: the settings the improved recipe uses."""
    return max(tuning, key=lambda r: r["headline"]["val_acc"])


def standard_error(run):
    """One standard error of the run's accuracy from sampling its scored images alone: sqrt(p(1-p)/n)."""
    n = sum(map(sum, run["classes"]["confusion_matrix"]))
    p = run["headline"]["val_acc"]
    return math.sqrt(p * (1 - p) / n), n


def sweeps(configs):
    """Groups of configurations equal in every param but depth and skip_connections, with several depths."""
    groups = {}
    for c in configs:
        if c["params"]["arch"] != "mynet":
            continue
        rest = {k: v for k, v in used(c["params"]).items() if k not in (*SWEEP_KEYS, "seed")}
        groups.setdefault(repr(sorted(rest.items())), []).append(c)
    return [g for g in groups.values() if len({c["params"]["depth"] for c in g}) >= 3]


def sweep_table(group):
    rows = [f"| {c['params']['depth']} | {_cell(c['params']['skip_connections'])} | {_acc(summarize(c, 'val_acc'))} | "
            f"{_loss(summarize(c, 'train_loss'))} | {_loss(summarize(c, 'val_loss'))} | {c['name']} |"
            for c in sorted(group, key=lambda c: (not c["params"]["skip_connections"], c["params"]["depth"]))]
    return ("Mean over seeds [95% t-interval] (n seeds).\n\n| depth | skip connections | val acc | final train loss | "
            "val loss | configuration |\n|---:|---|---:|---:|---:|---|\n" + "\n".join(rows) + "\n")


def per_class_table(configs):
    classes = list(dict.fromkeys(k for c in configs for k in c["params"]["classes"]))
    head = ("Recall on val per class: mean over seeds (n seeds; 95% interval where n >= 2).\n\n| configuration | n | "
            + " | ".join(classes) + " |\n|---|---:|" + "---:|" * len(classes) + "\n")
    rows = []
    for c in configs:
        cells = []
        for k in classes:
            if k not in c["params"]["classes"]:
                cells.append("-")
                continue
            s = stats.summary([r["classes"]["per_class"][k]["recall"] for r in c["runs"]])
            cells.append(_pct(s["mean"]) if s["low"] is None else f"{_pct(s['mean'])} [{100 * s['low']:.1f}, {100 * s['high']:.1f}]")
        rows.append(f"| {c['name']} | {len(c['runs'])} | " + " | ".join(cells) + " |")
    return head + "\n".join(rows) + "\n"


def commands_table(runs):
    def commit(r):
        code = r.get("code") or {}
        return (code.get("commit") or "not recorded")[:12]
    rows = [f"| {r['name']} | `{r['command']}` | {r['source']} | {commit(r)} | {r['date'][:16]} |" for r in runs]
    return ("Each command runs from the root of a fresh clone (data paths are relative: `../shared/...`). DVC's queue "
            "(`dvc exp run --queue`) runs experiments in a temporary copy of the repository, where the data path must "
            "be absolute (`-S datasets.folder.root=$PWD/../shared/data/coco-5class-64`).\n\n"
            "| run | command | source | code commit | finished |\n|---|---|---|---|---|\n" + "\n".join(rows) + "\n")


def _band(ax, x, series, style, label):
    """The mean line over seeds, with a band from the lowest to the highest seed where there are several."""
    mean = [sum(v) / len(v) for v in zip(*series)]
    line, = ax.plot(x, mean, style, label=f"{label} (n={len(series)})" if len(series) > 1 else label, linewidth=1.8)
    if len(series) > 1:
        ax.fill_between(x, [min(v) for v in zip(*series)], [max(v) for v in zip(*series)], color=line.get_color(),
                        alpha=0.2)


def table1_png(configs, path):
    fig, ax = plt.subplots(figsize=(8, 4.5))
    labels = []
    for i, (match, label, study) in enumerate(STUDY):
        found = find(configs, match)
        labels.append(label)
        ax.plot([i - 0.12], [100 * study["val_acc"]], "kx", markersize=10, label="study (one run)" if i == 0 else None)
        for c in found[:1]:
            values = [100 * value(r, "val_acc") for r in c["runs"]]
            s = stats.summary(values)
            ax.plot([i + 0.12] * len(values), values, "o", color="tab:blue", alpha=0.35,
                    label="ours, each seed" if i == 0 else None)
            err = None if s["low"] is None else [[s["mean"] - s["low"]], [s["high"] - s["mean"]]]
            ax.errorbar([i + 0.12], [s["mean"]], yerr=err, fmt="s", color="tab:blue", capsize=6,
                        label="ours, mean and 95% interval" if i == 0 else None)
            ax.annotate(f"n={s['n']}", (i + 0.18, s["mean"]), fontsize=8)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylabel("final val accuracy (%)")
    ax.set_title("Table 1: the study's numbers and ours over seeds")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    plots.save(fig, path)


def sweep_png(group, path):
    epochs = sorted({c["params"]["epochs"] for c in group})
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.5))
    for skip, style in ((True, "o-"), (False, "s--")):
        points = sorted((c["params"]["depth"], c) for c in group if c["params"]["skip_connections"] == skip)
        if not points:
            continue
        label = "with skip connections" if skip else "without skip connections"
        depths = [d for d, _ in points]
        for ax, metric, scale in ((ax_acc, "val_acc", 100), (ax_loss, "train_loss", 1)):
            summaries = [summarize(c, metric) for _, c in points]
            line, = ax.plot(depths, [scale * s["mean"] for s in summaries], style, label=label)
            if all(s["low"] is not None for s in summaries):
                ax.fill_between(depths, [scale * s["low"] for s in summaries], [scale * s["high"] for s in summaries],
                                color=line.get_color(), alpha=0.2)
    classes = len(group[0]["params"]["classes"])
    ax_acc.axhline(100 / classes, color="gray", linestyle=":", label=f"chance ({100 / classes:g}%)")
    ax_loss.axhline(math.log(classes), color="gray", linestyle=":", label=f"uniform guess (ln {classes})")
    depths = sorted({c["params"]["depth"] for c in group})
    for ax, name in ((ax_acc, "val accuracy (%)"), (ax_loss, "final train loss")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(depths, [str(d) for d in depths])
        ax.set_xlabel("depth (SkipBlocks per stage)")
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
        ax.legend()
    seeds = sorted({len(c["runs"]) for c in group})
    fig.suptitle(f"Depth sweep, {'/'.join(map(str, epochs))} epochs per point, lr {group[0]['params']['lr']:g}; "
                 f"mean over {'/'.join(map(str, seeds))} seeds per point, band: 95% interval where n >= 2")
    fig.tight_layout()
    plots.save(fig, path)


def epochs_grid_png(configs, path):
    fig, axes = plt.subplots(len(configs), 2, figsize=(11, 3.2 * len(configs)), squeeze=False)
    for (ax_loss, ax_acc), c in zip(axes, configs):
        x = [e["epoch"] for e in c["runs"][0]["epochs"]]
        for split, style in (("train", "-"), ("val", "--")):
            _band(ax_loss, x, [[e[f"{split}_loss"] for e in r["epochs"]] for r in c["runs"]], style, split)
            _band(ax_acc, x, [[e[f"{split}_accuracy"] for e in r["epochs"]] for r in c["runs"]], style, split)
        seeds = f", {len(c['runs'])} seeds (band: lowest to highest)" if len(c["runs"]) > 1 else ""
        for ax, name in ((ax_loss, "loss"), (ax_acc, "accuracy")):
            ax.set_title(f"{c['name']}: {name}{seeds}", fontsize=9)
            ax.set_xlabel("Epoch")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
            plots.integer_ticks(ax)
    fig.tight_layout()
    plots.save(fig, path)


def confusion_grid_png(configs, path):
    cols = min(3, len(configs))
    rows = -(-len(configs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(7 * cols, 5.5 * rows), squeeze=False)
    for ax in axes.flat[len(configs):]:
        ax.axis("off")
    for ax, c in zip(axes.flat, configs):
        first = c["runs"][0]
        plots.confusion_heatmap(ax, first["classes"]["confusion_matrix"], first["params"]["classes"],
                                f"{first['name']} (seed {first['params']['seed']})")
    fig.tight_layout()
    plots.save(fig, path)


def partition(runs):
    """(final runs, tuning runs): tuning runs are scored on a hold-out of train."""
    return ([r for r in runs if not r["params"].get("tune_holdout")],
            [r for r in runs if r["params"].get("tune_holdout")])


def readme_block(runs):
    """What the README shows between its `<!-- table1 -->` markers: Table 1, then every stated comparison."""
    final, _ = partition(runs)
    configs = configurations(final)
    found = comparisons(configs)
    return table1(configs) + ("\n" + comparisons_table(found) if found else "") + ("\n" + goals(configs))


def update_readme(path, runs):
    """Replace the README's Table 1 block with the records' numbers; False when it has no markers."""
    path = Path(path)
    text = path.read_text()
    start, end = "<!-- table1 -->\n", "<!-- /table1 -->"
    if start not in text or end not in text:
        return False
    head, rest = text.split(start, 1)
    atomic_write_text(path, head + start + readme_block(runs) + end + rest.split(end, 1)[1])
    return True


def write(runs, out_dir, notes=None):
    """reports/study.md and its figures from run records; returns its path."""
    if not runs:
        raise SkipnetError("no run records in reports/runs: add a finished experiment with "
                           "`python stages/record.py EXP` (see `dvc exp list`), or run stages/run_grid.py")
    out_dir = Path(out_dir)
    final, tuning = partition(runs)
    configs = configurations(final)
    groups = sweeps(configs)
    in_sweeps = {id(c) for g in groups for c in g}
    main = [c for c in configs if id(c) not in in_sweeps]  # sweep points get their own section
    table1_runs = [r for match, _, _ in STUDY for c in find(configs, match) for r in c["runs"]]
    table1_runs += [r for c in find(configs, IMPROVED) for r in c["runs"]]
    md = ["# Skip connections on five COCO classes: the study reproduced\n",
          f"Generated by `python stages/report.py` from the {len(runs)} run records in `reports/runs/`. Runs that "
          "differ only in seed are one configuration; intervals are 95% t-intervals over seeds (scipy.stats), "
          "and with n = 1 there is none: one run says nothing about how far another seed would land.\n"]
    if final:
        md += ["## Table 1: the study's numbers and ours\n", table1(configs)]
        if find(configs, MYNET16) or find(configs, NET3):
            table1_png(configs, out_dir / "table1.png")
            md += ["\n![Table 1 with intervals](table1.png)\n"]
    found = comparisons(configs)
    if found:
        md += ["\n## Every comparison, tested\n", comparisons_table(found), "\n" + goals(configs)]
    ablation = ablation_table(configs)
    if ablation:
        md += ["\n## Ablation of the improved recipe\n", ablation]
    if table1_runs:
        md += ["\n## Overfitting, run by run\n", overfitting_table(table1_runs)]
    if main:
        plots.loss_png({f"{c['name']} (seed {c['runs'][0]['params']['seed']}): {run_title(c['params'])}":
                        [(p["step"], p["loss"]) for p in c["runs"][0]["loss"]] for c in main},
                       out_dir / "loss_overlay.png", title="Training loss per logging interval (first seed of each)",
                       ylim=(0, 3))
        epochs_grid_png(main, out_dir / "epochs.png")
        confusion_grid_png(main, out_dir / "confusion_matrices.png")
        main_runs = [r for c in main for r in c["runs"]]
        md += ["\n## Every run\n",
               "Columns before `epochs run` are the params that differ between runs. `train acc - val acc` is the "
               "last epoch's gap in points.\n", runs_table(main_runs, varying(main_runs)),
               "\n## Per-class accuracy (recall on val)\n", per_class_table(main)]
    for i, group in enumerate(groups):
        sweep_png(group, out_dir / f"depth_sweep_{i + 1}.png")
        md += [f"\n## Depth sweep {i + 1}: with and without skip connections\n",
               f"![depth sweep](depth_sweep_{i + 1}.png)\n", sweep_table(group)]
    if main:
        md += ["\n## Training loss per logging interval (the study's Figure 5)\n", "![loss curves](loss_overlay.png)\n",
               "\n## Per epoch: train vs val loss and accuracy\n", "![per-epoch curves](epochs.png)\n",
               "\n## Confusion matrices (val)\n", "![confusion matrices](confusion_matrices.png)\n"]
    if tuning:
        best = best_tuning(tuning)
        se, n = standard_error(best)
        md += ["\n## Tuning runs (scored on a held-out part of train; val untouched)\n",
               f"Every setting tried. Highest held-out accuracy: **{best['name']}** "
               f"({_pct(best['headline']['val_acc'])}). One standard error of that accuracy from sampling its {n} "
               f"held-out images alone is {100 * se:.1f} points, so settings closer than about {200 * se:.1f} points "
               "are not told apart by these runs.\n",
               runs_table(tuning, varying(tuning) or ["tune_holdout"], scored_on="held-out")]
    md += ["\n## Commands\n", commands_table(runs)]
    if notes:
        md += ["\n## Notes\n", notes.strip() + "\n"]
    path = out_dir / "study.md"
    atomic_write_text(path, "\n".join(md))
    return path
