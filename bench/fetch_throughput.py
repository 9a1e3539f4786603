"""Image fetch images/s: our fetch vs a sequential `requests.get` loop, same images, one run.

The COCO look-alike server runs in its own process and adds 50 ms latency per request,
like a distant server.

    python bench/fetch_throughput.py [--images 400] [--latency 0.05] [--workers 32]
"""

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

import requests

from _images import coco_sized_jpegs
from skipnet.data import fetch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the look-alike server lives with the tests
from mirror import Mirror  # noqa: E402


def serve(root, latency, urls, stop):
    with Mirror(root, latency_s=latency) as m:
        urls.put(m.base_url)
        stop.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=400)
    ap.add_argument("--latency", type=float, default=0.05, help="seconds the server waits per request")
    ap.add_argument("--workers", type=int, default=64, help="our fetch_workers (params.yaml default)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths, _ = coco_sized_jpegs(tmp / "site", per_class=args.images // 5)
        urls, stop = mp.Queue(), mp.Event()
        server = mp.Process(target=serve, args=(tmp / "site", args.latency, urls, stop), daemon=True)
        server.start()
        base = urls.get(timeout=30)
        rows = [{"image_id": p.stem, "file_name": p.name, "url": f"{base}/train2017/{p.name}"} for p in paths]

        t0 = time.perf_counter()
        (tmp / "seq").mkdir()
        for r in rows:
            resp = requests.get(r["url"], timeout=30)
            resp.raise_for_status()
            (tmp / "seq" / r["file_name"]).write_bytes(resp.content)
        sequential = len(rows) / (time.perf_counter() - t0)

        t0 = time.perf_counter()
        fetch.fetch(rows, tmp / "ours", workers=args.workers, timeout_s=30)
        ours = len(rows) / (time.perf_counter() - t0)
        stop.set()
        server.join()
    print(f"{len(rows)} images of 640x480, server latency {args.latency * 1000:.0f} ms per request")
    print(f"sequential requests.get: {sequential:7.1f} img/s")
    print(f"ours ({args.workers} workers, verified, atomic): {ours:7.1f} img/s  ({ours / sequential:.1f}x)")


if __name__ == "__main__":
    main()
