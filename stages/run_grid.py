"""run_grid (outside DVC): the study's grid, the depth sweep, the tuning runs and the ablation, each run
through the DVC stages' own code, writing the same run records as `stages/record.py` (reports/runs/<name>/).

For a machine without dvc (a lent GPU): each run gets its params.yaml in a work folder, and the stage
scripts' main functions run there in dvc.yaml's order (download, select, fetch, prepare, train,
evaluate), so equal params give the same image lists, order and per-epoch metrics as `dvc exp run`.
Like DVC, the data stages rerun only when a param they read changed. Run names and their params:

    python stages/run_grid.py --list
    python stages/run_grid.py --data ../shared/data/coco-5class-64 --runs study
    python stages/run_grid.py --data ../shared/data/coco-5class-64 --runs sweep -S epochs=5
    python stages/run_grid.py --data DIR --runs study ablation --seeds 60146 60147 60148
"""
import argparse
import copy
import datetime
import importlib.util
import json
import os
import shlex
import sys
import time
from pathlib import Path

import yaml

from skipnet import recipes, records
from skipnet.errors import SkipnetError
from skipnet.params import validate

REPO = Path(__file__).resolve().parents[1]
STAGES = ("download", "select_images", "fetch", "prepare", "train", "evaluate")  # dvc.yaml's order
DATA_STAGES = 4
DATA_KEYS = ("dataset", "classes", "image_size", "seed", "coco", "datasets")  # what the data stages read
IMPROVED = recipes.changes(recipes.IMPROVED)
STUDY = {
    "mynet16-lr1e-3": {},
    "mynet16-lr1e-4": {"lr": 0.0001},
    "net3-64px": {"arch": "net3", "image_size": 64},
    "mynet16-noskip": {"skip_connections": False},
    "mynet16-improved": IMPROVED,
}
# The improved recipe with one change removed, and each change alone on the study's recipe
ABLATION = {
    "mynet16-improved-no-aug": {**IMPROVED, "crop_padding": 0, "flip": False},
    "mynet16-improved-no-wd": {**IMPROVED, "optimizer": "adam", "weight_decay": 0.0},
    "mynet16-improved-constant-lr": {**IMPROVED, "lr_schedule": "constant", "warmup_epochs": 0},
    "mynet16-aug-only": {"crop_padding": IMPROVED["crop_padding"], "flip": True},
    "mynet16-wd-only": {"optimizer": "adamw", "weight_decay": IMPROVED["weight_decay"]},
    "mynet16-schedule-only": {"lr_schedule": "cosine", "warmup_epochs": IMPROVED["warmup_epochs"]},
}
SWEEP_DEPTHS = (1, 2, 4, 8, 16, 32)
# Settings of the improved recipe tried on a held-out tenth of train (val untouched)
TUNING = [{**IMPROVED, "weight_decay": wd, "label_smoothing": ls, "crop_padding": pad}
          for wd in (0.05, 0.3) for ls in (0.0, 0.1) for pad in (2, 4)]
TUNE_HOLDOUT = 0.1


def grid():
    """{group: {run name: param overrides}}."""
    sweep = {f"sweep-d{d}-{'skip' if s else 'noskip'}": {"depth": d, "skip_connections": s, "epochs": 5}
             for d in SWEEP_DEPTHS for s in (True, False)}
    tuning = {f"tune-wd{t['weight_decay']:g}-ls{t['label_smoothing']:g}-pad{t['crop_padding']}":
              {**t, "tune_holdout": TUNE_HOLDOUT, "epochs": 5} for t in TUNING}
    return {"study": STUDY, "ablation": ABLATION, "sweep": sweep, "tuning": tuning}


def parse_set(item):
    """KEY=VALUE (dotted key, YAML value) as `dvc exp run -S` takes it."""
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise SkipnetError(f"-S {item}: expected KEY=VALUE, e.g. -S epochs=5")
    return key, yaml.safe_load(value)


def apply(params, overrides):
    params = copy.deepcopy(params)
    for key, value in overrides.items():
        node = params
        *parents, leaf = key.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return params


def load_stage(name):
    spec = importlib.util.spec_from_file_location(f"stage_{name}", REPO / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_stages(params, workdir):
    """Run the stages' main functions in `workdir` on these params; the data stages only when their params changed."""
    workdir.mkdir(parents=True, exist_ok=True)
    # absolute, since the stages run in workdir; spelled as given (no symlink resolved), as `dvc exp run` writes it
    absolute = apply(params, {"datasets.folder.root": os.path.abspath(params["datasets"]["folder"]["root"])})
    (workdir / "params.yaml").write_text(yaml.safe_dump(absolute, sort_keys=False))
    data_key = json.dumps({k: absolute[k] for k in DATA_KEYS}, sort_keys=True)
    key_file = workdir / "data/.params"
    fresh = key_file.exists() and key_file.read_text() == data_key
    if not fresh:
        key_file.unlink(missing_ok=True)  # until the data stages finish again
    here = os.getcwd()
    os.chdir(workdir)
    try:
        for i, name in enumerate(STAGES):
            if i < DATA_STAGES and fresh:
                continue
            print(f"Running stage '{name}'", flush=True)
            load_stage(name).main(absolute, argparse.Namespace(params="params.yaml"))
            if i == DATA_STAGES - 1:
                key_file.write_text(data_key)
    finally:
        os.chdir(here)


def run_one(name, params, workdir, runs_dir, command):
    run_stages(params, workdir)

    def read(path):  # the record keeps the params as given (a repository-relative data path)
        if path == "params.yaml":
            return yaml.safe_dump(params, sort_keys=False)
        return (workdir / path).read_text() if (workdir / path).exists() else None

    return records.build(read, name, "stages/run_grid.py", command,
                         {"path": "stages/run_grid.py", "commit": records.head_commit(REPO)},
                         datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), runs_dir)


def plan(groups, names, seeds, base, sets):
    """[(record name, params, its own command)] for the chosen runs, each at every seed."""
    every = {name: o for runs in groups.values() for name, o in runs.items()}
    chosen = {}
    for item in names:
        if item not in groups and item not in every:
            raise SkipnetError(f"--runs {item}: not a group ({', '.join(groups)}) nor a run name (see --list)")
        chosen.update(groups.get(item) or {item: every[item]})
    runs = []
    for name, overrides in chosen.items():
        for seed in seeds or [base["seed"]]:
            params = validate(apply(base, {**overrides, **sets, "seed": seed}))
            suffix = "" if seed == base["seed"] else f"-seed{seed}"
            runs.append((name + suffix, params, [name, seed]))
    return runs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="image-folder root: <data>/{train,val}/<class>/*.jpg")
    ap.add_argument("--runs", nargs="+", default=["study"], help="groups (study, ablation, sweep, tuning) or run names")
    ap.add_argument("--seeds", nargs="+", type=int, help="train each run at every one of these seeds (default: "
                    "params.yaml's seed); a seed other than params.yaml's is added to the record name as -seedN")
    ap.add_argument("-S", "--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="override a param of every run, as `dvc exp run -S` does (e.g. -S epochs=5)")
    ap.add_argument("--params", default="params.yaml", help="base params (default: %(default)s)")
    ap.add_argument("--out", default=str(records.RUNS_DIR), help="records folder (default: %(default)s)")
    ap.add_argument("--work", default="data/grid", help="work folder of the stages (default: %(default)s)")
    ap.add_argument("--list", action="store_true", help="print every run name and its param overrides, then exit")
    args = ap.parse_args()
    groups = grid()
    if args.list:
        for group, runs in groups.items():
            for name, overrides in runs.items():
                print(f"{group:8s} {name:30s} {overrides}")
        return
    try:
        if not args.data:
            raise SkipnetError("--data is required: the image-folder root, e.g. ../shared/data/coco-5class-64")
        sets = dict(parse_set(s) for s in args.sets)
        base = apply(yaml.safe_load(Path(args.params).read_text()), {"dataset": "folder", "datasets.folder.root": args.data})
        for name, params, (grid_name, seed) in plan(groups, args.runs, args.seeds, base, sets):
            command = shlex.join(["python", "stages/run_grid.py", "--data", records.repo_relative(args.data),
                                  "--runs", grid_name,
                                  *([f"--seeds={seed}"] if seed != base["seed"] else []),
                                  *[w for s in args.sets for w in ("-S", s)],
                                  *(["--params", args.params] if args.params != "params.yaml" else [])])
            t0 = time.time()
            folder = run_one(name, params, Path(args.work).absolute(), args.out, command)  # the stages chdir there
            print(f"{name}: {records.load(folder)['headline']} in {time.time() - t0:.0f} s -> {folder}", flush=True)
    except SkipnetError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
