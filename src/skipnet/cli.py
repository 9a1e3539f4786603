"""What every stage script shares: --help, params loading, one-line errors."""

import argparse
import sys

from .config.params import load
from .errors import SkipnetError


def run_stage(doc, body, add_args=None):
    """Parse args, load and validate params.yaml, run `body(params, args)`.

    A SkipnetError (bad params, no network, a failed download) ends the stage
    with one line on stderr and exit status 1: no traceback to read through.
    """
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml", help="parameters file (default: %(default)s)")
    if add_args:
        add_args(parser)
    args = parser.parse_args()
    try:
        params = load(args.params)
        body(params, args)
    except SkipnetError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted: a rerun continues where this one stopped", file=sys.stderr)
        sys.exit(130)
