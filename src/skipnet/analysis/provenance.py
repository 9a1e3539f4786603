"""Where a run record comes from: a DVC experiment's git commit (`from_experiment`), the `dvc exp run` line that
reproduces it, and the commit of the code in a checkout. The record itself, its files and its checks are
skipnet.analysis.records."""

import shlex
import subprocess

import yaml

from ..config.params import cli_value, flatten
from ..errors import SkipnetError
from . import records


def _git(args, repo):
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)


def resolve_experiment(name, repo="."):
    """(commit, parent commit) of a DVC experiment by name (its git ref under refs/exps), or of any git rev."""
    refs = _git(["for-each-ref", "--format=%(refname) %(objectname)", "refs/exps"], repo).stdout.split("\n")
    matches = [line.split()[1] for line in refs if line and line.split()[0].endswith(f"/{name}")]
    if len(matches) > 1:
        raise SkipnetError(
            f"{len(matches)} experiments are named {name!r}: give the commit instead (dvc exp show --sha)"
        )
    rev = (
        matches[0] if matches else _git(["rev-parse", "--verify", "--quiet", f"{name}^{{commit}}"], repo).stdout.strip()
    )
    if not rev:
        raise SkipnetError(f"no DVC experiment or git revision named {name!r}: see `dvc exp list` or `dvc exp show`")
    return rev, _git(["rev-parse", f"{rev}^"], repo).stdout.strip()


def overrides(params, baseline):
    """The `key=value` settings that turn the baseline's params into these, one per changed leaf."""
    old = flatten(baseline)
    return [f"{k}={cli_value(v)}" for k, v in flatten(params).items() if old.get(k, object()) != v]


def exp_command(params, baseline):
    """The `dvc exp run` line that turns the baseline's params into these: one -S per changed leaf."""
    return " ".join(["dvc exp run", *(f"-S {shlex.quote(s)}" for s in overrides(params, baseline))])


def from_experiment(name, repo=".", runs_dir=records.RUNS_DIR, force=False):
    """Write the record of a finished DVC experiment from its git-tracked files; return its folder."""
    rev, parent = resolve_experiment(name, repo)

    def read(path, at=rev):
        proc = _git(["show", f"{at}:{path}"], repo)
        return proc.stdout if proc.returncode == 0 else None

    command = exp_command(
        records.relative_root(yaml.safe_load(read("params.yaml") or "{}")),
        yaml.safe_load(read("params.yaml", parent) or "{}"),
    )
    return records.build(
        read,
        name,
        f"dvc experiment {name} ({rev[:7]})",
        command,
        {"path": "dvc exp run", "commit": parent},
        _git(["show", "-s", "--format=%cI", rev], repo).stdout.strip(),
        runs_dir,
        force,
    )


def head_commit(repo="."):
    """The git commit of the code in `repo`, with "-dirty" when tracked files differ from it."""
    commit = _git(["rev-parse", "HEAD"], repo).stdout.strip() or "unknown"
    dirty = _git(["status", "--porcelain", "--untracked-files=no"], repo).stdout.strip()
    return commit + ("-dirty" if dirty else "")
