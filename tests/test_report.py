"""The README's study grid, queued and run, then the report over it, in a temp repo."""
import shlex

from conftest import REPO, sh

TINY = ["-S", "dataset=sample", "-S", "datasets.sample.train_per_class=30", "-S", "datasets.sample.val_per_class=10",
        "-S", "depth=1", "-S", "epochs=1", "-S", "display_interval=1"]


def readme_grid():
    """The README's grid one-liner, split at '&&', with TINY added to each queued experiment."""
    line = next(x for x in (REPO / "README.md").read_text().splitlines() if x.startswith("dvc exp run --queue"))
    commands = [shlex.split(part) for part in line.split("&&")]
    return [c + TINY if "--queue" in c else c for c in commands]


def test_readme_grid_then_report_lists_every_experiment(repo):
    for command in readme_grid():
        sh(command, cwd=repo)
    out = sh(["python", "stages/report.py"], cwd=repo).stdout
    assert "reports/study.md (3 experiments)" in out
    md = (repo / "reports/study.md").read_text()
    rows = "\n".join(line for line in md.splitlines() if line.startswith("| ") and "experiment" not in line)
    assert "| mynet | 1 | yes | study | 0.001 |" in rows
    assert "| mynet | 1 | yes | study | 0.0001 |" in rows
    assert "| net3 | - | - | study | 0.001 |" in rows
    assert "![loss curves](loss_overlay.png)" in md
    for png in ("loss_overlay.png", "confusion_matrices.png"):
        assert (repo / "reports" / png).read_bytes()[:4] == b"\x89PNG"


def test_report_without_experiments_says_what_to_do(repo):
    proc = sh(["python", "stages/report.py"], cwd=repo, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: no experiment with metrics found")
