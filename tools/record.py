"""record: add a finished DVC experiment to the committed run records (reports/runs/<name>/).

    python tools/record.py EXP [EXP ...]        # names from `dvc exp list`, or any git revision
    python tools/record.py EXP --force          # replace an existing record of that name

Reads only git-tracked files of the experiment's commit (params.yaml, metrics/, plots/), so nothing
needs `dvc pull`. A record is named after its experiment (`dvc exp rename OLD NEW` first for another
name). An existing record is never replaced without --force; a diverged run (a non-finite loss or
accuracy) or one that contradicts itself (skipnet.analysis.records.check: its headline against its predictions,
its source, its code commit, a machine path in its command) is refused with one line. Commit
reports/runs/ afterwards: the report is built from these records.
"""

from skipnet.analysis import provenance, records
from skipnet.cli import run_stage


def add_args(parser):
    parser.add_argument("experiments", nargs="+", metavar="EXP", help="DVC experiment name or git revision")
    parser.add_argument("--out", default=str(records.RUNS_DIR), help="records folder (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="replace an existing record of the same name")


def main(params, args):
    for exp in args.experiments:
        folder = provenance.from_experiment(exp, ".", args.out, args.force)
        print(f"recorded {exp} in {folder}")


if __name__ == "__main__":
    run_stage(__doc__, main, add_args)
