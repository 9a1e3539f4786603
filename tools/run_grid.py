"""run_grid (outside DVC): the study's configurations (skipnet.analysis.study) by group or name, each run through the
DVC stages' own code, writing the same run records as `tools/record.py` (reports/runs/<name>/).

For a machine without dvc (a lent GPU): each run gets its params.yaml in a work folder, and the stage
scripts' main functions run there in dvc.yaml's order, read from dvc.yaml, so equal params give the same
image lists, order and per-epoch metrics as `dvc exp run`. Like DVC, a stage reruns only when a param it
lists in dvc.yaml or the content of a data dependency changed. With DVC, `--queue` puts the same runs in DVC's queue.

    python tools/run_grid.py --list                                   # every configuration as a dvc command
    python tools/run_grid.py --data ../shared/data/coco-5class-64 --runs study
    python tools/run_grid.py --data DIR --runs study ablation --seeds 60146 60147 60148
    python tools/run_grid.py --queue --runs study --seeds 60147 60148 && dvc exp run --run-all
    python tools/run_grid.py --overrides mynet16-improved             # its -S words, for a script
"""

import argparse
import datetime
import hashlib
import importlib.util
import json
import os
import shlex
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import NamedTuple

import yaml

from skipnet.analysis import provenance, records, study
from skipnet.config.params import committed, lookup, validate, with_overrides
from skipnet.errors import SkipnetError
from skipnet.files import atomic_path

REPO = Path(__file__).resolve().parents[1]


class Stage(NamedTuple):
    name: str
    script: str  # its script's name in stages/
    params: list  # the params dvc.yaml lists for it
    deps: list  # its data dependencies (its code is this checkout's)
    outs: list


def pipeline(dvc_yaml=REPO / "dvc.yaml"):
    """dvc.yaml's stages, in its order."""
    stages = yaml.safe_load(Path(dvc_yaml).read_text())["stages"]
    return [
        Stage(
            name,
            Path(st["cmd"].split()[-1]).stem,
            st.get("params", []),
            [d for d in st.get("deps", []) if not d.startswith(("stages/", "src/"))],
            [o if isinstance(o, str) else next(iter(o)) for o in st.get("outs", [])],
        )
        for name, st in stages.items()
    ]


def digest(path):
    """md5 of a file, or of a folder's files by relative path; None where there is nothing."""
    path = Path(path)
    if path.is_file():
        return hashlib.md5(path.read_bytes()).hexdigest()
    if not path.is_dir():
        return None
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return hashlib.md5("".join(f"{p.relative_to(path)}:{digest(p)}\n" for p in files).encode()).hexdigest()


def stage_key(stage, params, root):
    """What a stage's result depends on, as DVC sees it: the params it lists and its data dependencies' contents."""
    return json.dumps(
        {
            "params": {k: lookup(params, k) for k in stage.params},
            "deps": {d: digest(Path(root) / d) for d in stage.deps},
        },
        sort_keys=True,
    )


def parse_set(item):
    """KEY=VALUE (dotted key, YAML value) as `dvc exp run -S` takes it."""
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise SkipnetError(f"-S {item}: expected KEY=VALUE, e.g. -S epochs=5")
    return key, yaml.safe_load(value)


def load_stage(script):
    spec = importlib.util.spec_from_file_location(f"stage_{script}", REPO / "stages" / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_stages(params, workdir, only=None):
    """Run the stages' main functions in `workdir` on these params, in dvc.yaml's order (`only`: these stages alone);
    like DVC, a stage is skipped when its params and data dependencies are what they were when it last finished here
    and its outputs are there (so a seed that selects the same images reuses fetch and prepare)."""
    workdir.mkdir(parents=True, exist_ok=True)
    # absolute, since the stages run in workdir; spelled as given (no symlink resolved), as `dvc exp run` writes it
    absolute = with_overrides(params, {"datasets.folder.root": os.path.abspath(params["datasets"]["folder"]["root"])})
    (workdir / "params.yaml").write_text(yaml.safe_dump(absolute, sort_keys=False))
    ran_file = workdir / ".stages.json"
    done = json.loads(ran_file.read_text()) if ran_file.exists() else {}
    here = os.getcwd()
    os.chdir(workdir)
    try:
        for stage in pipeline():
            if only is not None and stage.name not in only:
                continue
            key = stage_key(stage, absolute, ".")
            if done.get(stage.name) == key and all(Path(o).exists() for o in stage.outs):
                continue
            done.pop(stage.name, None)
            ran_file.write_text(json.dumps(done))  # a stage stopped midway is not done
            print(f"Running stage '{stage.name}'", flush=True)
            load_stage(stage.script).main(absolute, argparse.Namespace(params="params.yaml"))
            done[stage.name] = key
            ran_file.write_text(json.dumps(done))
    finally:
        os.chdir(here)


def run_one(name, params, workdir, runs_dir, command, commit):
    run_stages(params, workdir)

    def read(path):  # the record keeps the params as given (a repository-relative data path)
        if path == "params.yaml":
            return yaml.safe_dump(params, sort_keys=False)
        return (workdir / path).read_text() if (workdir / path).exists() else None

    return records.build(
        read,
        name,
        "tools/run_grid.py",
        command,
        {"path": "tools/run_grid.py", "commit": commit},
        datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        runs_dir,
    )


def plan(names, seeds, base, sets):
    """[(record name, configuration, seed, params)] for the chosen groups or configurations, each at every seed."""
    chosen = {}
    for item in names:
        if item not in study.GROUPS and item not in study.CONFIGURATIONS:
            raise SkipnetError(
                f"--runs {item}: not a group ({', '.join(study.GROUPS)}) nor a configuration (see --list)"
            )
        chosen.update(study.GROUPS.get(item) or {item: study.CONFIGURATIONS[item]})
    runs = []
    for name, overrides in chosen.items():
        for seed in seeds or [base["seed"]]:
            params = validate(with_overrides(base, {**overrides, **sets, "seed": seed}))
            runs.append((name if seed == base["seed"] else f"{name}-seed{seed}", name, seed, params))
    return runs


def queue(runs, data, sets, base):  # sets: the -S KEY=VALUE strings as given
    """Each run into DVC's queue as `dvc exp run --queue -n NAME -S ...` (the data root absolute: the queue
    runs in a temporary copy; records name it relative)."""
    for name, config, seed, _ in runs:
        words = study.exp_run(config, seed if seed != base["seed"] else None, queue=True)
        if data:
            words += ["-S", "dataset=folder", "-S", f"datasets.folder.root={os.path.abspath(data)}"]
        words += [w for s in sets for w in ("-S", s)]
        print(shlex.join(words), flush=True)
        subprocess.run(words, check=True)


def archive(runs_dir, names, path):
    """The named record folders as one .tar.gz, written whole or not at all."""
    with atomic_path(path) as tmp, tarfile.open(tmp, "w:gz") as tar:
        for name in names:
            tar.add(runs_dir / name, arcname=name)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="image-folder root: <data>/{train,val}/<class>/*.jpg")
    ap.add_argument(
        "--runs",
        nargs="+",
        default=["study"],
        help=f"groups ({', '.join(study.GROUPS)}) or configuration names (--list)",
    )
    ap.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        help="train each run at every one of these seeds (default: "
        "params.yaml's seed); a seed other than params.yaml's is added to the record name as -seedN",
    )
    ap.add_argument(
        "-S",
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a param of every run, as `dvc exp run -S` does (e.g. -S epochs=5)",
    )
    ap.add_argument("--params", default="params.yaml", help="base params (default: %(default)s)")
    ap.add_argument("--out", default=str(records.RUNS_DIR), help="records folder (default: %(default)s)")
    ap.add_argument("--work", default="data/grid", help="work folder of the stages (default: %(default)s)")
    ap.add_argument(
        "--per-call",
        type=int,
        metavar="K",
        help='split the runs into calls of K (a bounded GPU job: README, "On a GPU") and run only call --call',
    )
    ap.add_argument("--call", type=int, default=0, metavar="I", help="with --per-call: which call, from 0")
    ap.add_argument(
        "--archive",
        metavar="FILE",
        help="also write this call's records as one .tar.gz (one file to "
        "bring back; unpack with `tar xzf FILE -C reports/runs`)",
    )
    ap.add_argument(
        "--code-commit",
        metavar="SHA",
        help="the git commit of this code, where the tree has no .git "
        "(e.g. copied to a GPU machine; default: this checkout's HEAD)",
    )
    ap.add_argument(
        "--queue",
        action="store_true",
        help="queue the runs in DVC (`dvc exp run --queue`) instead; "
        "then `dvc exp run --run-all` and `python tools/record.py $(dvc exp list --name-only)`",
    )
    ap.add_argument("--list", action="store_true", help="print every configuration as its dvc command, then exit")
    ap.add_argument(
        "--overrides",
        metavar="NAME",
        choices=study.CONFIGURATIONS,
        help="print the configuration's overrides as `-S key=value ...` (for scripts), then exit",
    )
    args = ap.parse_args()
    if args.overrides:
        return print(shlex.join(study.sets(args.overrides)))
    if args.list:
        for group, runs in study.GROUPS.items():
            for name in runs:
                print(f"{group:8s} {shlex.join(study.exp_run(name))}")
        return
    try:
        sets = dict(parse_set(s) for s in args.sets)
        base = yaml.safe_load(Path(args.params).read_text())
        if args.queue:
            return queue(plan(args.runs, args.seeds, base, sets), args.data, args.sets, base)
        if not args.data:
            raise SkipnetError("--data is required: the image-folder root, e.g. ../shared/data/coco-5class-64")
        # a record's command runs from a fresh clone: another params file enters it as its -S from main's
        from_file = [w for s in provenance.overrides(base, committed(REPO / "params.yaml")) for w in ("-S", s)]
        base = with_overrides(base, {"dataset": "folder", "datasets.folder.root": args.data})
        commit = args.code_commit or provenance.head_commit(REPO)
        if not records.known_commit(commit):  # checked now, not after hours of training
            raise SkipnetError(
                f"the code's git commit is {commit!r} (no git checkout here?): a record names the code "
                f"that trained it; run from a git clone or pass --code-commit SHA"
            )
        runs = plan(args.runs, args.seeds, base, sets)
        if args.per_call:
            calls = -(-len(runs) // args.per_call)
            if not 0 <= args.call < calls:
                raise SkipnetError(
                    f"--call {args.call}: {len(runs)} runs in calls of {args.per_call} make calls 0 to {calls - 1}"
                )
            runs = runs[args.call * args.per_call : (args.call + 1) * args.per_call]
            print(f"call {args.call} of 0-{calls - 1}: {', '.join(r[0] for r in runs)}", flush=True)
        made = []
        for name, config, seed, params in runs:
            if (Path(args.out) / name).exists():  # a call run again after it stopped: what it finished is kept
                print(f"{name}: recorded already in {args.out}, kept", flush=True)
                made.append(name)
                continue
            command = shlex.join(
                [
                    "python",
                    "tools/run_grid.py",
                    "--data",
                    records.repo_relative(args.data),
                    "--runs",
                    config,
                    *([f"--seeds={seed}"] if seed != base["seed"] else []),
                    *from_file,
                    *[w for s in args.sets for w in ("-S", s)],
                ]
            )
            t0 = time.time()
            folder = run_one(
                name, params, Path(args.work).absolute(), args.out, command, commit
            )  # the stages chdir there
            print(f"{name}: {records.load(folder).headline} in {time.time() - t0:.0f} s -> {folder}", flush=True)
            made.append(name)
        if args.archive:
            archive(Path(args.out), made, Path(args.archive))
            print(f"{len(made)} records in {args.archive}", flush=True)
    except SkipnetError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
