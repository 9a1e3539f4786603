"""record: add a finished DVC experiment to the committed run records (reports/runs/<name>/).

    python stages/record.py EXP [EXP ...]        # names from `dvc exp list`, or any git revision
    python stages/record.py EXP --as my-name     # record under another name
    python stages/record.py EXP --force          # replace an existing record of that name
    python stages/record.py --upgrade [NAME ...] # rewrite records made before the flat training knobs

Reads only git-tracked files of the experiment's commit (params.yaml, metrics/, plots/), so nothing
needs `dvc pull`. An existing record is never replaced without --force; a diverged run (a non-finite
loss or accuracy) is refused. Commit reports/runs/ afterwards: the report is built from these records.
"""
from pathlib import Path

import yaml

from skipnet import records
from skipnet.cli import run_stage


def add_args(parser):
    parser.add_argument("experiments", nargs="*", metavar="EXP", help="DVC experiment name or git revision")
    parser.add_argument("--as", dest="name", help="record name (one experiment only; default: the experiment's name)")
    parser.add_argument("--out", default=str(records.RUNS_DIR), help="records folder (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="replace an existing record of the same name")
    parser.add_argument("--upgrade", action="store_true",
                        help="rewrite the named records (default: all) in today's format: flat training knobs, "
                             "repository-relative paths, a command that runs from a fresh clone")
    parser.add_argument("--commit", help="with --upgrade: the git commit that trained them, where known")


def main(params, args):
    if args.upgrade:
        names = args.experiments or sorted(p.parent.name for p in Path(args.out).glob("*/run.json"))
        for name in names:
            records.upgrade_folder(Path(args.out) / name, yaml.safe_load(Path(args.params).read_text()), args.commit)
            print(f"upgraded {Path(args.out) / name}")
        return
    if not args.experiments:
        raise SystemExit("error: name at least one experiment (see `dvc exp list`), or pass --upgrade")
    if args.name and len(args.experiments) > 1:
        raise SystemExit("error: --as names one record: give one experiment with it")
    for exp in args.experiments:
        folder = records.from_experiment(exp, ".", args.out, args.name, args.force)
        print(f"recorded {exp} in {folder}")


if __name__ == "__main__":
    run_stage(__doc__, main, add_args)
