"""record: add a finished DVC experiment to the committed run records (reports/runs/<name>/).

    python stages/record.py EXP [EXP ...]        # names from `dvc exp list`, or any git revision
    python stages/record.py EXP --as my-name     # record under another name

Reads only git-tracked files of the experiment's commit (params.yaml, dvclive/, metrics/, plots/loss.csv),
so nothing needs `dvc pull`. Commit reports/runs/ afterwards: the report is built from these records.
"""
from skipnet import records
from skipnet.cli import run_stage


def add_args(parser):
    parser.add_argument("experiments", nargs="+", metavar="EXP", help="DVC experiment name or git revision")
    parser.add_argument("--as", dest="name", help="record name (one experiment only; default: the experiment's name)")
    parser.add_argument("--out", default=str(records.RUNS_DIR), help="records folder (default: %(default)s)")


def main(params, args):
    if args.name and len(args.experiments) > 1:
        raise SystemExit("error: --as names one record: give one experiment with it")
    for exp in args.experiments:
        folder = records.from_experiment(exp, ".", args.out, args.name)
        print(f"recorded {exp} in {folder}")


if __name__ == "__main__":
    run_stage(__doc__, main, add_args)
