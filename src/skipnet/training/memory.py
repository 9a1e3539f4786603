"""Whether a run fits in memory, decided before any is asked for: the model's size from its config alone
(models.size_estimate, on the meta device), so that a `depth` or `image_size` too large for the machine is one
line naming both numbers instead of gigabytes asked for and a crash."""

import psutil
import torch

from ..errors import SkipnetError
from .models import size_estimate

GB = 1e9


def available(device):
    """Bytes this device can still give: the GPU's free memory, or the memory the OS could hand out without swap."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return psutil.virtual_memory().available


def training_bytes(config, num_classes, batch, images, device_type):
    """An estimate of what training needs on the device, by part: fp32 weights, gradients and Adam's two moments;
    every layer's output kept for the backward pass and its gradient, for one batch; the images, normalized on the
    device (fp32 while normalizing: 4 bytes a value); on a CPU, the resume checkpoint's snapshot of the weights and
    moments too (from a GPU it goes to host memory)."""
    _, parameters, outputs = size_estimate(config, num_classes)
    parts = {
        "weights, gradients and Adam's moments": 16 * parameters,
        "a batch's activations": 8 * batch * outputs,
        "images": 4 * images * 3 * config["image_size"] ** 2,
    }
    return parts | ({"a checkpoint's snapshot": 12 * parameters} if device_type == "cpu" else {})


def check_fits(config, num_classes, batch, images, device):
    parts = training_bytes(config, num_classes, batch, images, device.type)
    need, have = sum(parts.values()), available(device)
    if need > have:
        detail = ", ".join(f"{what} {size / GB:.1f}" for what, size in parts.items())
        raise SkipnetError(
            f"this run needs about {need / GB:.1f} GB to train ({detail}) and {device.type} has "
            f"{have / GB:.1f} GB available: lower depth, image_size or batch_size"
        )
