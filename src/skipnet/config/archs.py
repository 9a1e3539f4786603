"""The architectures, one entry each: the class in skipnet.training.models that builds it, the params it reads besides
classes and image_size, and its title in figures. params validation, the engine, model files, figure titles and
the report's cells read this table (no torch here, so the data stages need not depend on the models); adding an
architecture is one entry plus its class."""

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Architecture:
    model_class: str  # its class in skipnet.training.models, built as cls(**{param: value}, num_classes=, image_size=)
    reads: tuple  # params.yaml keys passed to the class by name
    title: Callable  # params -> its name in figures, e.g. "MyNet depth=16 no-skip"


ARCHITECTURES = {
    "mynet": Architecture(
        "MyNet",
        ("depth", "skip_connections"),
        lambda p: f"MyNet depth={p['depth']}{'' if p['skip_connections'] else ' no-skip'}",
    ),
    "net3": Architecture("Net3", (), lambda p: "Net3"),
}


def not_read(arch):
    """Params some architecture reads but this one does not (Net3's depth and skips)."""
    return {k for a in ARCHITECTURES.values() for k in a.reads} - set(ARCHITECTURES[arch].reads)
