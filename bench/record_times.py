"""What a 20-epoch MyNet-16 run of the study costs, per machine: training time (pauses left out) over the committed
run records of MyNet-16, depth 16, 20 epochs, batch 128, scored on val; median, range, n and the dates they ran.

    python bench/record_times.py            # from reports/runs
"""

import argparse
import statistics

from tabulate import tabulate

from skipnet.analysis import records


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default=str(records.RUNS_DIR), help="records folder (default: %(default)s)")
    args = parser.parse_args()
    by_machine = {}
    for r in records.load_all(args.runs):
        p = r.params
        study_size = (p["arch"], p["depth"], p["epochs"], p["batch_size"]) == ("mynet", 16, 20, 128)
        if study_size and not p.get("tune_holdout"):
            by_machine.setdefault(r.machine, []).append((r.train_seconds / 60, r.date[:10]))
    rows = [
        [
            machine,
            len(v),
            f"{statistics.median(m for m, _ in v):.1f}",
            f"{min(m for m, _ in v):.1f}",
            f"{max(m for m, _ in v):.1f}",
            f"{min(d for _, d in v)} to {max(d for _, d in v)}",
        ]
        for machine, v in sorted(by_machine.items())
    ]
    print(tabulate(rows, ["machine", "runs", "median min", "fastest", "slowest", "dates"], tablefmt="github"))


if __name__ == "__main__":
    main()
