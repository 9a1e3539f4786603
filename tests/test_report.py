"""Run records and the report built from them: records from DVC experiments and from the DVC-free runner (the
same stage code, the same numbers), legacy records, grouping by seed, intervals, paired tests, the ablation."""

import copy
import dataclasses
import json
import os
import re
import shlex
import shutil

import pytest
import yaml

from conftest import BOAT_DOG, BOAT_DOG_SETS, MAIN_PARAMS, REPO, committed, documents, sh
from skipnet.analysis import provenance, records, report, study, tables, verdicts
from skipnet.config.params import with_overrides
from skipnet.errors import SkipnetError

TINY = [
    "-S",
    "dataset=sample",
    "-S",
    "datasets.sample.train_per_class=30",
    "-S",
    "datasets.sample.val_per_class=10",
    "-S",
    "depth=1",
    "-S",
    "epochs=3",
    "-S",
    "display_interval=1",
]
MAIN = MAIN_PARAMS

# Runs a script as a lent GPU machine would: dvc and dvclive are not installed there (pycocotools travels
# with the call as a wheel: README, "On a machine with a GPU, with or without DVC").
WITHOUT_DVC = """
import runpy, sys
class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("dvc", "dvclive"):
            raise ModuleNotFoundError(f"No module named {name!r} (as on the GPU machine)")
sys.meta_path.insert(0, NotInstalled())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def readme_lines(prefix):
    """Lines of the README or docs/ starting with `prefix`."""
    return [x for d in documents() for x in d.read_text().splitlines() if x.startswith(prefix)]


def readme_grid():
    """The README's grid one-liner, split at '&&', with TINY added to the queueing command."""
    commands = [shlex.split(part) for part in readme_lines("python tools/run_grid.py --queue")[0].split("&&")]
    return [c + TINY if "--queue" in c else c for c in commands]


# ---- hand-made records with known numbers: no data, no training ----

IMAGES = [f"val/{i:03d}.jpg" for i in range(20)]


def record(name, val_acc, seed=60146, right=None, **params):
    """A complete record of a 20-epoch run at `val_acc`; `right`: which of the 20 val images it got right."""
    p = copy.deepcopy(MAIN)
    p.update(dataset="folder", seed=seed, **params)
    p["datasets"]["folder"]["root"] = "../shared/data/coco-5class-64"
    epochs = [
        {
            "epoch": e,
            "train_loss": 1.5 - 0.05 * e,
            "train_acc": 0.4 + 0.02 * e,
            "val_loss": 1.2,
            "val_acc": val_acc,
            "lr": p["lr"],
            "seconds": 60.0,
            "images_per_s": 100.0,
        }
        for e in range(1, 21)
    ]
    right = set(range(round(20 * val_acc))) if right is None else right
    predictions = [
        {"image": im, "label": "boat", "predicted": "boat" if i in right else "dog"} for i, im in enumerate(IMAGES)
    ]
    per_class = {c: {"precision": val_acc, "recall": val_acc, "f1": val_acc} for c in p["classes"]}
    return records.Run(
        name=name,
        source="test",
        command="dvc exp run",
        code={"path": "test", "commit": "0123456789abcdef0123456789abcdef01234567"},
        machine="cpu: test",
        date="2026-12-01T00:00:00+00:00",
        train_seconds=1200.0,
        params=p,
        headline={"train_loss": epochs[-1]["train_loss"], "val_loss": 1.2, "val_acc": val_acc},
        classes={"accuracy": val_acc, "per_class": per_class, "confusion_matrix": [[10, 0], [0, 10]]},
        details={
            "model": {"parameters": 1, "parameter_tensors": 1, "macs_per_image": 1},
            "speed": {
                "images_per_s": 100.0,
                "seconds_per_epoch": 60.0,
                "train_seconds": 1200.0,
                "device": "cpu: test",
                "world_size": 1,
                "precision": "fp32",
                "precision_reason": "test",
            },
        },
        epochs=epochs,
        loss=[{"step": 5, "epoch": 1, "loss": 1.5}],
        predictions=predictions,
    )


def seeds(name, accs, **params):
    return [
        record(name if i == 0 else f"{name}-seed{60146 + i}", a, seed=60146 + i, **params) for i, a in enumerate(accs)
    ]


def test_overfitting_is_said_only_where_the_rule_holds():
    steady, rising = record("steady", 0.5), record("rising", 0.5)
    for e in rising.epochs:
        e["val_loss"] = 1.0 + (0.03 * (e["epoch"] - 10) if e["epoch"] > 10 else 0)  # +0.30 after epoch 10
    rising.headline["val_loss"] = rising.epochs[-1]["val_loss"]
    table = report.overfitting_table([steady, rising])
    assert report.OVERFIT_RULE in table
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines() if line.startswith("| ")]
    assert rows[1][:6] == ["steady", "1.200 (1)", "1.200", "+0.000", "1.450 -> 0.500", "does not overfit"]
    assert rows[2][:6] == ["rising", "1.000 (1)", "1.300", "+0.300", "1.450 -> 0.500", "overfits"]


def bad(**changes):
    """A hand-made record with `changes` applied to its fields (dotted keys for nested ones)."""
    return records.Run(**with_overrides(dataclasses.asdict(record("r", 0.5)), changes))


@pytest.mark.parametrize(
    "changes, says",
    [
        ({"headline.val_acc": 0.55}, "headline val_acc 0.5500 (11 of 20) but its predictions score 10 of 20"),
        ({"source": "dvc experiment other-run (1234567)"}, "source is experiment 'other-run' but the record is 'r'"),
        ({"code.commit": None}, "code commit 'None' is not a git commit"),
        ({"code.commit": "unknown"}, "code commit 'unknown' is not a git commit"),
        (
            {"command": "dvc exp run -S datasets.folder.root=/work/shared/data/x"},
            "command names a machine path (datasets.folder.root=/work/shared/data/x)",
        ),
        ({"command_as_run": "python tools/run_grid.py --data /home/me/data"}, "command_as_run names a machine path"),
    ],
)
def test_a_record_that_contradicts_itself_is_refused_with_one_line(tmp_path, changes, says):
    with pytest.raises(SkipnetError, match=re.escape(says)):
        records.write(tmp_path, bad(**changes))
    assert list(tmp_path.iterdir()) == []
    # one image of 20 either way is what a second pass may move: said in the record, it must be the count seen
    assert records.check(bad(**{"headline.val_acc": 0.55, "second_pass": {"predictions_correct": 10}})) is None
    assert records.check(bad(**{"headline.val_acc": 0.55, "second_pass": {"predictions_correct": 9}}))


def test_a_record_with_a_field_no_run_has_is_refused(tmp_path):
    """One name per metric: a run.json field outside records.Run (e.g. the retired val_accuracy) is refused."""
    folder = records.write(tmp_path, record("r", 0.5))
    fields = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps(dict(fields, val_accuracy=0.5)))
    with pytest.raises(SkipnetError, match=re.escape(f"{folder / 'run.json'}: unknown field 'val_accuracy'")):
        records.load(folder)


def test_every_committed_record_passes_the_check():
    runs = records.load_all(REPO / "reports/runs")  # load runs records.check and raises on the first failure
    assert len(runs) >= 42 and all(records.check(r) is None for r in runs)


def test_committed_records_give_the_committed_report_and_name_no_machine_path(tmp_path):
    """The report of the committed records, byte for byte the committed reports/study.md; in it the improved recipe
    against the study's over every seed of each (Welch, unpaired), and no path of the machine a run trained on."""
    sh(f"git archive HEAD reports/runs reports/notes.md | tar -x -C {tmp_path}", cwd=REPO)
    runs = records.load_all(tmp_path / "reports/runs")
    configs = tables.configurations(report.partition(runs)[0], MAIN)
    [c] = [c for c in verdicts.comparisons(configs) if c.claim == study.COMPARISONS[0][0]]
    assert (c.a["name"], c.b["name"]) == ("mynet16-improved", "mynet16-lr1e-3")
    assert (c.welch["n_a"], c.welch["n_b"]) == (len(c.a["runs"]), len(c.b["runs"])) and c.welch["n_a"] >= 3
    md = report.write(runs, tmp_path, MAIN, (tmp_path / "reports/notes.md").read_text()).read_text()
    assert md == committed("reports/study.md")  # a refactor of the report changes no byte of it
    assert not re.search(r"(?<![\w.])/(work|home|root|tmp|Users)/", md)
    for r in runs:
        assert f"`{r.command}`" in md and "/work/" not in r.command
        assert r.params["dataset"] != "folder" or r.params["datasets"]["folder"]["root"].startswith("../shared/")


def test_report_rewrites_only_the_readme_generated_blocks(tmp_path):
    runs = seeds("mynet16-lr1e-3", [0.50, 0.52])
    readme = tmp_path / "README.md"
    readme.write_text(
        "# Title\n<!-- study -->\nold\n<!-- /study -->\nbefore\n<!-- table1 -->\nold table\n<!-- /table1 -->\nafter\n"
    )
    assert report.update_readme(readme, runs, MAIN)
    text = readme.read_text()
    assert text.startswith("# Title\n<!-- study -->\n") and text.endswith("<!-- /table1 -->\nafter\n")
    assert "old" not in text and "\n<!-- /study -->\nbefore\n<!-- table1 -->\n" in text
    assert re.search(r"\| MyNet-16, lr 1e-3 +\| 54.52% +\| 0.435 +\| 1.552 +\|", text)  # the study's numbers
    assert re.search(
        r"\| MyNet-16, lr 1e-3 +\| val_acc +\| 54.52% +\| 51.00% \(n = 2\) +\| not decided \(n = 2\)", text
    )
    readme.write_text("no markers\n")
    assert not report.update_readme(readme, runs, MAIN) and readme.read_text() == "no markers\n"


def test_how_a_run_executed_does_not_split_its_configuration():
    """Seeds of one recipe stay one configuration when a later version ran them with other execution params."""
    runs = seeds("mynet16-lr1e-3", [0.50, 0.52, 0.54])
    for r in runs[:2]:
        r.params["deterministic"] = True
        del r.params["checkpoint_every"]
    runs[2].params.update(precision="fp32", display_interval=1, train_launcher="torchrun --nproc_per_node=2")
    other = seeds("lr3e-4", [0.60], lr=0.0003) + seeds("on-boat-dog", [0.7], classes=["boat", "dog"])
    configs = tables.configurations(runs + other, MAIN)
    assert [(c["name"], len(c["runs"])) for c in configs] == [("lr3e-4", 1), ("mynet16-lr1e-3", 3), ("on-boat-dog", 1)]


def test_a_run_is_the_declared_configuration_its_recipe_params_say():
    assert study.declared(MAIN, MAIN) == "mynet16-lr1e-3"
    # the seed, the data source and how a run executes do not make a configuration
    assert study.declared(dict(MAIN, seed=7, dataset="folder", precision="fp32"), MAIN) == "mynet16-lr1e-3"
    assert study.declared(dict(MAIN, lr=0.0001), MAIN) == "mynet16-lr1e-4"
    assert study.declared(dict(MAIN, arch="net3", image_size=64, depth=3), MAIN) == "net3-64px"  # Net3 has no depth
    assert study.declared(dict(MAIN, depth=1, skip_connections=False, epochs=5), MAIN) == "sweep-d1-noskip"
    assert study.declared(dict(MAIN, epochs=7), MAIN) is None
    assert study.declared(dict(MAIN, tune_holdout=0.1), MAIN) is None
    assert study.declared(dict(MAIN, flip=True), MAIN) is None  # another recipe
    assert study.declared(with_overrides(MAIN, study.CONFIGURATIONS["mynet16-improved"]), MAIN) == "mynet16-improved"
    # each configuration is itself and no other one
    assert [study.declared(with_overrides(MAIN, o), MAIN) for o in study.CONFIGURATIONS.values()] == list(
        study.CONFIGURATIONS
    )


def test_a_record_is_whole_or_absent_and_keeps_its_predictions(tmp_path):
    norms = [{"step": 5, "log10_stem": -1.5, "log10_fc": -2.0}, {"step": 10, "log10_stem": -1.25, "log10_fc": -1.75}]
    run = dataclasses.replace(record("r", 0.5), grad_norms=norms)
    with pytest.raises(TypeError):  # fails while writing run.json
        records.write(tmp_path, dataclasses.replace(run, details={"bad": object()}))
    assert [p.name for p in tmp_path.iterdir()] == []
    back = records.load(records.write(tmp_path, run))
    assert (
        back == run
        and (tmp_path / "r/grad_norms.csv").read_text() == "step,log10_stem,log10_fc\n5,-1.5,-2.0\n10,-1.25,-1.75\n"
    )


def test_record_and_report_errors_say_what_to_do(repo):
    proc = sh(["python", "tools/record.py", "no-such-exp"], cwd=repo, check=False)
    assert (
        proc.returncode == 1
        and proc.stderr.strip()
        == "error: no DVC experiment or git revision named 'no-such-exp': see `dvc exp list` or `dvc exp show`"
    )
    proc = sh(["python", "tools/record.py", "HEAD"], cwd=repo, check=False)
    assert proc.returncode == 1 and "has no finished run's metrics" in proc.stderr
    proc = sh(["python", "tools/report.py"], cwd=repo, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: no run records in reports/runs")
    assert not (repo / "reports/study.md").exists()
    shutil.rmtree(repo / "reports", ignore_errors=True)


# ---- real runs ----


def test_readme_grid_queues_then_records_then_report(trained_repo):
    repo = trained_repo
    for command in readme_grid()[:-1]:  # the queue, not --run-all: DVC runs what it queued (its own tests)
        sh(command, cwd=repo)
    queued = sh(["dvc", "queue", "status"], cwd=repo).stdout
    assert queued.count("Queued") == len(study.GROUPS["study"]), queued
    sh(["dvc", "queue", "remove", "--queued"], cwd=repo)
    record_cmd = readme_lines("python tools/record.py")[0]  # records every experiment: the fixture's `slower`
    out = sh(record_cmd, cwd=repo).stdout
    assert out.count("recorded ") == 1
    runs = records.load_all(repo / "reports/runs")
    assert [(r.name, r.params["arch"], r.params["lr"]) for r in runs] == [("slower", "mynet", 0.0001)]
    for r in runs:
        assert len(r.epochs) == 2 and r.loss and r.machine.startswith("cpu")
        assert r.headline["val_acc"] == pytest.approx(r.epochs[-1]["val_acc"])
        assert sum(map(sum, r.classes["confusion_matrix"])) == 5 * 40
        assert len(r.predictions) == 5 * 40 and r.code["path"] == "dvc exp run" and len(r.code["commit"]) == 40
        assert r.command.startswith("dvc exp run -S ") and "-S epochs=2" in r.command
        assert "-S lr=0.0001" in r.command  # what changed from its commit's params

    # The records alone build the report: no DVC experiment is needed any more.
    sh("dvc exp remove -A", cwd=repo)
    out = sh(["python", "tools/report.py"], cwd=repo).stdout
    assert "reports/study.md (1 runs)" in out
    md = (repo / "reports/study.md").read_text()
    every = md.split("## Every run")[1].split("##")[0]
    assert re.search(r"^\| run +\| +epochs run +\|", every, re.M)  # one run: no param differs
    for r in runs:
        assert re.search(rf"^\| {re.escape(r.name)} +\|", every, re.M) and f"`{r.command}`" in md
    for png in ("loss_overlay.png", "epochs.png", "confusion_matrices.png"):
        assert (repo / "reports" / png).read_bytes()[:4] == b"\x89PNG"
        assert f"]({png})" in md


def test_dvc_free_runner_gives_the_dvc_experiments_numbers(boat_dog_repo, tmp_path):
    """The same tiny configuration on real photographs, once by `dvc exp run` (boat_dog_repo) and once by the
    DVC-free runner with dvc and dvclive unimportable: the same images in the same order, the same per-epoch
    metrics and the same prediction for every val image."""
    (tmp_path / "params.yaml").write_text(committed("params.yaml"))  # main's, not the working copy's
    argv = [
        str(REPO / "tools/run_grid.py"),
        "--data",
        str(BOAT_DOG),
        "--runs",
        "mynet16-lr1e-3",
        *BOAT_DOG_SETS,
        "--params",
        str(tmp_path / "params.yaml"),
        "--out",
        str(tmp_path / "runs"),
        "--work",
        str(tmp_path / "work"),
    ]
    out = sh(["python", "-c", WITHOUT_DVC, *argv], cwd=REPO).stdout
    for stage in ("download", "select", "fetch", "prepare", "train", "evaluate"):
        assert f"Running stage '{stage}'" in out
    [grid] = records.load_all(tmp_path / "runs")
    [name] = sh(["dvc", "exp", "list", "--name-only"], cwd=boat_dog_repo).stdout.split()
    dvc_folder = provenance.from_experiment(name, boat_dog_repo, tmp_path / "dvc-runs")
    dvc = records.load(dvc_folder)
    assert (tmp_path / "work/data/manifest.csv").read_text() == (boat_dog_repo / "data/manifest.csv").read_text()
    timing = ("seconds", "images_per_s")
    assert [{k: v for k, v in e.items() if k not in timing} for e in grid.epochs] == [
        {k: v for k, v in e.items() if k not in timing} for e in dvc.epochs
    ]
    assert grid.predictions == dvc.predictions and len(grid.predictions) == 200
    assert grid.loss == dvc.loss and grid.classes == dvc.classes
    assert grid.source == "tools/run_grid.py" and grid.code["path"] == "tools/run_grid.py"
    # the records name the data as a fresh clone reaches it, not by this machine's path
    shared = "../shared/data/coco-boat-dog-64"
    assert grid.command.startswith(f"python tools/run_grid.py --data {shared} --runs mynet16-lr1e-3 -S ")
    assert grid.params["datasets"]["folder"]["root"] == dvc.params["datasets"]["folder"]["root"] == shared
    # a second run with the same data params reuses the data stages, as DVC would; a relative --work works too
    again = sh(
        [
            "python",
            "-c",
            WITHOUT_DVC,
            *argv[:-4],
            "-S",
            "epochs=1",
            "--out",
            str(tmp_path / "runs2"),
            "--work",
            os.path.relpath(tmp_path / "work", REPO),
        ],
        cwd=REPO,
    ).stdout
    assert "Running stage 'prepare'" not in again and "Running stage 'train'" in again


def test_readme_improved_recipe_line_is_the_committed_improved_run():
    """The README's command line, applied to main's params as `dvc exp run -S` does, is the configuration of the
    committed mynet16-improved record, so the report finds it."""
    [line] = readme_lines("dvc exp run -n mynet16-improved ")
    assert line.endswith("$(python tools/run_grid.py --overrides mynet16-improved)")
    words = shlex.split(sh(["python", "tools/run_grid.py", "--overrides", "mynet16-improved"], cwd=REPO).stdout)
    params = with_overrides(MAIN, {k: yaml.safe_load(v) for k, v in (w.split("=", 1) for w in words[1::2])})
    committed = records.load(REPO / "reports/runs/mynet16-improved").params
    assert words[::2] == ["-S"] * 6 and study.recipe(params) == study.recipe(committed)
    assert study.declared(committed, MAIN) == "mynet16-improved"
