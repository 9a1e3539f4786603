"""predict: the top classes of your own photographs, with a trained model file.

    python tools/predict.py PATH [PATH ...]               # files, or folders searched recursively
    python tools/predict.py photos/ --json                # machine-readable
    python tools/predict.py photos/ --model other/model.pt --expect-classes boat,cake,couch,dog,motorcycle

The model file (models/model.pt by default, written by the train stage) holds everything needed to
rebuild and feed the model (arch, depth, skip connections, classes, image size, normalization), so
predict does not read params.yaml. Files that cannot be read are listed on stderr and skipped; the
others are still predicted. Exit status: 0 every image predicted, 1 some paths failed (listed on
stderr), 2 nothing was tried (a bad model file, unexpected classes, a bad option).
"""

import argparse
import json
import sys

from skipnet.analysis import predict
from skipnet.errors import SkipnetError, printable
from skipnet.training.models import load_model_file


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    ap.add_argument("--model", default="models/model.pt", help="model file (default: %(default)s)")
    ap.add_argument("--top", type=int, default=3, help="classes per image (default: %(default)s)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--expect-classes", help="comma-separated class names the model must have, in order")
    args = ap.parse_args()
    try:
        model, config = load_model_file(args.model)
        expected = [c.strip() for c in args.expect_classes.split(",")] if args.expect_classes else None
        if expected and expected != config["classes"]:
            raise SkipnetError(
                f"{args.model} predicts {','.join(config['classes'])}, not {args.expect_classes}: "
                f"pick its model with --model"
            )
        if args.top < 1:
            raise SkipnetError(f"--top {args.top}: give 1 or more")
        files, problems = predict.collect(args.paths)
        images, good, bad = predict.decode(files, config["image_size"])
        problems += bad
        tops = predict.top(predict.probabilities(model, config, images), config["classes"], args.top)
    except SkipnetError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    if args.json:
        print(
            json.dumps(
                {
                    "model": args.model,
                    "classes": config["classes"],
                    "predictions": [
                        {"path": str(f), "top": [{"class": c, "probability": p} for c, p in t]}
                        for f, t in zip(good, tops)
                    ],
                    "errors": [{"path": p, "error": e} for p, e in problems],
                },
                indent=2,
                allow_nan=False,
            )
        )
    elif good:
        print(predict.table(good, tops))
    for path, error in problems:
        print(f"error: {printable(path)}: {printable(error)}", file=sys.stderr)
    if problems:
        print(f"{len(good)} predicted, {len(problems)} failed", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
