"""Run records and the report built from them: from DVC experiments, from the grid runner, grouping."""
import copy
import json
import shlex
import shutil

import pytest
import yaml

from conftest import REPO, sh
from skipnet import records, report

TINY = ["-S", "dataset=sample", "-S", "datasets.sample.train_per_class=30", "-S", "datasets.sample.val_per_class=10",
        "-S", "depth=1", "-S", "epochs=2", "-S", "display_interval=1"]
PHOTOS = REPO.parent / "shared/data/coco-boat-dog-64"


# Runs a script as a lent GPU machine would: dvc, dvclive and pycocotools are not installed there.
WITHOUT_DVC = """
import runpy, sys
class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("dvc", "dvclive", "pycocotools"):
            raise ModuleNotFoundError(f"No module named {name!r} (as on the GPU machine)")
sys.meta_path.insert(0, NotInstalled())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def readme_lines(prefix):
    return [x for x in (REPO / "README.md").read_text().splitlines() if x.startswith(prefix)]


def readme_grid():
    """The README's grid one-liner, split at '&&', with TINY added to each queued experiment."""
    commands = [shlex.split(part) for part in readme_lines("dvc exp run --queue")[0].split("&&")]
    return [c + TINY if "--queue" in c else c for c in commands]


def test_readme_grid_then_records_then_report(repo):
    for command in readme_grid():
        sh(command, cwd=repo)
    record_cmd = readme_lines("python stages/record.py")[0]
    out = sh(record_cmd, cwd=repo).stdout
    assert out.count("recorded ") == 3
    runs = records.load_all(repo / "reports/runs")
    assert sorted((r["params"]["arch"], r["params"]["lr"], r["params"]["image_size"]) for r in runs) == \
        [("mynet", 0.0001, 32), ("mynet", 0.001, 32), ("net3", 0.001, 64)]
    for r in runs:
        assert len(r["epochs"]) == 2 and r["loss"] and r["machine"].startswith("cpu")
        assert r["headline"]["val_acc"] == pytest.approx(r["epochs"][-1]["val_accuracy"])
        assert sum(map(sum, r["classes"]["confusion_matrix"])) == 5 * 10
        assert r["command"].startswith("dvc exp run -S dataset=sample")
    net3 = next(r for r in runs if r["params"]["arch"] == "net3")
    assert "-S arch=net3" in net3["command"] and "-S image_size=64" in net3["command"]

    # The records alone build the report: no DVC experiment is needed any more.
    sh("dvc exp remove -A", cwd=repo)
    out = sh(["python", "stages/report.py"], cwd=repo).stdout
    assert "reports/study.md (3 runs)" in out
    md = (repo / "reports/study.md").read_text()
    every = md.split("## Every run")[1].split("##")[0]
    assert "| run | image_size | arch | lr |" in every
    for r in runs:
        assert f"| {r['name']} |" in every and f"`{r['command']}`" in md
    for png in ("loss_overlay.png", "epochs.png", "confusion_matrices.png"):
        assert (repo / "reports" / png).read_bytes()[:4] == b"\x89PNG"
        assert f"]({png})" in md


@pytest.fixture(scope="module")
def grid_records(tmp_path_factory):
    """Two real runs of the grid runner on real photographs (small: 150 + 50 per class, depth 1, 2 epochs), with
    dvc, dvclive and pycocotools unimportable."""
    if not PHOTOS.is_dir():
        pytest.skip(f"{PHOTOS} is not here")
    tmp = tmp_path_factory.mktemp("grid")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params.update(classes=["boat", "dog"], depth=1, epochs=2)
    params["datasets"]["folder"].update(train_per_class=150, val_per_class=50)
    (tmp / "params.yaml").write_text(yaml.safe_dump(params))
    argv = [str(REPO / "stages/run_grid.py"), "--data", str(PHOTOS), "--params", str(tmp / "params.yaml"),
            "--runs", "mynet16-lr1e-3", "net3-64px", "--out", str(tmp / "runs"), "--cache", str(tmp / "cache")]
    out = sh(["python", "-c", WITHOUT_DVC, *argv], cwd=REPO).stdout
    assert out.count(" -> ") == 2
    return tmp / "runs"


def test_grid_runner_writes_the_records_the_report_reads(grid_records, tmp_path):
    runs = records.load_all(grid_records)
    assert [r["name"] for r in runs] == ["mynet16-lr1e-3", "net3-64px"]
    for r in runs:
        assert sum(map(sum, r["classes"]["confusion_matrix"])) == 2 * 50  # val_per_class of each class
        assert r["params"]["dataset"] == "folder" and r["source"] == "stages/run_grid.py"
        assert r["command"].startswith("python stages/run_grid.py --data ") and f"--runs {r['name']}" in r["command"]
        # the engine's last-epoch val accuracy and the evaluation of the final model are one number
        assert r["headline"]["val_acc"] == pytest.approx(r["classes"]["accuracy"], abs=0.006)
        assert len(r["epochs"]) == 2 and r["epochs"][-1]["val_accuracy"] == r["headline"]["val_acc"]
    path = report.write(runs, tmp_path)
    assert "| mynet16-lr1e-3 | mynet | 32 |" in path.read_text()


def test_report_groups_a_depth_sweep_the_improved_recipe_and_tuning_runs(grid_records, tmp_path):
    base = records.load(grid_records / "mynet16-lr1e-3")
    sweep = []
    for depth in (1, 2, 4):
        for skip in (True, False):
            r = copy.deepcopy(base)
            r["name"] = f"d{depth}-{skip}"
            r["params"].update(depth=depth, skip_connections=skip, epochs=5)
            r["headline"]["val_acc"] = 0.5 + depth / 100 + skip / 10
            sweep.append(r)
    improved = copy.deepcopy(base)
    improved["name"], improved["params"]["recipe"] = "better", "improved"
    improved["params"]["improved"] = {"weight_decay": 0.3, "label_smoothing": 0.1, "warmup_epochs": 2, "crop_padding": 4}
    improved["headline"]["val_acc"] = base["headline"]["val_acc"] + 0.0512
    improved["params"]["datasets"]["sample"]["train_per_class"] += 1  # a setting the folder dataset never reads
    tuning = []
    for name, wd, acc in (("tune-a", 0.05, 0.61), ("tune-b", 0.3, 0.64)):
        r = copy.deepcopy(improved)
        r["name"], r["params"]["tune_holdout"], r["headline"]["val_acc"] = name, 0.1, acc
        r["params"]["improved"]["weight_decay"] = wd
        tuning.append(r)
    md = report.write([base, improved, *sweep, *tuning], tmp_path).read_text()

    assert "## Depth sweep 1" in md and (tmp_path / "depth_sweep_1.png").read_bytes()[:4] == b"\x89PNG"
    table = md.split("## Depth sweep 1")[1].split("##")[0]
    assert "| depth | skip connections | val acc |" in table and table.count(" min | d") == 6
    assert [g[0]["name"] for g in report.sweeps(sweep)] == ["d1-True"]
    every = md.split("## Every run")[1].split("##")[0]
    assert "| mynet16-lr1e-3 |" in every and "| better |" in every
    assert "d1-True" not in every and "tune-a" not in every  # sweep and tuning runs have their own sections
    assert "| run | recipe | improved.weight_decay |" in every and "| mynet16-lr1e-3 | study | - |" in every

    margin = md.split("## The improved recipe against the study's")[1].split("##")[0]
    assert "| better | weight_decay 0.3, label_smoothing 0.1, warmup_epochs 2, crop_padding 4 | mynet16-lr1e-3 |" in margin
    assert "| +5.12 | met |" in margin
    improved["headline"]["val_acc"] -= 0.01
    assert "| +4.12 | not met |" in report.improved_table(report.recipe_pairs([base, improved]))

    tuned = md.split("## Tuning runs")[1].split("##")[0]
    assert "Highest held-out accuracy: **tune-b** (64.00%)" in tuned
    assert "| tune-a | 0.05 |" in tuned and "| tune-b | 0.3 |" in tuned
    assert "| held-out loss | held-out acc |" in tuned and "val acc" not in tuned


def test_a_sweep_at_the_study_setting_keeps_its_table1_row_and_recipe_twin(grid_records, tmp_path):
    base = records.load(grid_records / "mynet16-lr1e-3")
    base["params"]["epochs"] = 20  # the study's setting: depth 16 of this sweep is Table 1's MyNet-16 lr 1e-3
    sweep = []
    for depth in (1, 4, 16):
        r = copy.deepcopy(base)
        r["name"] = f"sweep-d{depth}"
        r["params"]["depth"] = depth
        sweep.append(r)
    improved = copy.deepcopy(sweep[-1])
    improved["name"], improved["params"]["recipe"] = "better", "improved"
    md = report.write([*sweep, improved], tmp_path).read_text()
    assert len(report.sweeps(sweep + [improved])) == 1
    assert "| MyNet-16, lr 1e-3 | sweep-d16 |" in md.split("## Table 1")[1].split("##")[0]
    assert "| better | " in md.split("## The improved recipe against the study's")[1].split("##")[0]


def test_report_rewrites_only_the_readme_table1_block(grid_records, tmp_path):
    runs = records.load_all(grid_records)
    readme = tmp_path / "README.md"
    readme.write_text("# Title\nbefore\n<!-- table1 -->\nold table\n<!-- /table1 -->\nafter\n")
    assert report.update_readme(readme, runs)
    text = readme.read_text()
    assert text.startswith("# Title\nbefore\n<!-- table1 -->\n") and text.endswith("<!-- /table1 -->\nafter\n")
    assert "old table" not in text and "No run matches a row of the study's Table 1" in text  # 2-epoch runs
    readme.write_text("no markers\n")
    assert not report.update_readme(readme, runs) and readme.read_text() == "no markers\n"


def test_study_rows_match_only_the_study_setting():
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    assert report.study_row(params)[0] == "MyNet-16, lr 1e-3"
    assert report.study_row(dict(params, lr=0.0001))[0] == "MyNet-16, lr 1e-4"
    assert report.study_row(dict(params, arch="net3", image_size=64))[0] == "Net3 (64x64)"
    assert report.study_row(dict(params, epochs=5)) is None
    assert report.study_row(dict(params, tune_holdout=0.1)) is None


def test_a_record_is_whole_or_absent(grid_records, tmp_path):
    run = json.loads((grid_records / "net3-64px/run.json").read_text())
    with pytest.raises(TypeError):
        records.write(tmp_path, dict(run, bad=object()), [], [])  # fails while writing run.json
    assert [p.name for p in tmp_path.iterdir()] == []


def test_record_and_report_errors_say_what_to_do(repo):
    proc = sh(["python", "stages/record.py", "no-such-exp"], cwd=repo, check=False)
    assert proc.returncode == 1 and proc.stderr.strip() == \
        "error: no DVC experiment or git revision named 'no-such-exp': see `dvc exp list` or `dvc exp show`"
    proc = sh(["python", "stages/record.py", "HEAD"], cwd=repo, check=False)
    assert proc.returncode == 1 and "has no finished run's metrics" in proc.stderr
    proc = sh(["python", "stages/report.py"], cwd=repo, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: no run records in reports/runs")
    assert not (repo / "reports/study.md").exists()
    shutil.rmtree(repo / "reports", ignore_errors=True)
