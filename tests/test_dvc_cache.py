"""DVC never retrains what it has already seen (the run-cache), a killed run still resumes, and a team shares
results through a real DVC remote and a real git remote (a local folder and a bare repo, in a temp dir)."""

import csv
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time

import torch
import yaml

from conftest import SLOWER, env, readme_block, sh
from skipnet.training import live


def metrics(repo):
    """The headline (git-tracked) and DVCLive's progress (cached)."""
    return [json.loads((repo / path).read_text()) for path in ("metrics/headline.json", "dvclive/metrics.json")]


def epochs_table(repo):
    return (repo / "plots/epochs.csv").read_text()


TIMING = ("seconds", "images_per_s")


def train_log(repo):
    """The train log less its timing: per-epoch metrics, running loss, gradient norms."""
    log = json.loads((repo / "models/train_log.json").read_text())
    return (
        [{k: v for k, v in e.items() if k not in TIMING} for e in log["epochs"]],
        log["running_loss"],
        log["grad_norms"],
    )


def dvclive_rows(repo):
    """DVCLive's per-epoch series, (step, value) rows per metric, timing series left out."""
    series = {}
    for name in live.EPOCH_METRICS:
        if name not in TIMING:
            with open(repo / f"{live.DIR}/plots/metrics/{name}.tsv") as f:
                series[name] = [(row["step"], row[name]) for row in csv.DictReader(f, delimiter="\t")]
    return series


def test_sigkill_during_dvc_exp_run_then_rerun_finishes_as_an_uninterrupted_run(trained_repo):
    repo = trained_repo
    sh(["dvc", "exp", "apply", "slower"], cwd=repo)  # the fixture's 2-epoch experiment: an uninterrupted run
    whole = metrics(repo), train_log(repo), dvclive_rows(repo)
    # the same params again, the train stage forced past the run-cache, killed once epoch 1's checkpoint is on disk
    again = ["dvc", "exp", "run", "--force", "--single-item", "train"]
    proc = subprocess.Popen(
        again, cwd=repo, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    resume_dir = repo / "models/resume"
    deadline = time.time() + 300
    while not list(resume_dir.glob("*.pt")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    [ckpt] = resume_dir.glob("*.pt")
    done = torch.load(ckpt, weights_only=True)["epoch"]
    assert done == 1
    out = sh(again, cwd=repo).stdout
    assert f"resumed from models/resume/{ckpt.name}" in out and "epoch 1 of 2 already done" in out, out
    # the same numbers, and DVCLive's series hold each epoch exactly once
    assert (metrics(repo), train_log(repo), dvclive_rows(repo)) == whole
    assert [step for step, _ in whole[2]["val_acc"]] == ["1", "2"]
    assert list(resume_dir.glob("*.pt")) == []  # a finished run leaves no checkpoint behind


def test_run_cache_here_and_for_a_teammate_through_real_remotes(trained_repo, tmp_path):
    """Switching back to params DVC already ran restores them from the run-cache; then the README's sharing
    commands, run as written against a local DVC remote and a bare git repository: a fresh clone is clean,
    `dvc repro` does nothing, the pushed experiment is listed, and its params are restored, not trained."""
    repo = trained_repo
    # the quick start ran A, then (on the commit naming the DVC remote: sharing step 1) the experiment `slower`, B.
    # In B's workspace, A's params again:
    baseline = metrics(repo), epochs_table(repo), (repo / "metrics/predictions.csv").read_text()
    sh(["dvc", "exp", "apply", "slower"], cwd=repo)
    assert metrics(repo) != baseline[0]
    back = sh(["dvc", "exp", "run", "-S", "lr=0.001", "-S", "epochs=4"], cwd=repo).stdout
    assert "Stage 'train' is cached - skipping run, checking out outputs" in back, back
    assert "epoch 1/" not in back and "Running stage 'evaluate'" in back  # evaluate: seconds, git-tracked outs
    assert (metrics(repo), epochs_table(repo), (repo / "metrics/predictions.csv").read_text()) == baseline
    sh("git checkout -q -- . && dvc checkout -q", cwd=repo)

    origin, clone = tmp_path / "origin.git", tmp_path / "teammate"
    branch = sh(["git", "branch", "--show-current"], cwd=repo).stdout.strip()
    sh(["git", "init", "-q", "--bare", "-b", branch, str(origin)], cwd=tmp_path)
    sh(["git", "remote", "add", "origin", str(origin)], cwd=repo)
    steps = readme_block("sharing")
    assert len(steps) == 6, steps
    for step in steps[1:]:
        step = step.replace("$ORIGIN", str(origin)).replace("$EXP", "slower")
        if step.startswith("git clone"):  # then the teammate's own identity for their experiments
            assert step.endswith("&& cd skipnet")
            sh(step.split("&&")[0].replace("skipnet", str(clone)), cwd=tmp_path)
            sh("git config user.email t2@t && git config user.name t2", cwd=clone)
            continue
        sh(step, cwd=clone if clone.exists() else repo)
    assert (clone / "data/prepared/train.npz").exists() and (clone / "models/model.pt").exists()
    status = sh(["dvc", "status"], cwd=clone).stdout
    assert "Data and pipelines are up to date" in status, status
    repro = sh(["dvc", "repro"], cwd=clone).stdout
    assert "Running stage" not in repro, repro
    shown = sh(["dvc", "exp", "show", "--no-pager", "--csv"], cwd=clone).stdout
    assert "slower" in shown, shown
    # a param set the first clone ran, run here: restored from the pushed run-cache, not trained
    out = sh(["dvc", "exp", "run", *SLOWER], cwd=clone).stdout
    assert "Stage 'train' is cached - skipping run, checking out outputs" in out, out
    assert "epoch 1/" not in out

    # the pushed experiment's model: a registry version (README, "Use the model"), fetched by name into an empty
    # folder, then asked about photographs
    register, get, predict = [
        s.replace("$ORIGIN", str(origin)).replace("$EXP", "slower") for s in readme_block("artifact")
    ]
    sh(register, cwd=repo)
    fresh, photos = tmp_path / "fresh", tmp_path / "my_photos"
    fresh.mkdir()
    photos.mkdir()
    sh(get, cwd=fresh)
    lock = yaml.safe_load(sh(["git", "show", "slower:dvc.lock"], cwd=repo).stdout)
    [model_out] = [o for o in lock["stages"]["train"]["outs"] if o["path"] == "models/model.pt"]
    assert hashlib.md5((fresh / "model.pt").read_bytes()).hexdigest() == model_out["md5"]
    for jpg in sorted((clone / "data/images").rglob("*.jpg"))[:3]:
        shutil.copy(jpg, photos / jpg.name)
    shown = sh(
        predict.replace("model.pt", str(fresh / "model.pt")).replace("my_photos/", str(photos)), cwd=clone
    ).stdout
    assert shown.count(str(photos)) == 3, shown  # one row per photograph, exit 0
