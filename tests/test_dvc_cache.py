"""DVC never retrains what it has already seen (the run-cache), a killed run still resumes, and a team shares
results through a real DVC remote and a real git remote (a local folder and a bare repo, in a temp dir)."""
import json
import os
import signal
import subprocess
import time

from conftest import REPO, env, sh

def metrics(repo):
    return json.loads((repo / "dvclive/metrics.json").read_text())


def epochs_table(repo):
    return (repo / "plots/epochs.csv").read_text()


def train_log_epochs(repo):
    epochs = json.loads((repo / "models/train_log.json").read_text())["epochs"]
    return [{k: v for k, v in e.items() if k not in ("seconds", "images_per_s")} for e in epochs]


def test_sigkill_during_dvc_exp_run_then_rerun_finishes_as_an_uninterrupted_run(trained_repo):
    repo = trained_repo
    whole = metrics(repo), train_log_epochs(repo)  # the quick start: an uninterrupted run of these params
    # the same params again, the train stage forced past the run-cache, killed once epoch 1's checkpoint is on disk
    again = ["dvc", "exp", "run", "--force", "--single-item", "train"]
    proc = subprocess.Popen(again, cwd=repo, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    resume_dir = repo / "models/resume"
    deadline = time.time() + 300
    while not list(resume_dir.glob("*.pt")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list(resume_dir.glob("*.pt")), "no checkpoint appeared before the run ended"
    out = sh(again, cwd=repo).stdout
    assert "resumed from models/resume/" in out and "of 4 already done" in out, out
    assert (metrics(repo), train_log_epochs(repo)) == whole
    assert list(resume_dir.glob("*.pt")) == []  # a finished run leaves no checkpoint behind


def readme_sharing():
    """The command lines of the README's sharing block (the code block after `<!-- sharing -->`)."""
    text = (REPO / "README.md").read_text().split("<!-- sharing -->\n", 1)[1]
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def test_run_cache_here_and_for_a_teammate_through_real_remotes(trained_repo, tmp_path):
    """Switching back to params DVC already ran restores them from the run-cache; then the README's sharing
    commands, run as written against a local DVC remote and a bare git repository: a fresh clone is clean,
    `dvc repro` does nothing, the pushed experiment is listed, and its params are restored, not trained."""
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
        if i == 1:  # on the commit that names the remote: an experiment to share, then the baseline's params again
            baseline = metrics(repo), epochs_table(repo), (repo / "metrics/predictions.csv").read_text()
            b = sh(["dvc", "exp", "run", "-n", "slower", "-S", "lr=0.0003"], cwd=repo).stdout
            assert "Running stage 'train'" in b and metrics(repo) != baseline[0]
            back = sh(["dvc", "exp", "run", "-S", "lr=0.001"], cwd=repo).stdout  # switching back: no training
            assert "Stage 'train' is cached - skipping run, checking out outputs" in back, back
            assert "epoch 1/" not in back and "Running stage 'evaluate'" in back  # evaluate: seconds, git-tracked outs
            assert (metrics(repo), epochs_table(repo), (repo / "metrics/predictions.csv").read_text()) == baseline
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
