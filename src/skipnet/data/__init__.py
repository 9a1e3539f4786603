"""Data sources and the data stages' work: COCO's layout, the generated sample, pooled downloads, selection (pycocotools), fetching and decoding."""
