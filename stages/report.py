"""report (outside the DVC pipeline): reports/study.md over every experiment.

Table 1 (lr, final train loss, val loss, accuracy, plus arch, depth, skip and recipe),
the loss-curve overlay (the study's Figure 5) and the confusion matrices side by side.
Run it after the experiments: `python stages/report.py`.
"""
from skipnet import report
from skipnet.cli import run_stage


def add_args(parser):
    parser.add_argument("--out", default="reports", help="output folder (default: %(default)s)")


def main(params, args):
    records = report.collect(report.exp_show())
    path = report.write(records, args.out)
    print(f"wrote {path} ({len(records)} experiments)")


if __name__ == "__main__":
    run_stage(__doc__, main, add_args)
