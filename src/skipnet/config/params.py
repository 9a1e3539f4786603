"""Load and validate params.yaml, the single source of truth for every stage.

Every value is checked before a stage touches any output; a bad one stops the
stage with one line naming the key, the value and what is allowed.
"""

import re
import subprocess
from pathlib import Path

import yaml

from ..errors import SkipnetError, quote
from .archs import ARCHITECTURES
from .coco import CATEGORY_IDS


class ParamError(SkipnetError):
    def __init__(self, key, value, allowed):
        super().__init__(f"params.yaml: {key} = {quote(value)} is not allowed: {allowed}")
        self.key = key


def _int(lo=None, hi=None):
    def check(v):
        ok = isinstance(v, int) and not isinstance(v, bool) and (lo is None or v >= lo) and (hi is None or v <= hi)
        return ok, f"an integer {'>= ' + str(lo) if hi is None else f'in {lo}..{hi}'}"

    return check


def _positive_float(v):
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 and v == v and v != float("inf")
    return ok, "a number > 0, e.g. 0.001"


def _float_range(lo, hi):
    def check(v):
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and lo <= v < hi
        return ok, f"a number in [{lo}, {hi})"

    return check


def _bool(v):
    return isinstance(v, bool), "true or false"


def _choice(*options):
    return lambda v: (v in options, "one of " + ", ".join(options))


def _image_size(v):
    ok = isinstance(v, int) and not isinstance(v, bool) and v > 0 and v % 8 == 0
    return ok, "a positive multiple of 8 (MyNet halves the size three times), e.g. 32"


def _url(v):
    return isinstance(v, str) and re.match(
        r"^https?://[^/\s]+", v
    ) is not None, "an http(s) URL, e.g. http://images.cocodataset.org"


def _md5(v):
    return isinstance(v, str) and re.fullmatch(r"[0-9a-f]{32}", v) is not None, "32 lowercase hex digits"


def _nonempty_str(v):
    return isinstance(v, str) and v.strip() != "", "a non-empty path"


def _launcher(v):
    ok = isinstance(v, str) and v.split()[:1] in (["python"], ["python3"], ["torchrun"])
    return ok, 'python, or torchrun with its options, e.g. "torchrun --nproc_per_node=4"'


def _count_or_all(v):
    ok = v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 1)
    return ok, "an integer >= 1, or null for every image"


# The training knobs off by default (the study's recipe), each a param of its own; figure titles show those on.
KNOBS = ("weight_decay", "label_smoothing", "lr_schedule", "warmup_epochs", "crop_padding", "flip")
# The params that make a configuration (what its runs' results depend on); the seed, the data source and how a run
# executes (precision, launcher, logging) do not.
RECIPE_KEYS = (
    "arch",
    "depth",
    "skip_connections",
    "image_size",
    "lr",
    "epochs",
    "batch_size",
    "optimizer",
    *KNOBS,
    "tune_holdout",
)
# How a stage runs, not what it makes: dvc.yaml leaves these out of every stage's params, so that changing one
# reruns nothing (tests/test_dvc_params.py).
HOW_NOT_WHAT = ("fetch_workers", "fetch_timeout")

SCHEMA = {
    "dataset": _choice("coco", "sample", "folder"),
    "classes": None,  # checked by _check_classes
    "image_size": _image_size,
    "arch": _choice(*ARCHITECTURES),
    "depth": _int(1),
    "skip_connections": _bool,
    "lr": _positive_float,
    "epochs": _int(1),
    "batch_size": _int(2),  # BatchNorm cannot train on one image: a batch of 1 is skipped
    "optimizer": _choice("adam", "adamw"),
    "weight_decay": _float_range(0, 1),
    "label_smoothing": _float_range(0, 1),
    "lr_schedule": _choice("constant", "cosine"),
    "warmup_epochs": _int(0),
    "crop_padding": _int(0),
    "flip": _bool,
    "seed": _int(0),
    "display_interval": _int(1),
    "device": _choice("auto", "cuda", "cpu"),
    "precision": _choice("auto", "bf16", "fp16", "fp32"),
    "tune_holdout": _float_range(0, 0.5),
    "deterministic": lambda v: (v in (True, False, "auto"), "auto, true or false"),
    "checkpoint_every": _int(1),
    "compile": _bool,
    "train_launcher": _launcher,
    "fetch_workers": _int(1, 256),
    "fetch_timeout": _positive_float,
    "coco": {"base_url": _url, "annotations_md5": _md5, "annotations_size": _int(1)},
    "datasets": {
        "coco": {"train_per_class": _int(1), "val_per_class": _int(1)},
        "sample": {"train_per_class": _int(1), "val_per_class": _int(1)},
        "folder": {"root": _nonempty_str, "train_per_class": _count_or_all, "val_per_class": _count_or_all},
    },
}


def _check_classes(v):
    if not isinstance(v, list) or len(v) < 2:
        raise ParamError("classes", v, "a list of at least two COCO category names, e.g. [boat, dog]")
    for name in v:
        if not isinstance(name, str) or name not in CATEGORY_IDS:
            raise ParamError(
                "classes", name, "a COCO category name such as " + ", ".join(sorted(CATEGORY_IDS)[:6]) + ", ..."
            )
    dupes = sorted({n for n in v if v.count(n) > 1})
    if dupes:
        raise ParamError("classes", dupes[0], "each class once (it appears twice)")


def _validate(tree, schema, prefix):
    if not isinstance(tree, dict):
        raise ParamError(prefix.rstrip(".") or "params.yaml", tree, "a mapping of keys")
    for key in tree:
        if key not in schema:
            raise ParamError(prefix + str(key), tree[key], "no such key; known keys here: " + ", ".join(schema))
    for key, check in schema.items():
        if key not in tree:
            raise ParamError(prefix + key, None, "a value is required (the key is missing)")
        value = tree[key]
        if key == "classes":
            _check_classes(value)
        elif isinstance(check, dict):
            _validate(value, check, prefix + key + ".")
        else:
            ok, allowed = check(value)
            if not ok:
                raise ParamError(prefix + key, value, allowed)


def validate(params):
    _validate(params, SCHEMA, "")
    check_warmup(params)
    return params


def load(path="params.yaml"):
    path = Path(path)
    if not path.exists():
        raise SkipnetError(f"{path} not found: run stages from the repository root")
    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise SkipnetError(f"{path} is not valid YAML: {str(e).splitlines()[0]}") from None
    except (UnicodeDecodeError, RecursionError) as e:
        raise SkipnetError(
            f"{path} is not a YAML text file ({type(e).__name__}): restore it (git checkout {path})"
        ) from None
    return validate(params)


def cli_value(value):
    """A param value as `dvc exp run -S key=value` takes it (YAML flow style)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ",".join(map(cli_value, value)) + "]"
    return str(value)


def committed(path="params.yaml"):
    """params.yaml as committed at git HEAD, validated: the defaults the study's configurations override (the
    working copy may hold an experiment's `-S` changes). Outside a git repository, the file itself."""
    path = Path(path)
    shown = subprocess.run(["git", "show", f"HEAD:./{path.name}"], cwd=path.parent, capture_output=True, text=True)
    if shown.returncode != 0:
        return load(path)
    return validate(yaml.safe_load(shown.stdout))


def check_warmup(params):
    if params["warmup_epochs"] >= params["epochs"]:
        raise ParamError(
            "warmup_epochs",
            params["warmup_epochs"],
            f"fewer than epochs ({params['epochs']}): warmup must leave epochs to train at full lr",
        )


def flatten(tree, prefix=""):
    """A params tree as {dotted key: value}, e.g. {"datasets.sample.train_per_class": 240, ...}."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def lookup(params, dotted):
    """The value at a dotted key, e.g. lookup(params, "datasets.folder.root")."""
    for key in dotted.split("."):
        params = params[key]
    return params


def with_overrides(params, overrides):
    """params with dotted-key overrides set (as `dvc exp run -S` does); the input is left as it is."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in params.items()}
    for key, value in overrides.items():
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node[p] = dict(node[p])
            node = node[p]
        node[leaf] = value
    return out


def dataset_settings(params):
    return params["datasets"][params["dataset"]]
