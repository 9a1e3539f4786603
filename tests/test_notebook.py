"""notebooks/colab.ipynb, the study's Colab path, executed headless on the CPU (a real kernel, nbclient) in a copy of
the quick start's repo (its git identity removed, as in a fresh runtime) with its parameters cell set to the suite's
quick start, which DVC's run-cache restores, and no install (the venv has the requirements; scripts/test_minimum.py
checks that `pip install -e .` keeps an installed torch)."""

import shlex

import nbformat
from nbclient import NotebookClient

from conftest import QUICK_OVERRIDES, REPO, SLOWER, env, readme_line, sh

PARAMETERS = """REPO_URL = "not used: WORKDIR holds the repo"
WORKDIR = {workdir!r}
STUDY = False
QUICK = {quick!r}
VARIANT = {variant!r}
INSTALL = False
"""


def text(cell):
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def test_the_colab_notebook_runs_a_students_path_and_shows_its_results(trained_repo, tmp_path):
    repo = trained_repo
    sh("git config --unset user.email && git config --unset user.name", cwd=repo)  # a fresh runtime has no identity
    quick = shlex.split(readme_line("dvc exp run -S dataset=sample").split(" && ")[0])[3:] + QUICK_OVERRIDES
    (tmp_path / "gitconfig").write_text("")
    nb = nbformat.read(REPO / "notebooks/colab.ipynb", as_version=4)
    (parameters,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    # the variant is the fixture's experiment `slower`: DVC's run-cache restores its training too
    parameters.source = PARAMETERS.format(workdir=str(repo), quick=shlex.join(quick), variant=shlex.join(SLOWER))
    kernel_env = dict(env(), GIT_CONFIG_GLOBAL=str(tmp_path / "gitconfig"), GIT_CONFIG_NOSYSTEM="1")
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute(
        env=kernel_env
    )

    cells = {c.source.splitlines()[0]: c for c in nb.cells if c.cell_type == "code"}
    device = text(cells['sh("python tools/device.py")'])
    assert "(auto: no NVIDIA GPU on this machine); precision:" in device, device
    assert sh("git config user.email", cwd=repo).stdout.strip() == "student@colab.invalid"
    shown = cells["from IPython.display import Image, display"]
    assert '"val_acc"' in text(shown)
    assert [o.output_type for o in shown.outputs if "image/png" in o.get("data", {})] == ["display_data"] * 2
    assert all(len(o.data["image/png"]) > 1000 for o in shown.outputs if "image/png" in o.get("data", {}))
    table = text(cells['sh("dvc exp show --only-changed --md")'])
    assert "baseline" in table and "lr1e-4" in table and "0.0001" in table, table
    diff = text(cells['sh("dvc metrics diff baseline lr1e-4")'])
    assert "metrics/headline.json" in diff and "val_acc" in diff, diff
