"""Imports go down only: errors and files at the bottom, then config, data, training, analysis, then cli; the stages
and tools on top. Read from the code with ast, as tests/test_dvc_deps.py reads each stage's import closure."""

import shutil

from conftest import REPO
from test_dvc_deps import imported_modules

RANK = {"errors": 0, "files": 0, "config": 1, "data": 2, "training": 3, "analysis": 4, "cli": 5}  # bottom to top
TOP = len(RANK)  # stages/ and tools/


def layer(path, src):
    return RANK[path.relative_to(src / "skipnet").parts[0].removesuffix(".py")] if src in path.parents else TOP


def upward_imports(src, files):
    return sorted(
        f"{f.relative_to(f.parents[2])} imports skipnet.{m.relative_to(src / 'skipnet').parts[0].removesuffix('.py')}"
        for f in files
        for m in imported_modules(f, src)
        if layer(m, src) > layer(f, src)
    )


def code(src, repo):
    return [*(src / "skipnet").rglob("*.py"), *(repo / "stages").glob("*.py"), *(repo / "tools").glob("*.py")]


def test_no_module_imports_a_layer_above_its_own():
    src = REPO / "src"
    parts = {p.name.removesuffix(".py") for p in (src / "skipnet").iterdir() if not p.name.startswith("__")}
    assert parts == set(RANK)  # every part of the library has its layer
    assert upward_imports(src, code(src, REPO)) == []


def test_a_planted_upward_import_is_caught(tmp_path):
    shutil.copytree(REPO / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (tmp_path / "src/skipnet/config/planted.py").write_text("def f():\n    from ..training import engine\n")
    (tmp_path / "stages").mkdir()
    (tmp_path / "tools").mkdir()
    assert upward_imports(tmp_path / "src", code(tmp_path / "src", tmp_path)) == [
        "skipnet/config/planted.py imports skipnet.training"
    ]
