"""run_grid (outside DVC): the study's grid, the depth sweep and the recipe tuning runs, straight through
the library, writing the same run records as `stages/record.py` (reports/runs/<name>/).

For a machine without dvc or pycocotools (a lent GPU): it packs an image-folder tree
(<data>/<split>/<class>/*.jpg) with the prepare stage's own decode and resize, then trains and
evaluates each run with the engine. Run names and their params are listed by --list.

    python stages/run_grid.py --data ../shared/data/coco-5class-64 --runs study
    python stages/run_grid.py --data DIR --runs sweep --sweep-epochs 10
    python stages/run_grid.py --data DIR --runs mynet16-lr1e-3 net3-64px
"""
import argparse
import copy
import datetime
import random
import shlex
import sys
import time
from pathlib import Path

import yaml

from skipnet import engine, evaluate, records
from skipnet.params import SkipnetError, validate
from skipnet.prepare import pack, save_split, train_and_eval_splits

STUDY = {
    "mynet16-lr1e-3": {},
    "mynet16-lr1e-4": {"lr": 0.0001},
    "net3-64px": {"arch": "net3", "image_size": 64},
    "mynet16-noskip": {"skip_connections": False},
    "mynet16-improved": {"recipe": "improved"},
}
SWEEP_DEPTHS = (1, 2, 4, 8, 16, 32)
# Settings of the improved recipe tried on a held-out tenth of train (val untouched)
TUNING = [{"weight_decay": wd, "label_smoothing": ls, "warmup_epochs": 2, "crop_padding": pad}
          for wd in (0.05, 0.3) for ls in (0.0, 0.1) for pad in (2, 4)]
TUNE_HOLDOUT = 0.1


def grid(sweep_epochs, tuning_epochs):
    """{group: {run name: param overrides}}."""
    sweep = {f"sweep-d{d}-{'skip' if s else 'noskip'}": {"depth": d, "skip_connections": s, "epochs": sweep_epochs}
             for d in SWEEP_DEPTHS for s in (True, False)}
    tuning = {f"tune-wd{t['weight_decay']:g}-ls{t['label_smoothing']:g}-pad{t['crop_padding']}":
              {"recipe": "improved", "improved": t, "tune_holdout": TUNE_HOLDOUT, "epochs": tuning_epochs}
              for t in TUNING}
    return {"study": STUDY, "sweep": sweep, "tuning": tuning}


def folder_split(root, split, classes, per_class, seed):
    """Paths and labels of a split; per_class (null: every image) drawn at random, seeded."""
    paths, labels = [], []
    for i, name in enumerate(classes):
        found = sorted((Path(root) / split / name).glob("*.jpg"))
        if not found:
            raise SkipnetError(f"no images in {Path(root) / split / name}: --data must be <root>/<split>/<class>/*.jpg")
        if per_class and per_class < len(found):
            found = sorted(random.Random(f"{seed}-{split}-{name}").sample(found, per_class))
        paths += found
        labels += [i] * len(found)
    return paths, labels


def packed(params, cache):
    """(train.npz, val.npz) of the folder dataset in params at its image_size, packed once into `cache`."""
    folder = params["datasets"]["folder"]
    key = "-".join(map(str, (Path(folder["root"]).name, params["image_size"], *params["classes"],
                              folder["train_per_class"], folder["val_per_class"], params["seed"])))
    out = Path(cache) / key
    if not (out / "val.npz").exists():
        for split in ("train", "val"):
            paths, labels = folder_split(folder["root"], split, params["classes"], folder[f"{split}_per_class"],
                                         params["seed"])
            save_split(out / f"{split}.npz", pack(paths, params["image_size"]), labels, params["classes"])
    return out / "train.npz", out / "val.npz"


def run_one(name, params, cache, runs_dir, command):
    train_npz, val_npz = packed(params, cache)
    ckpt = Path(cache) / f"{name}.ckpt"
    ckpt.unlink(missing_ok=True)  # a grid run starts from scratch
    model, history = engine.train(params, train_npz, val_npz, Path(cache) / f"{name}.pt", ckpt)
    _, (images, labels), classes = train_and_eval_splits(train_npz, val_npz, params["tune_holdout"], params["seed"])
    scores, _ = evaluate.class_metrics(model, images, labels, classes, history["precision"])
    details = evaluate.run_details(model, params, history, history["epochs"])
    run = {"name": name, "source": "stages/run_grid.py", "command": command, "machine": history["device"],
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "train_seconds": details["speed"]["train_seconds"], "params": params,
           "headline": records.headline(history["epochs"]), "classes": scores, "details": details}
    return records.write(runs_dir, run, history["epochs"], history["running_loss"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="image-folder root: <data>/{train,val}/<class>/*.jpg")
    ap.add_argument("--runs", nargs="+", default=["study"], help="groups (study, sweep, tuning) or run names")
    ap.add_argument("--sweep-epochs", type=int, default=20, help="epochs of every sweep point (default: %(default)s)")
    ap.add_argument("--tuning-epochs", type=int, default=20, help="epochs of every tuning run (default: %(default)s)")
    ap.add_argument("--params", default="params.yaml", help="base params (default: %(default)s)")
    ap.add_argument("--out", default=str(records.RUNS_DIR), help="records folder (default: %(default)s)")
    ap.add_argument("--cache", default="data/grid", help="packed arrays and models (default: %(default)s)")
    ap.add_argument("--list", action="store_true", help="print every run name and its param overrides, then exit")
    args = ap.parse_args()
    groups = grid(args.sweep_epochs, args.tuning_epochs)
    every = {name: o for runs in groups.values() for name, o in runs.items()}
    if args.list:
        for group, runs in groups.items():
            for name, overrides in runs.items():
                print(f"{group:7s} {name:32s} {overrides}")
        return
    try:
        chosen = {}
        for item in args.runs:
            if item not in groups and item not in every:
                raise SkipnetError(f"--runs {item}: not a group ({', '.join(groups)}) nor a run name (see --list)")
            chosen.update(groups.get(item) or {item: every[item]})
        base = yaml.safe_load(Path(args.params).read_text())
        base["dataset"] = "folder"
        base["datasets"]["folder"]["root"] = str(args.data)  # its train/val_per_class still apply
        for name, overrides in chosen.items():
            params = copy.deepcopy(base)
            for key, value in overrides.items():
                params[key] = {**params[key], **value} if isinstance(value, dict) else value
            validate(params)
            command = shlex.join(["python", "stages/run_grid.py", "--data", str(args.data), "--runs", name,
                                  *(["--params", args.params] if args.params != "params.yaml" else []),
                                  *([f"--sweep-epochs={args.sweep_epochs}"] if name.startswith("sweep") else []),
                                  *([f"--tuning-epochs={args.tuning_epochs}"] if name.startswith("tune") else [])])
            t0 = time.time()
            folder = run_one(name, params, args.cache, args.out, command)
            print(f"{name}: {records.load(folder)['headline']} in {time.time() - t0:.0f} s -> {folder}", flush=True)
    except SkipnetError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
