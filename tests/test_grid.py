"""The grid on several machines (README, "The grid on several machines"): SLURM array tasks, each in its own
clone, share one bare origin and one local DVC remote; a third clone pulls both experiments and builds the report."""

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from conftest import MAIN_PARAMS, REPO, committed, copy_repo, readme_block, sh
from skipnet.analysis import study
from skipnet.config.params import with_overrides

SCRIPT = REPO / "scripts/slurm_grid.sh"
# sbatch for the test: runs the array's tasks one after another, as SLURM would run them on two machines
SBATCH_STUB = """#!/usr/bin/env bash
set -euo pipefail
array=${1#--array=}; shift
for ((i=${array%-*}; i<=${array#*-}; i++)); do
    SLURM_ARRAY_JOB_ID=7 SLURM_ARRAY_TASK_ID=$i bash "$@"
done
"""
TINY = [
    "-S",
    "dataset=sample",
    "-S",
    "depth=1",
    "-S",
    "epochs=1",
    "-S",
    "batch_size=64",
    "-S",
    "datasets.sample.train_per_class=30",
    "-S",
    "datasets.sample.val_per_class=10",
]


def test_slurm_script_parses_and_refuses_to_run_outside_an_array():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    proc = sh(["bash", str(SCRIPT), "x"], cwd=REPO, check=False)
    assert proc.returncode != 0 and "ORIGIN" in proc.stderr
    proc = sh("ORIGIN=/nowhere bash " + str(SCRIPT) + " x", cwd=REPO, check=False)
    assert proc.returncode != 0 and "sbatch --array" in proc.stderr


def test_grid_on_two_machines_then_one_report(tmp_path):
    main = copy_repo(tmp_path / "main")
    origin, storage, bin_dir = tmp_path / "origin.git", tmp_path / "storage", tmp_path / "bin"
    branch = sh(["git", "branch", "--show-current"], cwd=main).stdout.strip()
    sh(["git", "init", "-q", "--bare", "-b", branch, str(origin)], cwd=tmp_path)
    sh(readme_block("sharing")[0].replace("$STORAGE", str(storage)), cwd=main)  # the DVC remote, committed
    sh(f"git remote add origin {origin} && git push -q origin HEAD", cwd=main)
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(SBATCH_STUB)
    (bin_dir / "sbatch").chmod(0o755)

    submit, pull, record, report = readme_block("grid")
    assert submit.startswith("ORIGIN=") and " sbatch --array=0-4 scripts/slurm_grid.sh " in submit
    words = shlex.split(submit)
    job = " ".join([f"ORIGIN={origin}", "sbatch", "--array=0-1", str(SCRIPT), "tiny", *map(shlex.quote, TINY)])
    assert words[1:4] == ["sbatch", "--array=0-4", "scripts/slurm_grid.sh"]
    out = sh(f"PATH={bin_dir}:$PATH SKIPNET_WORK={tmp_path / 'nodes'} {job}", cwd=main).stdout
    assert "tiny-seed60146 pushed" in out and "tiny-seed60147 pushed" in out, out
    assert sorted(p.name for p in (tmp_path / "nodes").iterdir()) == ["skipnet-7-0", "skipnet-7-1"]  # two clones

    third = tmp_path / "third"
    sh(["git", "clone", "-q", str(origin), str(third)], cwd=tmp_path)
    sh("git config user.email t3@t && git config user.name t3", cwd=third)
    for step in (pull, record, report):
        sh(step, cwd=third)
    runs = sorted(p.name for p in (third / "reports/runs").iterdir())
    assert runs == ["tiny-seed60146", "tiny-seed60147"], runs
    study = (third / "reports/study.md").read_text()
    assert "tiny-seed60146" in study and "tiny-seed60147" in study


def load_run_grid():
    spec = importlib.util.spec_from_file_location("run_grid", REPO / "tools/run_grid.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_runner_keys_each_stage_as_dvc_yaml_says(tmp_path):
    """A stage's key: the params dvc.yaml lists for it and its data dependencies' contents, read from dvc.yaml."""
    run_grid = load_run_grid()
    (tmp_path / "dvc.yaml").write_text(committed("dvc.yaml"))
    stages = run_grid.pipeline(tmp_path / "dvc.yaml")
    assert [s.name for s in stages] == list(yaml.safe_load(committed("dvc.yaml"))["stages"])
    assert [s.script for s in stages][:2] == ["download", "select_images"]  # the script each cmd runs
    work = tmp_path / "work"
    for dep in {d for s in stages for d in s.deps}:
        (work / dep).parent.mkdir(parents=True, exist_ok=True)
        (work / dep).write_text(dep) if "." in Path(dep).name else (work / dep).mkdir(exist_ok=True)
    (work / "data/images/a.jpg").write_bytes(b"jpeg")

    def keys(params=MAIN_PARAMS, stages=stages):
        return {s.name: run_grid.stage_key(s, params, work) for s in stages}

    before = keys()
    changed = lambda after: sorted(n for n in before if after[n] != before[n])  # noqa: E731
    # another seed: the stages that list it; fetch and prepare only if select's manifest changes
    assert changed(keys(with_overrides(MAIN_PARAMS, {"seed": 1}))) == ["download", "evaluate", "select", "train"]
    assert changed(keys(with_overrides(MAIN_PARAMS, {"image_size": 64}))) == ["prepare"]
    (work / "data/manifest.csv").write_text("data/manifest.csv")  # rewritten, the same bytes
    assert changed(keys()) == []
    (work / "data/manifest.csv").write_text("other images")
    assert changed(keys()) == ["evaluate", "fetch", "prepare"]
    (work / "data/manifest.csv").write_text("data/manifest.csv")
    (work / "data/images/b.jpg").write_bytes(b"jpeg")  # a folder dependency: by its files
    assert changed(keys()) == ["prepare"]
    # a param added to a stage in dvc.yaml: the runner follows
    edited = yaml.safe_load(committed("dvc.yaml"))
    edited["stages"]["fetch"]["params"] = ["image_size"]
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(edited, sort_keys=False))
    before = keys(stages=run_grid.pipeline(tmp_path / "dvc.yaml"))
    after = keys(with_overrides(MAIN_PARAMS, {"image_size": 64}), run_grid.pipeline(tmp_path / "dvc.yaml"))
    assert changed(after) == ["fetch", "prepare"]


def test_seeds_of_one_image_folder_reuse_fetch_and_prepare_across_calls(tmp_path):
    """Every image of a folder (per-class counts null) is the same selection at any seed: the second seed's run
    reruns download and select (they list the seed) but, as DVC would, not fetch or prepare. The two runs go as two
    calls of one run each (a bounded GPU job), the second bringing its record back as one archive."""
    folder = tmp_path / "folder"
    rng = np.random.default_rng(0)
    for split, n in (("train", 24), ("val", 8)):
        for cls in ("boat", "dog"):
            (folder / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(
                    folder / split / cls / f"{i}.jpg"
                )
    (tmp_path / "params.yaml").write_text(committed("params.yaml"))
    runs = tmp_path / "runs"

    def call(i, *more, check=True):
        return sh(
            [
                "python",
                "tools/run_grid.py",
                "--data",
                os.path.relpath(folder, REPO),
                "--runs",
                "mynet16-lr1e-3",
                "--seeds",
                "1",
                "2",
                "-S",
                "classes=[boat,dog]",
                "-S",
                "depth=1",
                "-S",
                "epochs=1",
                "-S",
                "batch_size=16",
                "--params",
                str(tmp_path / "params.yaml"),
                "--out",
                str(runs),
                "--work",
                str(tmp_path / "work"),
                "--per-call",
                "1",
                "--call",
                str(i),
                *more,
            ],
            cwd=REPO,
            check=check,
        )

    def stages(out):
        return [line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")]

    first = call(0).stdout
    assert first.startswith("call 0 of 0-1: mynet16-lr1e-3-seed1\n")
    assert stages(first) == ["download", "select", "fetch", "prepare", "train", "evaluate"]
    second = call(1, "--archive", str(tmp_path / "call1.tgz")).stdout
    assert stages(second) == ["download", "select", "train", "evaluate"]
    with tarfile.open(tmp_path / "call1.tgz") as tar:
        assert sorted(tar.getnames()) == ["mynet16-lr1e-3-seed2"] + [
            f"mynet16-lr1e-3-seed2/{f}"
            for f in ("epochs.csv", "grad_norms.csv", "loss.csv", "predictions.csv", "run.json")
        ]
    again = call(1).stdout  # a call run again keeps what it finished
    assert stages(again) == [] and f"mynet16-lr1e-3-seed2: recorded already in {runs}, kept" in again
    proc = call(2, check=False)
    assert proc.returncode == 1 and proc.stderr == "error: --call 2: 2 runs in calls of 1 make calls 0 to 1\n"


def test_list_prints_every_declared_configuration_as_its_dvc_command():
    out = sh(["python", "tools/run_grid.py", "--list"], cwd=REPO).stdout.splitlines()
    assert len(out) == len(study.CONFIGURATIONS)
    assert "study    dvc exp run -n mynet16-lr1e-4 -S lr=0.0001" in out
    assert (
        sh(["python", "tools/run_grid.py", "--overrides", "net3-64px"], cwd=REPO).stdout
        == "-S arch=net3 -S image_size=64\n"
    )
    proc = sh(["python", "tools/run_grid.py", "--runs", "nope", "--data", "x"], cwd=REPO, check=False)
    assert proc.returncode == 1 and proc.stderr.startswith(
        "error: --runs nope: not a group (study, ablation, sweep, tuning)"
    )


def test_outside_a_git_checkout_the_runner_stops_before_training(tmp_path):
    """A record names the commit of its code: where the tree has no .git (copied to a GPU machine), the runner says
    so before any stage runs, unless told the commit."""
    for part in ("tools", "stages", "src"):
        shutil.copytree(REPO / part, tmp_path / part, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    (tmp_path / "params.yaml").write_text(committed("params.yaml"))
    (tmp_path / "dvc.yaml").write_text(committed("dvc.yaml"))
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src"), "GIT_CEILING_DIRECTORIES": str(tmp_path.parent)}
    argv = [sys.executable, "tools/run_grid.py", "--data", "folder", "--runs"]
    proc = subprocess.run([*argv, "mynet16-lr1e-3"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr == (
        "error: the code's git commit is 'unknown' (no git checkout here?): "
        "a record names the code that trained it; run from a git clone or "
        "pass --code-commit SHA\n"
    )
    proc = subprocess.run(
        [*argv, "nope", "--code-commit", "0" * 40], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 1 and proc.stderr.startswith("error: --runs nope: not a group")  # past the commit check
