"""The suite on the lowest versions pyproject.toml declares, in a virtual environment of its own.

Installs each dependency at its declared minimum (`torch>=2.9.1` -> `torch==2.9.1`), the test tools at
requirements.txt's versions and skipnet itself without dependencies; checks that `pip install -e .`, the
install for machines that bring their own torch, would then install nothing over them; runs pytest with any
arguments given (default: the whole suite). Record what it printed in bench/RESULTS.md.

    python scripts/test_minimum.py                       # venv in .venv-min, the whole suite
    python scripts/test_minimum.py --venv /tmp/v -- tests/test_params.py -x
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def name(requirement):
    return re.split(r"[<>=!~ ;\[]", requirement, maxsplit=1)[0].strip().lower()


def minimums():
    """pyproject.toml's dependencies, each pinned to its declared lower bound."""
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = []
    for requirement in declared:
        low = re.search(r">=\s*([\w.]+)", requirement)
        if not low:
            sys.exit(f"error: pyproject.toml: {requirement!r} has no lower bound (>=) to test")
        pins.append(f"{name(requirement)}=={low.group(1)}")
    return pins


def test_tools(declared):
    """requirements.txt's pins of what pyproject.toml does not declare: pytest and the other test tools."""
    lines = [line.split("#")[0].strip() for line in (REPO / "requirements.txt").read_text().splitlines()]
    return [line for line in lines if "==" in line and name(line) not in declared]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venv", type=Path, default=REPO / ".venv-min", help="where (default: %(default)s)")
    parser.add_argument("pytest_args", nargs="*", help="after --: what to give pytest (default: the whole suite)")
    args = parser.parse_args()
    pins = minimums()
    if not (args.venv / "bin/python").exists():
        venv.create(args.venv, with_pip=True)
    python = str(args.venv / "bin/python")
    pip = [python, "-m", "pip", "install", "-q"]
    subprocess.run([*pip, *pins, *test_tools({name(p) for p in pins})], check=True)
    subprocess.run([*pip, "--no-deps", "-e", str(REPO)], check=True)
    report = subprocess.run(
        [python, "-m", "pip", "install", "--dry-run", "-q", "--report", "-", "-e", str(REPO)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    over = [
        item["metadata"]["name"]
        for item in json.loads(report)["install"]
        if item["metadata"]["name"].lower() != "skipnet"
    ]
    if over:
        sys.exit(f"error: `pip install -e .` would replace {', '.join(over)} installed at the declared minimum")
    versions = subprocess.run(
        [
            python,
            "-c",
            "import torch, torchvision; print('torch', torch.__version__, "
            "'CUDA', torch.version.cuda, 'torchvision', torchvision.__version__)",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(f"minimums: {' '.join(pins)}\n{versions}; `pip install -e .` keeps them", flush=True)
    env = dict(os.environ, PATH=f"{args.venv / 'bin'}{os.pathsep}{os.environ['PATH']}")  # as if activated
    sys.exit(subprocess.run([python, "-m", "pytest", "-q", *args.pytest_args], cwd=REPO, env=env).returncode)


if __name__ == "__main__":
    main()
