"""skipnet: a DVC pipeline studying skip connections on a 5-class subset of MS-COCO."""
