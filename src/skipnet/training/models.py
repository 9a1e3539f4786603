"""The study's two networks: MyNet (DLStudio's BMEnet with SkipBlocks) and the Net3 baseline."""

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ..config.archs import ARCHITECTURES
from ..config.params import SCHEMA
from ..errors import SkipnetError, quote


class SkipBlock(nn.Module):
    """DLStudio's SkipBlock: two 3x3 conv+BN+ReLU, optional 2x downsampling, optional skip."""

    def __init__(self, in_ch, out_ch, downsample=False, skip_connections=True):
        super().__init__()
        self.in_ch, self.out_ch = in_ch, out_ch
        self.downsample = downsample
        self.skip_connections = skip_connections
        self.conv1 = nn.Conv2d(in_ch, in_ch, 3, stride=1, padding=1)
        self.conv2 = nn.Conv2d(in_ch, out_ch, 3, stride=1, padding=1)
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.bn2 = nn.BatchNorm2d(out_ch)
        # Always created, as in DLStudio, so parameter counts match the study's.
        self.in2out = nn.Conv2d(in_ch, out_ch, 1)
        if downsample:
            # A 1x1 stride-2 conv keeps every other pixel: halves H and W.
            self.downsampler1 = nn.Conv2d(in_ch, in_ch, 1, stride=2)
            self.downsampler2 = nn.Conv2d(out_ch, out_ch, 1, stride=2)

    def forward(self, x):
        identity = x
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        if self.downsample:
            identity = self.downsampler1(identity)
            out = self.downsampler2(out)
        if not self.skip_connections:
            return out
        if self.in_ch == self.out_ch and not self.downsample:
            return out + identity
        if not self.downsample:
            return out + self.in2out(identity)
        return out + torch.cat((identity, identity), dim=1)


class MyNet(nn.Module):
    """BMEnet: stem conv+pool, then `depth` SkipBlocks at 64, 128 and 256 channels."""

    def __init__(self, depth=16, skip_connections=True, num_classes=5, image_size=32):
        super().__init__()
        self.conv = nn.Conv2d(3, 64, 3, padding=1)
        self.skip64_arr = nn.ModuleList(SkipBlock(64, 64, skip_connections=skip_connections) for _ in range(depth))
        self.skip64to128ds = SkipBlock(64, 128, downsample=True, skip_connections=skip_connections)
        self.skip128_arr = nn.ModuleList(SkipBlock(128, 128, skip_connections=skip_connections) for _ in range(depth))
        self.skip128to256ds = SkipBlock(128, 256, downsample=True, skip_connections=skip_connections)
        self.skip256_arr = nn.ModuleList(SkipBlock(256, 256, skip_connections=skip_connections) for _ in range(depth))
        # Stem pool and two downsampling blocks: H/8 x W/8 at the classifier.
        self.fc1 = nn.Linear((image_size // 8) ** 2 * 256, 1000)
        self.fc2 = nn.Linear(1000, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv(x)), 2, 2)
        for block in self.skip64_arr:
            x = block(x)
        x = self.skip64to128ds(x)
        for block in self.skip128_arr:
            x = block(x)
        x = self.skip128to256ds(x)
        for block in self.skip256_arr:
            x = block(x)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)

    def stage_groups(self):
        """Named parameter groups for gradient diagnostics, input to output."""
        return {
            "stem": [self.conv],
            "c64": [self.skip64_arr],
            "c128": [self.skip64to128ds, self.skip128_arr],
            "c256": [self.skip128to256ds, self.skip256_arr],
            "fc": [self.fc1, self.fc2],
        }


class Net3(nn.Module):
    """The previous homework's plain CNN: two conv+pool, ten 32-channel convs, two linear layers."""

    def __init__(self, num_classes=5, image_size=64):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.convs = nn.ModuleList(nn.Conv2d(32, 32, 3, padding=1) for _ in range(10))
        self.fc1 = nn.Linear((image_size // 4) ** 2 * 32, 64)
        self.fc2 = nn.Linear(64, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)
        for conv in self.convs:
            x = F.relu(conv(x))
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)

    def stage_groups(self):
        return {"stem": [self.conv1], "conv": [self.conv2, self.convs], "fc": [self.fc1, self.fc2]}


def build_model(config, num_classes):
    """The model an architecture's entry (skipnet.config.archs) names, from a config holding the params it reads."""
    arch = ARCHITECTURES[config["arch"]]
    return globals()[arch.model_class](
        **{k: config[k] for k in arch.reads}, num_classes=num_classes, image_size=config["image_size"]
    )


def size_estimate(config, num_classes):
    """(state-dict values, parameters, layer output values per image) of the model `config` would build, without
    building it: measured on small copies (depths 1 and 2, image sizes 8 and 16: a few MB, a few milliseconds), then
    extrapolated, exact because every architecture here is bilinear in depth and image_size squared (a block's
    weights and outputs come per unit of depth, its outputs and the classifier's input per pixel)."""

    def measure(depth, size):  # on the CPU: a forward on the meta device would import torch's decompositions (1 s)
        model = build_model({**config, "depth": depth, "image_size": size}, num_classes)
        outputs = 0

        def count(module, inputs, output):
            nonlocal outputs
            outputs += output.numel()

        hooks = [m.register_forward_hook(count) for m in model.modules() if not list(m.children())]
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, size, size))
        for h in hooks:
            h.remove()
        return (
            sum(v.numel() for v in model.state_dict().values()),
            sum(p.numel() for p in model.parameters()),
            outputs,
        )

    with torch.random.fork_rng(devices=[]):  # the copies' random init must not move the caller's stream (the model's)
        (a, b), (c, d) = (measure(1, 8), measure(2, 8)), (measure(1, 16), measure(2, 16))
    depth, pixels = config.get("depth", 1) - 1, (config["image_size"] ** 2 - 64) / (256 - 64)
    return tuple(
        round(a_ + (b_ - a_) * depth + (c_ - a_) * pixels + (d_ - c_ - b_ + a_) * depth * pixels)
        for a_, b_, c_, d_ in zip(a, b, c, d)
    )


def model_summary(model, image_size):
    """Parameters, parameter tensors (the study's "layers") and multiply-accumulates per image."""
    macs = 0

    def count(module, inputs, output):
        nonlocal macs
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            macs += output[0].numel() * k
        elif isinstance(module, nn.Linear):
            macs += module.in_features * module.out_features

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, image_size, image_size, device=next(model.parameters()).device))
    model.train(was_training)
    for h in hooks:
        h.remove()
    params = list(model.parameters())
    return {"parameters": sum(p.numel() for p in params), "parameter_tensors": len(params), "macs_per_image": macs}


# A trained model file holds its weights and everything needed to rebuild and feed it, so that
# predict and evaluate never read today's params.yaml. Bump the version when this layout changes.
MODEL_FORMAT = "skipnet-model"
MODEL_VERSION = 1


def model_file(model, params, classes, precision):
    """What the train stage saves as models/model.pt."""
    return {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "config": {
            "arch": params["arch"],
            **{k: params[k] for k in ARCHITECTURES[params["arch"]].reads},
            "classes": list(classes),
            "image_size": params["image_size"],
            "normalization": {"mean": 0.5, "std": 0.5},
            "precision": precision,
        },
        "state_dict": model.state_dict(),
    }


def load_model_file(path):
    """(model in eval mode on the CPU, config) from a model file; a clear SkipnetError for anything else."""
    path = Path(path)
    if not path.is_file():
        raise SkipnetError(f"model file {path} not found: train one first (dvc repro), or pass --model")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a torn or foreign file: torch raises many types
        raise SkipnetError(
            f"model file {path} is unreadable ({type(e).__name__}): torn or not a model; retrain it (dvc repro)"
        ) from None
    if not isinstance(saved, dict) or saved.get("format") != MODEL_FORMAT:
        raise SkipnetError(f"model file {path} is not a skipnet model file (from an older version?): retrain it")
    if saved.get("version") != MODEL_VERSION:
        raise SkipnetError(
            f"model file {path} is format version {saved.get('version')}, this skipnet reads "
            f"version {MODEL_VERSION}: retrain it with this version"
        )
    try:  # the config against its own weights before anything is built: a few bytes must not ask for gigabytes
        config, state = saved["config"], saved["state_dict"]
        check_config(config)
        held = sum(v.numel() for v in state.values())
        built = size_estimate(config, len(config["classes"]))[0]
        if built != held:
            raise ValueError(f"the config builds {built:,} values, the weights hold {held:,}")
        with torch.device("meta"):
            shapes = {k: v.shape for k, v in build_model(config, len(config["classes"])).state_dict().items()}
        if shapes != {k: v.shape for k, v in state.items()}:
            raise ValueError("the config's layers are not the weights' shapes")
        model = build_model(config, len(config["classes"]))
        model.load_state_dict(state)
    except (
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
        RuntimeError,
    ) as e:  # no config, or one its weights do not fit
        reason = f"no {e}" if isinstance(e, KeyError) else str(e).strip().splitlines()[0]
        raise SkipnetError(
            f"model file {path} holds a config its weights do not match ({reason}): retrain it"
        ) from None
    return model.eval(), config


def check_config(config):
    """A model file's config holds what params.yaml's validation would let through (ValueError otherwise)."""
    if not isinstance(config, dict) or config.get("arch") not in ARCHITECTURES:
        raise ValueError(f"arch {quote(config.get('arch') if isinstance(config, dict) else config)}")
    classes = config.get("classes")
    if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) for c in classes):
        raise ValueError(f"classes {quote(classes)}")
    for key in (*ARCHITECTURES[config["arch"]].reads, "image_size"):
        ok, allowed = SCHEMA[key](config.get(key))
        if not ok:
            raise ValueError(f"{key} {quote(config.get(key))}, not {allowed}")
