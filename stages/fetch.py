"""fetch: every image in data/manifest.csv into data/images/, verified, or a report of what failed.

Concurrent (fetch_workers), retried, atomic; a rerun fetches only what is missing or invalid.
"""

from skipnet.cli import run_stage
from skipnet.data import fetch, select

MANIFEST = "data/manifest.csv"
IMAGES_DIR = "data/images"


def main(params, args):
    rows = select.read_manifest(MANIFEST)
    fetched = fetch.fetch(rows, IMAGES_DIR, params["fetch_workers"], params["fetch_timeout"])
    print(f"{len(rows)} images in {IMAGES_DIR} ({fetched} fetched, {len(rows) - fetched} already there)")


if __name__ == "__main__":
    run_stage(__doc__, main)
