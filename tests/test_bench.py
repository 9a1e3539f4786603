"""bench/ scripts are run by hand, now and then: each must still import against the library as it is now (a
moved module breaks them silently otherwise)."""

import sys

from conftest import REPO, sh

IMPORT_ALL = """
import runpy, sys
for path in sys.argv[1:]:
    runpy.run_path(path, run_name="bench_import_check")  # not __main__: imports and definitions only
"""


def test_every_bench_script_imports_with_the_current_layout():
    scripts = sorted(str(p) for p in (REPO / "bench").glob("*.py"))
    assert len(scripts) >= 8
    sh([sys.executable, "-c", IMPORT_ALL, *scripts], cwd=REPO / "bench")
