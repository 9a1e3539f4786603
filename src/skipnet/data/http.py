"""HTTP downloads that survive a flaky connection: pooled, retried with backoff, resumable."""

import time
from pathlib import Path
from urllib.parse import urlparse

import urllib3
from tqdm import tqdm
from urllib3.util import Retry, Timeout

RETRY_STATUSES = (429, 500, 502, 503, 504)
ATTEMPTS = 5  # tries per file for failures urllib3 cannot retry itself (a body cut short, a bad JPEG)
BACKOFF_S = 0.25  # sleeps 0, 0.5, 1, 2, 4 ... seconds between tries


class FetchError(Exception):
    """A download that failed for a reason worth naming (status, timeout, bad content).

    `final`: asking again will not help, because urllib3 already retried the
    transport (connection errors, timeouts, 429, 5xx) or the answer was a 4xx.
    """

    def __init__(self, message, final=False):
        super().__init__(message)
        self.final = final


def is_http(url):
    return urlparse(url).scheme in ("http", "https")


def make_pool(workers, timeout_s):
    """One keep-alive connection pool per host, sized for `workers` threads.

    urllib3 retries connection errors, read timeouts, 429 and 5xx with
    exponential backoff (and honours Retry-After); a 404 is final at once.
    """
    retries = Retry(
        total=ATTEMPTS,
        backoff_factor=BACKOFF_S,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=["GET"],
        raise_on_status=False,
        respect_retry_after_header=True,
    )
    return urllib3.PoolManager(
        num_pools=4,
        maxsize=workers,
        block=True,
        retries=retries,
        timeout=Timeout(connect=min(timeout_s, 10), read=timeout_s),
    )


def backoff(attempt):
    time.sleep(0 if attempt == 0 else BACKOFF_S * 2**attempt)


def get_bytes(pool, url):
    """The whole body of `url`; raises FetchError naming the status or the network failure."""
    try:
        resp = pool.request("GET", url, preload_content=True, enforce_content_length=True)
    except urllib3.exceptions.HTTPError as e:
        raise FetchError(_reason(e), final=True) from None
    if resp.status != 200:
        raise FetchError(f"HTTP {resp.status} {resp.reason or ''}".strip(), final=True)
    return resp.data


def _reason(exc):
    reason = getattr(exc, "reason", None) or exc
    text = str(reason).split(": ", 1)[-1] if ": " in str(reason) else str(reason)
    return f"{type(reason).__name__}: {text}"


def download_resumable(pool, url, part_path, expected_size, desc):
    """Stream `url` into `part_path`, resuming from its size with a Range request.

    Returns when `part_path` holds `expected_size` bytes. A dropped connection
    keeps what arrived and resumes; a server that ignores Range restarts it.
    """
    part_path = Path(part_path)
    part_path.parent.mkdir(parents=True, exist_ok=True)
    last_error = None
    for attempt in range(ATTEMPTS + 1):
        have = part_path.stat().st_size if part_path.exists() else 0
        if have == expected_size:
            return
        if have > expected_size:
            part_path.unlink()
            have = 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            resp = pool.request("GET", url, headers=headers, preload_content=False)
            if resp.status == 416 or resp.status not in (200, 206):
                resp.release_conn()
                if resp.status == 416:  # our partial file is stale; start over
                    part_path.unlink(missing_ok=True)
                    continue
                raise FetchError(f"HTTP {resp.status} {resp.reason or ''}".strip())
            if resp.status == 200 and have:
                have = 0  # the server ignored Range: start over
            with (
                open(part_path, "ab" if have else "wb") as f,
                tqdm(total=expected_size, initial=have, unit="B", unit_scale=True, desc=desc) as bar,
            ):
                # read1: whatever has arrived, so a dropped connection loses no received bytes
                while chunk := resp.read1(1 << 20):
                    f.write(chunk)
                    bar.update(len(chunk))
            resp.release_conn()
            got = part_path.stat().st_size
            if got != expected_size:
                last_error = FetchError(f"got {got:,} bytes, expected {expected_size:,}")
                if got < expected_size:
                    backoff(attempt)
                    continue
                part_path.unlink()
                raise last_error
            return
        except (urllib3.exceptions.HTTPError, OSError) as e:
            if isinstance(e, urllib3.exceptions.MaxRetryError):
                raise FetchError(_reason(e)) from None
            last_error = FetchError(_reason(e))
            backoff(attempt)
    raise last_error or FetchError("gave up")
