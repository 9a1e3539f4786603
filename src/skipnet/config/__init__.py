"""The bottom layer: params.yaml's schema and validation, the architecture registry, seed streams and COCO's ids;
imports nothing of skipnet above it."""
