"""dvc.yaml's deps of each stage equal its script's import closure within src/skipnet, read from the code."""

import ast
import importlib.util
from pathlib import Path

import yaml

from conftest import REPO

SRC = REPO / "src"


def module_file(name, src=SRC):
    """The file of a dotted skipnet module name, or None (a package's __init__ is only its docstring)."""
    path = src.joinpath(*name.split("."))
    return path.with_suffix(".py") if path.with_suffix(".py").exists() else None


def imported_modules(path, src=SRC):
    """skipnet modules a file imports anywhere in it (top level or inside a function), by file path under `src`."""
    path = Path(path).resolve()
    package = ".".join(path.relative_to(src).parent.parts) if src in path.parents else ""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = (
                importlib.util.resolve_name("." * node.level + (node.module or ""), package)
                if node.level
                else node.module
            )
            found |= {base} | {f"{base}.{a.name}" for a in node.names}  # `from pkg import module` too
    return {module_file(n, src) for n in found if n.split(".")[0] == "skipnet"} - {None}


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
    script.write_text(
        "from skipnet.analysis import records\nfrom skipnet.cli import run_stage\n"
        "def f():\n    import skipnet.training.live\n"
    )
    got = {p.name for p in closure(script)}
    # records imports history and errors; cli imports params (-> archs, coco, errors)
    assert {"records.py", "history.py", "errors.py", "cli.py", "params.py", "archs.py", "coco.py", "live.py"} <= got
    assert "__init__.py" not in got
    assert "engine.py" not in got


def test_every_stage_depends_on_its_whole_import_closure():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        script = next(w for w in stage["cmd"].split() if w.startswith("stages/"))
        want = {script} | {p.relative_to(REPO).as_posix() for p in closure(REPO / script)}
        assert code_deps(stage) == want, (
            f"dvc.yaml stage {name}: missing {sorted(want - code_deps(stage))}, extra {sorted(code_deps(stage) - want)}"
        )


def test_the_evaluate_stage_outputs_are_declared_once():
    from dataclasses import astuple

    from skipnet.analysis.evaluate import OUTPUTS

    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["evaluate"]
    declared = [next(iter(o)) if isinstance(o, dict) else o for o in stage["metrics"] + stage["outs"]]
    assert sorted(declared) == sorted(astuple(OUTPUTS))
