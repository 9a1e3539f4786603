"""Training recipes as values of params.yaml's flat training knobs.

The study's recipe is params.yaml's defaults; the improved recipe is a command line that turns six
knobs (README, "A recipe that beats the study"). Records written before the flat knobs existed carry
`recipe: study | improved` and an `improved:` block instead: `from_legacy` reads them as knobs.
"""
KNOBS = ("optimizer", "weight_decay", "label_smoothing", "lr_schedule", "warmup_epochs", "crop_padding", "flip")
STUDY = {"optimizer": "adam", "weight_decay": 0.0, "label_smoothing": 0.0, "lr_schedule": "constant",
         "warmup_epochs": 0, "crop_padding": 0, "flip": False}
# Chosen on a held-out tenth of train (reports/study.md, Tuning runs); val never read.
IMPROVED = {"optimizer": "adamw", "weight_decay": 0.05, "label_smoothing": 0.0, "lr_schedule": "cosine",
            "warmup_epochs": 2, "crop_padding": 2, "flip": True}


def changes(params, base=STUDY):
    """{knob: value} for every training knob this run sets away from `base` (the study's recipe)."""
    return {k: params[k] for k in KNOBS if params[k] != base[k]}


def from_legacy(params):
    """Params with `recipe`/`improved` (before the flat knobs) as the equivalent flat knobs; others unchanged.

    What the engine did then: the study recipe was plain Adam at a constant lr; `recipe: improved` was
    AdamW with improved.weight_decay, label smoothing, linear warmup then cosine decay, a random crop with
    improved.crop_padding and a random horizontal flip, always all together.
    """
    if "recipe" not in params:
        return params
    out = {k: v for k, v in params.items() if k not in ("recipe", "improved")}
    if params["recipe"] == "improved":
        old = params["improved"]
        knobs = {"optimizer": "adamw", "weight_decay": old["weight_decay"], "label_smoothing": old["label_smoothing"],
                 "lr_schedule": "cosine", "warmup_epochs": old["warmup_epochs"],
                 "crop_padding": old["crop_padding"], "flip": True}
    else:
        knobs = dict(STUDY)
    ordered = {}
    for key, value in out.items():  # the knobs where params.yaml has them: after batch_size
        ordered[key] = value
        if key == "batch_size":
            ordered.update(knobs)
    return ordered
