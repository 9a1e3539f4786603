"""DVC never retrains what it has already seen (the run-cache), a killed run still resumes, and a team shares
results through a real DVC remote and a real git remote (a local folder and a bare repo, in a temp dir)."""
import json
import os
import signal
import subprocess
import time

from conftest import REPO, env, sh

TIMING = ("epoch_seconds", "images_per_s")


def metrics(repo):
    return json.loads((repo / "dvclive/metrics.json").read_text())


def epochs_table(repo):
    return (repo / "plots/epochs.csv").read_text()


def without_timing(csv_text):
    rows = [line.split(",") for line in csv_text.splitlines()]
    keep = [i for i, name in enumerate(rows[0]) if name not in ("seconds", "images_per_s")]
    return [[row[i] for i in keep] for row in rows]


def test_switching_back_to_a_param_set_restores_it_from_the_run_cache(trained_repo):
    repo = trained_repo
    a = metrics(repo), epochs_table(repo), (repo / "metrics/predictions.csv").read_text()
    b = sh(["dvc", "exp", "run", "-S", "lr=0.0003"], cwd=repo).stdout
    assert "Running stage 'train'" in b and metrics(repo) != a[0]
    again = sh(["dvc", "exp", "run", "-S", "lr=0.001"], cwd=repo).stdout  # the quick start's lr again
    assert "Stage 'train' is cached - skipping run, checking out outputs" in again, again
    assert "Running stage 'evaluate'" in again  # seconds: its git-tracked outputs keep it off the run-cache
    assert "Running stage 'train'" not in again and "epoch 1/" not in again
    assert (metrics(repo), epochs_table(repo), (repo / "metrics/predictions.csv").read_text()) == a
    assert list((repo / "models/resume").iterdir()) == []  # finished runs leave no checkpoint behind


def test_sigkill_during_dvc_exp_run_then_rerun_finishes_as_an_uninterrupted_run(trained_repo):
    repo = trained_repo
    command = ["dvc", "exp", "run", "-S", "lr=0.0005", "-S", "epochs=3"]
    sh(command, cwd=repo)
    whole = metrics(repo), without_timing(epochs_table(repo))
    # the same params again, forced past the run-cache, killed once an epoch's checkpoint is on disk
    proc = subprocess.Popen([*command, "--force"], cwd=repo, env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    resume_dir = repo / "models/resume"
    deadline = time.time() + 300
    while not list(resume_dir.glob("*.pt")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list(resume_dir.glob("*.pt")), "no checkpoint appeared before the run ended"
    out = sh([*command, "--force"], cwd=repo).stdout
    assert "already done" in out and "resumed from models/resume/" in out, out
    assert (metrics(repo), without_timing(epochs_table(repo))) == whole
    assert list(resume_dir.glob("*.pt")) == []


def readme_sharing():
    """The command lines of the README's sharing block (the code block after `<!-- sharing -->`)."""
    text = (REPO / "README.md").read_text().split("<!-- sharing -->\n", 1)[1]
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def test_a_teammate_reproduces_through_real_remotes_without_training(trained_repo, tmp_path):
    repo = trained_repo
    origin, storage = tmp_path / "origin.git", tmp_path / "dvc-storage"
    branch = sh(["git", "branch", "--show-current"], cwd=repo).stdout.strip()
    sh(["git", "init", "-q", "--bare", "-b", branch, str(origin)], cwd=tmp_path)
    sh(["git", "remote", "add", "origin", str(origin)], cwd=repo)
    steps = readme_sharing()
    assert len(steps) == 6, steps
    subst = {"$STORAGE": str(storage), "$ORIGIN": str(origin), "$EXP": "slower"}
    clone = tmp_path / "teammate"
    for i, step in enumerate(steps):
        for key, value in subst.items():
            step = step.replace(key, value)
        if i == 1:  # on the commit that names the remote: an experiment to share, then the baseline back
            sh(["dvc", "exp", "run", "-n", "slower", "-S", "lr=0.0003"], cwd=repo)
            sh("git checkout -q -- . && dvc checkout -q", cwd=repo)
        if step.startswith("git clone"):  # then the teammate's own identity for their experiments
            assert step.endswith("&& cd skipnet")
            sh(step.split("&&")[0].replace("skipnet", str(clone)), cwd=tmp_path)
            sh("git config user.email t2@t && git config user.name t2", cwd=clone)
            continue
        sh(step, cwd=repo if i < 3 else clone)
    assert (clone / "data/prepared/train.npz").exists() and (clone / "models/model.pt").exists()
    status = sh(["dvc", "status"], cwd=clone).stdout
    assert "Data and pipelines are up to date" in status, status
    repro = sh(["dvc", "repro"], cwd=clone).stdout
    assert "Running stage" not in repro, repro
    shown = sh(["dvc", "exp", "show", "--no-pager", "--csv"], cwd=clone).stdout
    assert "slower" in shown, shown
    # a param set the first clone ran, run here: restored from the pushed run-cache, not trained
    out = sh(["dvc", "exp", "run", "-S", "lr=0.0003"], cwd=clone).stdout
    assert "Stage 'train' is cached - skipping run, checking out outputs" in out, out
    assert "epoch 1/" not in out
