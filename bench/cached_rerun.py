"""The run-cache: switching back to a param set DVC already ran, against running it the first time.

In a fresh copy of the repo: the README's quick start (timed: the first run of these params), another lr,
then the quick start's lr again (timed: DVC restores train from its run-cache; evaluate reruns). Prints both wall
times and
their ratio, measured side by side in one run.

    python bench/cached_rerun.py
"""

import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(args, cwd):
    t0 = time.perf_counter()
    proc = subprocess.run(
        args,
        cwd=cwd,
        capture_output=True,
        text=True,
        shell=isinstance(args, str),
        env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(Path.home())},
    )
    if proc.returncode:
        raise SystemExit(f"{args} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0, proc.stdout


def main():
    quick = next(
        line
        for line in (REPO / "README.md").read_text().splitlines()
        if line.startswith("dvc exp run -S dataset=sample")
    ).split(" && ")[0]  # not its `git checkout`
    with tempfile.TemporaryDirectory() as tmp:
        files = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.split()
        repo = Path(tmp) / "repo"
        for rel in files:
            if (REPO / rel).is_file():
                (repo / rel).parent.mkdir(parents=True, exist_ok=True)
                (repo / rel).write_bytes((REPO / rel).read_bytes())
        run("git init -q && git add -A && git -c user.email=b@b -c user.name=b commit -qm bench", repo)
        first, _ = run(shlex.split(quick), repo)
        other, _ = run(shlex.split(quick) + ["-S", "lr=0.0003"], repo)
        again, out = run(shlex.split(quick) + ["-S", "lr=0.001"], repo)  # -S edits the workspace: set lr back
    said = [line for line in (out + "\n").splitlines() if "train" in line or "Running stage" in line]
    print(f"command: {quick}")
    print(f"first run (every stage):            {first:6.1f} s")
    print(f"another lr (train and evaluate):    {other:6.1f} s")
    print(f"first params again:                 {again:6.1f} s; DVC said: {' | '.join(said) or out.strip()[-200:]}")
    print(f"ratio, first run / cached rerun:    {first / again:6.1f}x")


if __name__ == "__main__":
    main()
