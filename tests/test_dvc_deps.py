"""dvc.yaml's deps of each stage equal its script's import closure within src/skipnet, read from the code."""
import ast
from pathlib import Path

import yaml

from conftest import REPO

LIBRARY = REPO / "src/skipnet"


def imported_modules(path):
    """skipnet modules a file imports anywhere in it (top level or inside a function), by file path."""
    tree = ast.parse(Path(path).read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("skipnet.")]
            found |= {n.split(".")[1] for n in names}
        elif isinstance(node, ast.ImportFrom):
            package = node.module or ""
            if node.level == 0 and package != "skipnet" and not package.startswith("skipnet."):
                continue
            parts = package.split(".")[1:] if node.level == 0 else ([package] if package else [])
            if parts:
                found.add(parts[0])
            else:  # from skipnet import a, b  /  from . import a, b
                found |= {a.name for a in node.names}
    return {LIBRARY / f"{m}.py" for m in found if (LIBRARY / f"{m}.py").exists()}


def closure(script):
    """Every src/skipnet module `script` imports, directly or through other modules."""
    seen, todo = set(), [Path(script)]
    while todo:
        for module in imported_modules(todo.pop()):
            if module not in seen:
                seen.add(module)
                todo.append(module)
    return seen


def code_deps(stage):
    """A stage's deps that are code: its script and src/skipnet modules."""
    return {d for d in stage["deps"] if d.startswith(("stages/", "src/"))}


def test_closure_follows_relative_and_absolute_imports(tmp_path):
    script = tmp_path / "stage.py"
    script.write_text("from skipnet import records\nfrom skipnet.cli import run_stage\n"
                      "def f():\n    import skipnet.live\n")
    got = {p.name for p in closure(script)}
    # records imports history and errors; cli imports params (-> archs, coco, errors)
    assert {"records.py", "history.py", "errors.py", "cli.py", "params.py", "archs.py", "coco.py", "live.py"} <= got
    assert "engine.py" not in got


def test_every_stage_depends_on_its_whole_import_closure():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        script = next(w for w in stage["cmd"].split() if w.startswith("stages/"))
        want = {script} | {p.relative_to(REPO).as_posix() for p in closure(REPO / script)}
        assert code_deps(stage) == want, (f"dvc.yaml stage {name}: missing {sorted(want - code_deps(stage))}, "
                                          f"extra {sorted(code_deps(stage) - want)}")
