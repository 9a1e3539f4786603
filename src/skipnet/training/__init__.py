"""The training layer: models, devices, precision, memory bounds, the per-epoch record, the engine, resume
checkpoints, DVCLive; imports the config and data layers only."""
