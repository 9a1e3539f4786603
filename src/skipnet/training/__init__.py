"""Training: the architecture registry and models, precision, random streams, the per-epoch record, the engine, resume checkpoints, DVCLive."""
