"""download: COCO-format annotations into data/source/.

coco: COCO's annotations zip (resumable, size- and md5-checked; cached in
data/downloads/), instances JSONs extracted. sample: a generated dataset.
folder: an image-folder tree indexed into COCO-format JSONs.
"""

from skipnet.cli import run_stage
from skipnet.data import download

SOURCE_DIR = "data/source"
DOWNLOAD_CACHE = "data/downloads"  # not a DVC output: a partial download survives to be resumed


def main(params, args):
    download.source(params, SOURCE_DIR, DOWNLOAD_CACHE)


if __name__ == "__main__":
    run_stage(__doc__, main)
