"""Shared fixtures: a temp copy of the repo under git, a small prepared sample, subprocess helpers."""

import os
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml
from dvc.utils.hydra import apply_overrides  # what `dvc exp run -S` does to params.yaml

from skipnet.config.params import with_overrides

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv running the tests: its python and dvc

# pytest-xdist runs the suite in one worker per logical CPU (pyproject.toml): each worker's torch, and every process it
# starts, gets its share of the cores; two torch processes each spinning on every core slow each other many-fold.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    os.environ["OMP_NUM_THREADS"] = str(max(1, os.cpu_count() // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))

# Tests sharing one of these session fixtures run in one worker, so each is built once per run.
SHARED_FIXTURES = ("quick_start", "boat_dog_repo")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items):
    for item in items:
        for name in SHARED_FIXTURES:
            if name in item.fixturenames:
                item.add_marker(pytest.mark.xdist_group(name))


def env():
    e = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", PYTHONUNBUFFERED="1")
    e.pop("RANK", None)
    e.pop("WORLD_SIZE", None)
    return e


def sh(args, cwd, check=True, timeout=600):
    """Run a command; return CompletedProcess with text output. `check` asserts exit 0, showing output."""
    proc = subprocess.run(
        args, cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout, shell=isinstance(args, str)
    )
    if check:
        assert proc.returncode == 0, f"{args} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def free_port():
    """A loopback port nobody listens on (connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def committed(path):
    """A file as committed at HEAD: tests never read the working copy's params.yaml or dvc.lock, which
    `dvc exp run -S` rewrites (the README's quick start does)."""
    return subprocess.run(["git", "show", f"HEAD:{path}"], cwd=REPO, capture_output=True, text=True, check=True).stdout


MAIN_PARAMS = yaml.safe_load(committed("params.yaml"))


def set_params(repo, **dotted):
    """Edit params.yaml: set_params(repo, lr=0.01, **{"datasets.sample.train_per_class": 20})."""
    path = Path(repo) / "params.yaml"
    path.write_text(yaml.safe_dump(with_overrides(yaml.safe_load(path.read_text()), dotted), sort_keys=False))


def copy_repo(dest):
    """The repo's code (tracked and untracked-not-ignored files) with the committed params.yaml and no
    pipeline outputs, as a fresh git repo with one commit."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for rel in files:
        if (REPO / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dest / rel)
    (dest / "params.yaml").write_text(committed("params.yaml"))  # not an experiment's, applied to the workspace
    for stale in ("dvc.lock", "metrics", "plots", "dvclive", "reports"):  # outputs of the developer's own runs
        target = dest / stale
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    sh(
        "git init -q && git config user.email t@t && git config user.name t && git add -A && git commit -qm init",
        cwd=dest,
    )
    return dest


@pytest.fixture
def repo(tmp_path):
    return copy_repo(tmp_path / "repo")


# Small enough for CI's 2 cores; appended to the README's quick start.
QUICK_OVERRIDES = ["-S", "datasets.sample.train_per_class=64", "-S", "datasets.sample.val_per_class=40"]


def documents():
    """The README, then docs/ in name order: where a user reads each command the tests run."""
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def readme_line(prefix):
    """The command line of the README or docs/ starting with `prefix` (its comment cut), so the documents cannot
    drift from what is tested."""
    for doc in documents():
        for line in doc.read_text().splitlines():
            if line.strip().startswith(prefix):
                return line.strip().split("  #")[0].strip()
    raise AssertionError(f"README and docs/ have no command starting with {prefix!r}")


def readme_command(prefix):
    """The first command (up to any `&&`) of the README's line starting with `prefix`, as argv."""
    return shlex.split(readme_line(prefix).split(" && ")[0])


def readme_block(marker):
    """The command lines of the code block after `<!-- marker -->` in the README or docs/ (comments cut)."""
    text = next(d.read_text() for d in documents() if f"<!-- {marker} -->\n" in d.read_text())
    block = text.split(f"<!-- {marker} -->\n", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


# The second experiment every DVC test needs: another lr, fewer epochs (its data stages are the quick start's).
SLOWER = ["-S", "lr=0.0001", "-S", "epochs=2"]


class QuickStart(NamedTuple):
    repo: Path  # the quick start's results committed, with the DVC remote and the experiment `slower`
    out: str  # what the README's quick-start line printed
    readme: Path  # the repo as that line left it (params.yaml the study's again), for the README's next steps


@pytest.fixture(scope="session")
def quick_start(tmp_path_factory):
    """The README's quick-start line, as written (QUICK_OVERRIDES added), run once per test session in a repo copy;
    a copy of that repo as the README leaves it (`readme`); then in `repo` the experiment's params.yaml put back
    (as `dvc exp run -S` writes it), the results committed, the README's first sharing step (a DVC remote, here a
    local folder) committed, the experiment `slower` (SLOWER) run on top and the workspace put back to the quick
    start's results. Tests that change `repo` take a copy (`trained_repo`)."""
    root = tmp_path_factory.mktemp("quick")
    repo = copy_repo(root / "repo")
    quick, rest = readme_line("dvc exp run -S dataset=sample").split(" && ", 1)
    out = sh(f"{quick} {shlex.join(QUICK_OVERRIDES)} && {rest}", cwd=repo).stdout
    shutil.copytree(repo, root / "readme", symlinks=True)
    apply_overrides(repo / "params.yaml", [w for w in shlex.split(quick) + QUICK_OVERRIDES if "=" in w])
    sh("git add -A && git commit -qm 'quick start'", cwd=repo)
    # before the experiment: DVC pushes an experiment's data to the remote named in the experiment's own commit
    sh(readme_block("sharing")[0].replace("$STORAGE", str(root / "dvc-storage")), cwd=repo)
    sh(["dvc", "exp", "run", "-n", "slower", *SLOWER], cwd=repo)
    sh("git checkout -q -- . && dvc checkout -q", cwd=repo)
    assert "Data and pipelines are up to date" in sh(["dvc", "status"], cwd=repo).stdout
    return QuickStart(repo, out, root / "readme")


@pytest.fixture
def trained_repo(quick_start, tmp_path):
    """A private copy of the quick start's repo: git history, DVC cache and run-cache, workspace."""
    dest = tmp_path / "repo"
    shutil.copytree(quick_start.repo, dest, symlinks=True)
    return dest


SMALL = {"classes": ["boat", "cake", "couch", "dog", "motorcycle"], "train": 120, "val": 40, "size": 32}


@pytest.fixture(scope="session")
def small_sample(tmp_path_factory):
    """A generated sample taken through select, fetch and prepare: (train.npz, val.npz, source dir)."""
    from skipnet.data import fetch, prepare, sample, select

    root = tmp_path_factory.mktemp("small_sample")
    sample.generate(root / "source", SMALL["classes"], SMALL["train"] + SMALL["val"], seed=1)
    rows, _ = select.select(
        root / "source/annotations/instances_train2017.json",
        None,
        SMALL["classes"],
        SMALL["train"],
        SMALL["val"],
        1,
        lambda f: str(root / "source/train2017" / f),
        "datasets.sample",
    )
    fetch.fetch(rows, root / "images", workers=4, timeout_s=5)
    prepare.pack_splits(rows, root / "images", SMALL["classes"], SMALL["size"], root / "prepared")
    return root / "prepared/train.npz", root / "prepared/val.npz", root


@pytest.fixture(scope="session")
def tiny_sample(small_sample, tmp_path_factory):
    """96 train and 40 val images of small_sample, every class alike: for checks that need a few steps, not learning."""
    from skipnet.data.prepare import load_split, save_split

    root = tmp_path_factory.mktemp("tiny_sample")
    for split, n in (("train", 96), ("val", 40)):
        images, labels, classes = load_split(small_sample[0 if split == "train" else 1])
        every = slice(None, None, len(labels) // n)  # the split is sorted by class: a stride keeps them all
        save_split(root / f"{split}.npz", images[every][:n], labels[every][:n], classes)
    return root / "train.npz", root / "val.npz"


BOAT_DOG = REPO.parent / "shared/data/coco-boat-dog-64"
# The small configuration boat_dog_repo trains (tests/test_report.py runs it again without DVC)
BOAT_DOG_SETS = [
    *("-S", "classes=[boat,dog]"),
    *("-S", "datasets.folder.train_per_class=200", "-S", "datasets.folder.val_per_class=100"),
    *("-S", "depth=1", "-S", "epochs=2", "-S", "batch_size=64"),
]


@pytest.fixture(scope="session")
def boat_dog_repo(tmp_path_factory):
    """A repo copy where `dvc exp run` trained a small MyNet on real boat and dog photographs (folder dataset)."""
    if not BOAT_DOG.is_dir():
        pytest.skip(f"{BOAT_DOG} is not here")
    repo = copy_repo(tmp_path_factory.mktemp("boat_dog") / "repo")
    sh(
        ["dvc", "exp", "run", "-S", "dataset=folder", "-S", f"datasets.folder.root={BOAT_DOG}", *BOAT_DOG_SETS],
        cwd=repo,
    )
    return repo
