"""report (outside the DVC pipeline): reports/study.md and its figures from the run records in reports/runs/.

Add finished experiments to the records first (`python tools/record.py EXP ...`); a hand-written
reports/notes.md (measured explanations) is appended when present, and the README's Table 1 block
(between `<!-- table1 -->` and `<!-- /table1 -->`) is rewritten from the same records. A bad record (torn
run.json, a missing CSV, a value of the wrong type) is skipped with one line on stderr naming its file;
the rest are reported.
"""

import sys
from pathlib import Path

from skipnet.analysis import records, report
from skipnet.cli import run_stage
from skipnet.config.params import committed


def add_args(parser):
    parser.add_argument("--runs", default=str(records.RUNS_DIR), help="run records folder (default: %(default)s)")
    parser.add_argument("--out", default="reports", help="output folder (default: %(default)s)")
    parser.add_argument(
        "--readme",
        default="README.md",
        help="README whose `<!-- table1 -->` block gets the records' Table 1 (default: %(default)s)",
    )


def main(params, args):
    skipped = []
    runs = records.load_all(args.runs, skipped)
    for reason in skipped:
        print(f"skipped a bad record: {reason}", file=sys.stderr)
    notes = Path(args.out) / "notes.md"
    defaults = committed(args.params)  # the configurations are overrides of the committed params.yaml
    path = report.write(
        runs, args.out, defaults, notes.read_text() if notes.exists() else None, Path(args.runs).as_posix()
    )
    print(f"wrote {path} ({len(runs)} runs)")
    if Path(args.readme).exists() and report.update_readme(args.readme, runs, defaults):
        print(f"updated Table 1 in {args.readme}")


if __name__ == "__main__":
    run_stage(__doc__, main, add_args)
