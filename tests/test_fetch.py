"""Image fetch against a loopback COCO look-alike with injected faults, and kill -9 recovery."""

import os
import signal
import subprocess
import time

import pytest
from PIL import Image

from conftest import copy_repo, env, free_port, set_params, sh
from mirror import Mirror, build_site
from skipnet.data import fetch, select
from skipnet.errors import SkipnetError

CLASSES = ["boat", "dog", "cake"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    build_site(root, CLASSES, 10, seed=5)
    return root


def manifest(site, base_url, n=8):
    """Manifest rows for the first `n` images, with URLs in COCO's layout under `base_url`."""
    names = sorted(p.name for p in (site / "train2017").iterdir())[:n]
    return [
        {
            "image_id": str(int(name[:-4])),
            "file_name": name,
            "url": f"{base_url}/train2017/{name}",
            "class": "boat",
            "split": "train",
        }
        for name in names
    ]


def test_transient_faults_are_recovered_by_retry(site, tmp_path):
    with Mirror(site) as m:
        rows = manifest(site, m.base_url)
        paths = [f"/train2017/{r['file_name']}" for r in rows]
        m.inject(paths[0], "503")
        m.inject(paths[1], "drop")
        m.inject(paths[2], "slow:2")
        m.inject(paths[3], "truncate")
        m.inject(paths[4], "503", "drop", "truncate")
        m.inject(paths[5], "429", "500")
        assert fetch.fetch(rows, tmp_path, workers=4, timeout_s=0.5) == len(rows)
        seen = [r["path"] for r in m.requests]
    for r in rows:
        assert (tmp_path / r["file_name"]).read_bytes() == (site / "train2017" / r["file_name"]).read_bytes()
    assert seen.count(paths[4]) == 4 and seen.count(paths[0]) == 2 and seen.count(paths[5]) == 3
    assert seen.count(paths[6]) == 1


def test_a_missing_image_fails_clearly_naming_it(site, tmp_path):
    with Mirror(site) as m:
        rows = manifest(site, m.base_url)
        bad = rows[3]
        m.inject(f"/train2017/{bad['file_name']}", *["404"] * 20)
        with pytest.raises(SkipnetError) as err:
            fetch.fetch(rows, tmp_path, workers=4, timeout_s=5)
    msg = str(err.value)
    assert msg.startswith("1 of 8 images could not be fetched")
    assert f"image {bad['image_id']} " in msg and "HTTP 404" in msg
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(r["file_name"] for r in rows if r is not bad)


def test_an_unreachable_host_stops_early_with_one_clear_error(tmp_path):
    port = free_port()
    rows = [
        {
            "image_id": str(i),
            "file_name": f"{i:012d}.jpg",
            "url": f"http://127.0.0.1:{port}/train2017/{i:012d}.jpg",
            "class": "boat",
            "split": "train",
        }
        for i in range(200)
    ]
    t0 = time.time()
    with pytest.raises(
        SkipnetError, match=r"the first \d+ images all failed, e\.g\. http://127\.0\.0\.1:\d+/train2017/"
    ):
        fetch.fetch(rows, tmp_path, workers=20, timeout_s=5)
    assert time.time() - t0 < 30  # without stopping: 10 rounds of 20 workers, each ~7.5 s of retries
    assert list(tmp_path.iterdir()) == []


def test_rerun_fetches_only_missing_or_invalid_and_prunes_extras(site, tmp_path):
    with Mirror(site) as m:
        rows = manifest(site, m.base_url)
        fetch.fetch(rows, tmp_path, workers=4, timeout_s=5)
        (tmp_path / rows[0]["file_name"]).write_bytes(b"garbage")
        (tmp_path / rows[1]["file_name"]).unlink()
        (tmp_path / "stale.jpg").write_bytes(b"no longer in the manifest")
        (tmp_path / f".{rows[2]['file_name']}.abc.tmp").write_bytes(b"left by kill -9")
        before = len(m.requests)
        assert fetch.fetch(rows, tmp_path, workers=4, timeout_s=5) == 2
        assert len(m.requests) - before == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(r["file_name"] for r in rows)


def test_kill_9_during_fetch_then_rerun_completes(site, tmp_path):
    repo = copy_repo(tmp_path / "repo")
    with Mirror(site, latency_s=0.05) as m:
        rows = manifest(site, m.base_url, n=40)
        select.write_manifest(rows, repo / "data/manifest.csv")
        set_params(repo, fetch_workers=2)
        proc = subprocess.Popen(
            ["python", "stages/fetch.py"], cwd=repo, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        images = repo / "data/images"
        deadline = time.time() + 60
        while time.time() < deadline and (not images.exists() or len(list(images.glob("*.jpg"))) < 5):
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        partial = len(list(images.glob("*.jpg")))
        assert 5 <= partial < len(rows)
        out = sh(["python", "stages/fetch.py"], cwd=repo).stdout
        assert "already there" in out
    files = sorted(p for p in images.rglob("*") if p.is_file())
    assert [p.name for p in files] == sorted(r["file_name"] for r in rows)
    for p in files:
        with Image.open(p) as img:
            img.load()
