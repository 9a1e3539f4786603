"""The fetch stage: every manifest image on disk, intact, or a clear report of what failed.

Concurrent over pooled keep-alive connections; each image must decode before it
counts; writes are atomic, so a rerun after any interruption (kill -9 too)
fetches only what is missing or invalid. Local paths (the generated sample, an
image folder) go through the same code.
"""

import io
import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from urllib.parse import unquote, urlparse

from PIL import Image
from tqdm import tqdm

from ..errors import SkipnetError
from ..files import atomic_write_bytes, not_regular, remove_temp_files, under
from .http import ATTEMPTS, FetchError, backoff, get_bytes, is_http, make_pool

GIVE_UP_AFTER = 20  # failures before any success: the host is down, not flaky


def check_image(data):
    """Raise FetchError unless `data` decodes completely as an image."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.draft("RGB", (64, 64))  # DCT-domain downscale: reads every byte, decodes a fraction
            img.load()
    except Exception as e:  # PIL raises many types for bad data
        raise FetchError(f"not a decodable image ({e})") from None


def is_valid_file(path):
    try:
        check_image(path.read_bytes())
        return True
    except (FetchError, OSError):
        return False


def read_source(pool, url):
    if is_http(url):
        return get_bytes(pool, url)
    path = unquote(urlparse(url).path) if url.startswith("file://") else url
    kind = not_regular(path)
    if kind and kind != "not found":  # never opened: a FIFO would block the stage forever
        raise FetchError(f"cannot read {path}: {kind}", final=True)
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise FetchError(f"cannot read {path}: {e.strerror}", final=True) from None


def fetch_one(pool, url, dest):
    """Download and verify one image; retry content that does not decode (urllib3 retries the transport)."""
    last = None
    for attempt in range(ATTEMPTS):
        try:
            data = read_source(pool, url)
            check_image(data)
            atomic_write_bytes(dest, data)
            return
        except FetchError as e:
            last = e
            if e.final:
                break
            backoff(attempt)
    raise last


def _prune(out_dir, wanted):
    """Remove files that are no longer in the manifest, and temp files of an interrupted run."""
    remove_temp_files(out_dir)
    for path in out_dir.rglob("*"):
        if path.is_file() and path.relative_to(out_dir).as_posix() not in wanted:
            path.unlink()


def fetch(rows, out_dir, workers, timeout_s):
    """Bring every manifest row's image to `out_dir/<file_name>`; raise naming every failure."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for r in rows:  # every name checked before anything is written
        under(out_dir, r["file_name"], f"manifest image {r['image_id']}")
    wanted = {r["file_name"]: r for r in rows}
    _prune(out_dir, wanted)
    with ThreadPoolExecutor(max(1, min(workers, os.cpu_count() * 4))) as ex:
        valid = list(
            tqdm(
                ex.map(lambda n: is_valid_file(out_dir / n), wanted),
                total=len(wanted),
                desc="verify existing",
                unit="img",
                leave=False,
            )
        )
    todo = [r for r, ok in zip(wanted.values(), valid) if not ok]
    failures, fetched = [], 0
    pool = make_pool(workers, timeout_s)
    ex = ThreadPoolExecutor(workers)
    giving_up = False
    try:
        with tqdm(total=len(wanted), initial=len(wanted) - len(todo), desc="fetch images", unit="img") as bar:
            futures = {ex.submit(fetch_one, pool, r["url"], out_dir / r["file_name"]): r for r in todo}
            for fut in as_completed(futures):
                err = fut.exception()
                if err is not None:
                    row = futures[fut]
                    failures.append((row["image_id"], row["url"], str(err)))
                else:
                    fetched += 1
                bar.update(1)
                if not fetched and len(failures) >= GIVE_UP_AFTER:
                    giving_up = True
                    raise SkipnetError(
                        f"the first {len(failures)} images all failed, e.g. {failures[0][1]} "
                        f"({failures[0][2]}); stopped. Check the network or coco.base_url, then rerun"
                    )
    finally:
        # giving up, say so now: the requests in flight are still in their retries, their results unwanted
        ex.shutdown(wait=not giving_up, cancel_futures=True)
    if failures:
        failures.sort(key=lambda f: f[1])
        listing = "; ".join(f"image {i} {u} ({why})" for i, u, why in failures[:10])
        more = f"; and {len(failures) - 10} more" if len(failures) > 10 else ""
        raise SkipnetError(
            f"{len(failures)} of {len(wanted)} images could not be fetched: {listing}{more}. "
            "The others are kept; rerun to retry only these"
        )
    return len(todo)
