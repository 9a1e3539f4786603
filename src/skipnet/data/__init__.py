"""The data layer: the generated sample, pooled downloads, selection (pycocotools), fetching, decoding, the preview;
imports only the config layer, errors and files."""
