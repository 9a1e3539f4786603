"""prepare: decode, RGB, squash to image_size, pack to data/prepared/{train,val}.npz; plots/preview.png."""

from skipnet.cli import run_stage
from skipnet.data import prepare, preview, select

MANIFEST = "data/manifest.csv"
IMAGES_DIR = "data/images"
PREPARED_DIR = "data/prepared"
PREVIEW_PNG = "plots/preview.png"


def main(params, args):
    splits = prepare.pack_splits(
        select.read_manifest(MANIFEST), IMAGES_DIR, params["classes"], params["image_size"], PREPARED_DIR
    )
    images, labels = splits["train"]
    preview.preview_png(images, labels, params["classes"], PREVIEW_PNG)


if __name__ == "__main__":
    run_stage(__doc__, main)
