"""The README followed top to bottom in a fresh clone: the quick start, then the suite's params checks, then
`dvc repro` about to train the study's params; and params.yaml written as DVC writes it."""

import difflib
import json
import shlex

from dvc.utils.hydra import apply_overrides  # what `dvc exp run -S` does to params.yaml

from conftest import committed, readme_command, readme_line, sh


def changed_lines(before, after):
    """The lines `git diff` would show as removed (-) and added (+)."""
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_one_set_param_changes_one_line_of_params_yaml(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(committed("params.yaml"))
    apply_overrides(path, ["lr=0.0001"])
    assert changed_lines(committed("params.yaml"), path.read_text()) == ["-lr: 0.001", "+lr: 0.0001"]
    path.write_text(committed("params.yaml"))
    quick = [w for w in readme_command("dvc exp run -S dataset=sample") if "=" in w]
    apply_overrides(path, quick)
    assert len(changed_lines(committed("params.yaml"), path.read_text())) == 2 * len(quick) == 8


def test_readme_in_order_in_a_fresh_clone(quick_start):
    """Quick start (as the README writes it: the session's fixture ran it), the params tests with a dirty
    params.yaml, then the real study."""
    repo, out = quick_start.readme, quick_start.out
    assert "Running stage 'evaluate'" in out
    assert (repo / "params.yaml").read_text() == committed("params.yaml")  # the study's params are back
    headline = json.loads((repo / "metrics/headline.json").read_text())  # the results came in
    assert set(headline) == {"train_loss", "val_loss", "val_acc"}
    assert ",sample," in sh(["dvc", "exp", "show", "--csv"], cwd=repo).stdout  # the quick start, listed

    # the tests read the committed params, never the working copy's, here dirtied as any `dvc exp run -S` does
    quick = readme_line("dvc exp run -S dataset=sample").split(" && ")[0]
    apply_overrides(repo / "params.yaml", [w for w in shlex.split(quick) if "=" in w])
    tests = sh(["python", "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", "tests/test_params.py"], cwd=repo)
    assert " passed" in tests.stdout and "failed" not in tests.stdout, tests.stdout
    sh(["git", "checkout", "params.yaml"], cwd=repo)

    # `dvc repro` next trains the study (a dry run shows the stages whose params changed; fetch and prepare follow)
    dry = sh(["dvc", "repro", "--dry"], cwd=repo).stdout
    for stage in ("download", "select", "train", "evaluate"):
        assert f"Running stage '{stage}'" in dry, dry
    status = json.loads(sh(["dvc", "status", "--json"], cwd=repo).stdout)
    changed = {k for entry in status["train"] for change in entry.get("changed deps", {}).values() for k in change}
    assert {"depth", "epochs", "batch_size"} <= changed, status  # the quick start's values are not the study's
