"""The whole DVC pipeline in a temp git repo: quick start, an experiment, metrics diff, offline failure."""

import json
import shlex

import pytest
import torch

from conftest import REPO, free_port, readme_command, readme_line, set_params, sh
from skipnet.training import precision
from skipnet.training.models import MyNet, model_summary


def find(tree, predicate):
    """Every dict in a JSON tree for which predicate holds."""
    found = []
    if isinstance(tree, dict):
        if predicate(tree):
            found.append(tree)
        for v in tree.values():
            found += find(v, predicate)
    elif isinstance(tree, list):
        for v in tree:
            found += find(v, predicate)
    return found


def test_quick_start_experiment_and_metrics_diff(quick_start, trained_repo):
    out = quick_start.out
    repo = trained_repo
    for stage in ("download", "select", "fetch", "prepare", "train", "evaluate"):
        assert f"Running stage '{stage}'" in out
    assert (repo / "dvc.yaml").read_text() == (REPO / "dvc.yaml").read_text()  # DVCLive declares nothing itself
    assert sorted(p.name for p in (repo / "dvclive").iterdir()) == [".gitignore", "metrics.json", "plots"]
    assert set((repo / "dvclive/.gitignore").read_text().split()) == {"/metrics.json", "/plots"}  # DVC caches both
    chosen, reason = precision.resolve("auto", torch.device("cpu"))
    assert f"precision: {chosen} ({reason})" in out
    assert "(auto: no NVIDIA GPU on this machine); precision:" in out  # the CPU chosen, and said why
    progress = json.loads((repo / "dvclive/metrics.json").read_text())
    assert progress == {"step": 4}
    headline = json.loads((repo / "metrics/headline.json").read_text())
    assert set(headline) == {"train_loss", "val_loss", "val_acc"}
    assert headline["val_acc"] >= 0.4, headline  # twice chance: it learns (0.48 in bf16, 0.565 in fp32 when written)
    epochs = json.loads((repo / "models/train_log.json").read_text())["epochs"]
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"], epochs
    assert headline == {
        "train_loss": epochs[-1]["train_loss"],
        "val_loss": epochs[-1]["val_loss"],
        "val_acc": epochs[-1]["val_acc"],
    }
    # one evaluation per model: the headline, the live progress, the predictions and the confusion matrix agree exactly
    predictions = (repo / "metrics/predictions.csv").read_text().splitlines()[1:]
    correct = sum(line.split(",")[1] == line.split(",")[2] for line in predictions)
    scores = json.loads((repo / "metrics/classes.json").read_text())
    assert len(predictions) == 5 * 40
    assert headline["val_acc"] == scores["accuracy"] == correct / len(predictions)
    assert sum(scores["confusion_matrix"][i][i] for i in range(5)) == correct
    assert set(scores["per_class"]) == {"boat", "cake", "couch", "dog", "motorcycle"}
    assert sum(map(sum, scores["confusion_matrix"])) == 5 * 40
    details = json.loads((repo / "metrics/run.json").read_text())
    assert details["model"] == model_summary(MyNet(depth=1, num_classes=5, image_size=32), 32)
    speed = details["speed"]
    assert speed["images_per_s"] > 0 and speed["seconds_per_epoch"] > 0
    assert speed["device"].startswith("cpu") and (speed["precision"], speed["precision_reason"]) == (chosen, reason)
    data = json.loads((repo / "metrics/data.json").read_text())
    assert data["images_with_several_classes"] > 0
    for png in ("confusion.png", "loss.png", "grad_norms.png", "epochs.png", "misclassified.png", "preview.png"):
        assert (repo / "plots" / png).read_bytes()[:4] == b"\x89PNG"
    assert (repo / "plots/confusion.csv").read_text().startswith("actual,predicted\n")
    shown = json.loads(sh(["dvc", "plots", "show", "--json"], cwd=repo).stdout)["data"]
    assert sorted(shown) == sorted(
        [
            "confusion",
            "loss",
            "epoch_loss",
            "epoch_accuracy",
            "grad_norms",
            "plots/confusion.png",
            "plots/loss.png",
            "plots/grad_norms.png",
            "plots/epochs.png",
            "plots/misclassified.png",
            "plots/preview.png",
        ]
    )
    for name in ("confusion", "loss", "epoch_loss", "epoch_accuracy", "grad_norms"):  # each has data to draw
        assert shown[name], name
    epoch_points = [p for p in shown["epoch_loss"][0]["content"]["data"]["values"]]
    assert len(epoch_points) == 2 * 4  # train and val, one point per epoch

    # the fixture's second experiment, `slower`: lr 1e-4, 2 epochs
    show = json.loads(sh(["dvc", "exp", "show", "--json"], cwd=repo).stdout)
    exps = find(
        show,
        lambda d: (
            isinstance(d.get("params"), dict) and d["params"].get("params.yaml", {}).get("data", {}).get("lr") == 0.0001
        ),
    )
    assert exps, "dvc exp show lists no experiment with lr=0.0001"
    # the headline and the progress; detail files are not metrics
    assert set(exps[0]["metrics"]) == {"metrics/headline.json", "dvclive/metrics.json"}
    assert set(exps[0]["metrics"]["metrics/headline.json"]["data"]) == {"train_loss", "val_loss", "val_acc"}
    table = sh(
        "COLUMNS=120 " + shlex.join(readme_command("dvc exp show --only-changed")) + " --no-pager", cwd=repo
    ).stdout
    assert "…" not in table, table
    for column in ("slower", "train_loss", "val_loss", "val_acc", "lr", "0.0001", "epochs", "step"):
        assert column in table, table
    assert max(map(len, table.splitlines())) <= 120

    sh("dvc exp apply slower && git add -A && git commit -qm lr1e-4", cwd=repo)
    diff = json.loads(sh(["dvc", "metrics", "diff", "HEAD~1", "--json"], cwd=repo).stdout)
    assert set(diff["metrics/headline.json"]) == {"train_loss", "val_loss", "val_acc"}
    # a teammate's fresh clone, no `dvc pull`: the headline of both branches is in git
    clone = repo.parent / "teammate"
    sh(["git", "clone", "-q", str(repo), str(clone)], cwd=repo.parent)
    branch = sh(["git", "branch", "--show-current"], cwd=clone).stdout.strip()
    sh(["git", "branch", "quick", "HEAD~1"], cwd=clone)
    assert not (clone / ".dvc/cache").exists()
    diff = json.loads(sh(["dvc", "metrics", "diff", "quick", branch, "--json"], cwd=clone).stdout)[
        "metrics/headline.json"
    ]
    headline = json.loads((repo / "metrics/headline.json").read_text())
    assert {k: v["new"] for k, v in diff.items()} == headline and all(v["old"] != v["new"] for v in diff.values())
    readme = readme_command("dvc metrics diff main my-branch")  # as the README writes it: no warning in a fresh clone
    shown = sh([*readme[:3], "quick", branch, *readme[5:]], cwd=clone)
    assert shown.stderr == "" and shown.stdout.count("metrics/headline.json") == 3, shown
    shown = json.loads(sh(["dvc", "metrics", "show", "-a", "--json"], cwd=clone).stdout)
    for rev in (
        "quick",
        branch,
    ):  # and maybe "workspace": DVC hides it only if it compares equal, unpulled files may not
        assert set(shown[rev]["data"]["metrics/headline.json"]["data"]) == {"train_loss", "val_loss", "val_acc"}, shown
    detail = json.loads(sh(["dvc", "metrics", "show", "--json", "metrics/classes.json"], cwd=repo).stdout)
    shown = detail[""]["data"]["metrics/classes.json"]["data"]
    boat = json.loads((repo / "metrics/classes.json").read_text())["confusion_matrix"][0]
    assert shown["per_class"]["boat"]["recall"] == pytest.approx(boat[0] / sum(boat))  # recall: row 0's diagonal share
    params_diff = json.loads(sh(["dvc", "params", "diff", "HEAD~1", "--json"], cwd=repo).stdout)
    assert (params_diff["params.yaml"]["lr"]["old"], params_diff["params.yaml"]["lr"]["new"]) == (0.001, 0.0001)
    assert (params_diff["params.yaml"]["epochs"]["old"], params_diff["params.yaml"]["epochs"]["new"]) == (4, 2)
    html = sh(["dvc", "plots", "diff", "HEAD~1", "-o", "plots_diff"], cwd=repo)
    assert (repo / "plots_diff/index.html").exists(), html.stdout


def test_the_readmes_several_gpu_command_runs_through_dvc_exp_run(trained_repo):
    """The README's line as a user types it (DVC's -S parser takes the quoted value), 2 ranks instead of 4 (gloo
    on the CPU), one epoch: rank 0 alone logs and writes."""
    line = readme_line('dvc exp run -S "train_launcher=')
    out = sh(
        shlex.split(line.replace("--nproc_per_node=4", "--nproc_per_node=2")) + ["-S", "epochs=1"], cwd=trained_repo
    ).stdout
    assert out.count("epoch 1/1:") == 1, out
    assert json.loads((trained_repo / "models/train_log.json").read_text())["world_size"] == 2
    assert json.loads((trained_repo / "dvclive/metrics.json").read_text()) == {"step": 1}  # DVCLive on rank 0 only
    assert (trained_repo / "dvclive/plots/metrics/val_acc.tsv").read_text().count("\n") == 2
    assert sorted(p.name for p in (trained_repo / "models").iterdir()) == ["model.pt", "resume", "train_log.json"]
    assert [p.name for p in (trained_repo / "models/resume").iterdir()] == [".train.lock"]  # no checkpoint left


def test_repro_without_network_fails_in_download_with_one_clear_line(repo):
    port = free_port()
    set_params(repo, **{"coco.base_url": f"http://127.0.0.1:{port}"})
    proc = sh(["dvc", "repro"], cwd=repo, check=False, timeout=120)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    assert f"http://127.0.0.1:{port}/annotations/annotations_trainval2017.zip" in errors[0]
    assert " ".join(readme_command("dvc exp run -S dataset=sample")) in errors[0]  # the README's quick start
    assert "failed to reproduce 'download'" in proc.stderr
    leftovers = [p for p in (repo / "data").rglob("*") if p.is_file() and p.name != ".gitkeep"]
    assert leftovers == []


def test_folder_dataset_trains_on_real_coco_photographs(boat_dog_repo):
    scores = json.loads((boat_dog_repo / "metrics/classes.json").read_text())
    assert sum(map(sum, scores["confusion_matrix"])) == 200
    assert set(scores["per_class"]) == {"boat", "dog"}
    assert scores["accuracy"] > 0.6, scores["accuracy"]  # 0.70 in bf16, 0.71 in fp32 when written
    manifest = (boat_dog_repo / "data/manifest.csv").read_text()
    assert "train/boat/COCO_train2014_" in manifest and "val/dog/COCO_train2014_" in manifest


def test_coco_path_end_to_end_through_a_mirror(repo, tmp_path):
    from mirror import Mirror, build_site

    size, md5 = build_site(tmp_path / "site", ["boat", "cake", "couch", "dog", "motorcycle"], 40, seed=11)
    with Mirror(tmp_path / "site") as m:
        set_params(
            repo,
            **{
                "coco.base_url": m.base_url,
                "coco.annotations_md5": md5,
                "coco.annotations_size": size,
                "datasets.coco.train_per_class": 30,
                "datasets.coco.val_per_class": 10,
                "depth": 1,
                "epochs": 1,
            },
        )
        sh(["dvc", "repro"], cwd=repo)
        paths = {r["path"] for r in m.requests}
    assert "/annotations/annotations_trainval2017.zip" in paths
    assert sum(p.startswith("/train2017/") for p in paths) == 5 * 40
    assert json.loads((repo / "metrics/data.json").read_text())["eligible_per_class"]["boat"] >= 40
