"""The grid on several machines (README, "The grid on several machines"): SLURM array tasks, each in its own
clone, share one bare origin and one local DVC remote; a third clone pulls both experiments and builds the report."""
import importlib.util
import shlex
import subprocess

import yaml

from conftest import MAIN_PARAMS, QUICK_OVERRIDES, REPO, committed, copy_repo, readme_block, sh
from skipnet.analysis import study

SCRIPT = REPO / "scripts/slurm_grid.sh"
# sbatch for the test: runs the array's tasks one after another, as SLURM would run them on two machines
SBATCH_STUB = """#!/usr/bin/env bash
set -euo pipefail
array=${1#--array=}; shift
for ((i=${array%-*}; i<=${array#*-}; i++)); do
    SLURM_ARRAY_JOB_ID=7 SLURM_ARRAY_TASK_ID=$i bash "$@"
done
"""
TINY = ["-S", "dataset=sample", "-S", "depth=1", "-S", "epochs=1", "-S", "batch_size=64", *QUICK_OVERRIDES]


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


def test_the_runner_reruns_what_dvc_yaml_says_a_changed_param_reruns(tmp_path):
    run_grid = load_run_grid()
    (tmp_path / "dvc.yaml").write_text(committed("dvc.yaml"))
    stages = run_grid.pipeline(tmp_path / "dvc.yaml")
    names = [name for name, _, _ in stages]
    assert names == list(yaml.safe_load(committed("dvc.yaml"))["stages"])
    assert [script for _, script, _ in stages][:2] == ["download", "select_images"]  # the script each cmd runs
    done = {name: run_grid.ran_with(MAIN_PARAMS, keys) for name, _, keys in stages}
    assert run_grid.stale(stages, MAIN_PARAMS, {}) == names and run_grid.stale(stages, MAIN_PARAMS, done) == []

    def rerun(**changes):
        return run_grid.stale(stages, study.apply(MAIN_PARAMS, changes), done)
    assert rerun(seed=1) == names  # the selection is seeded: download lists seed
    assert rerun(image_size=64) == names[names.index("prepare"):]
    assert rerun(lr=0.01) == names[names.index("train"):]
    assert rerun(**{"datasets.sample.train_per_class": 3}) == names  # download lists all of datasets
    # a param added to a stage in dvc.yaml: the runner follows
    edited = yaml.safe_load(committed("dvc.yaml"))
    edited["stages"]["fetch"]["params"] = ["image_size"]
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(edited, sort_keys=False))
    stages = run_grid.pipeline(tmp_path / "dvc.yaml")
    assert run_grid.stale(stages, study.apply(MAIN_PARAMS, {"image_size": 64}), done) == names[names.index("fetch"):]


def test_list_prints_every_declared_configuration_as_its_dvc_command():
    out = sh(["python", "tools/run_grid.py", "--list"], cwd=REPO).stdout.splitlines()
    assert len(out) == len(study.CONFIGURATIONS)
    assert "study    dvc exp run -n mynet16-lr1e-4 -S lr=0.0001" in out
    assert sh(["python", "tools/run_grid.py", "--overrides", "net3-64px"], cwd=REPO).stdout == "-S arch=net3 -S image_size=64\n"
    proc = sh(["python", "tools/run_grid.py", "--runs", "nope", "--data", "x"], cwd=REPO, check=False)
    assert proc.returncode == 1 and proc.stderr.startswith("error: --runs nope: not a group (study, ablation, sweep, tuning)")
