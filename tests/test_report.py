"""The study report over experiments in a temp repo."""
from conftest import sh

TINY = ["-S", "dataset=sample", "-S", "datasets.sample.train_per_class=30", "-S", "datasets.sample.val_per_class=10",
        "-S", "depth=1", "-S", "epochs=1", "-S", "display_interval=1"]


def test_report_lists_every_experiment_with_overlay_and_confusions(repo):
    sh(["dvc", "exp", "run", "-n", "fast-lr", *TINY, "-S", "lr=0.001"], cwd=repo)
    sh(["dvc", "exp", "run", "-n", "net3", *TINY, "-S", "arch=net3", "-S", "lr=0.0001"], cwd=repo)
    out = sh(["python", "stages/report.py"], cwd=repo).stdout
    assert "reports/study.md" in out
    md = (repo / "reports/study.md").read_text()
    rows = [line for line in md.splitlines() if line.startswith("| fast-lr |") or line.startswith("| net3 |")]
    assert len(rows) == 2, md
    assert "| mynet | 1 | yes | study | 0.001 |" in rows[0] + rows[1]
    assert "| net3 | - | - | study | 0.0001 |" in rows[0] + rows[1]
    assert "![loss curves](loss_overlay.png)" in md
    for png in ("loss_overlay.png", "confusion_matrices.png"):
        assert (repo / "reports" / png).read_bytes()[:4] == b"\x89PNG"


def test_report_without_experiments_says_what_to_do(repo):
    proc = sh(["python", "stages/report.py"], cwd=repo, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: no experiment with metrics found")
