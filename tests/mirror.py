"""A COCO look-alike HTTP server on loopback, with injectable faults.

Serves a folder laid out like images.cocodataset.org (`/annotations/...zip`,
`/train2017/<file>`), with keep-alive and Range support. Tests and benchmarks
use it to stand in for COCO, which these machines cannot reach; it also works
as a local mirror (`coco.base_url: http://127.0.0.1:PORT`).

Faults are queued per path and consumed one request at a time:
  "503", "429", "404", ...   answer with that status (queue it several times to make it stick)
  "drop"      send the headers and half the body, then close the connection
  "slow:S"    sleep S seconds before answering (longer than the client's timeout)
  "truncate"  send only the first half of the file, with a matching Content-Length
"""

import json
import shutil
import threading
import time
import zipfile
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from skipnet.config import coco
from skipnet.data import sample
from skipnet.data.download import md5sum


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as COCO's servers do

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        server = self.server
        path = self.path.split("?")[0]
        with server.lock:
            server.requests.append({"path": path, "range": self.headers.get("Range")})
            fault = server.faults[path].popleft() if server.faults[path] else None
        if server.latency_s:
            time.sleep(server.latency_s)
        if fault and fault.startswith("slow:"):
            time.sleep(float(fault.split(":")[1]))
        if fault and fault.isdigit():
            self._send_status(int(fault))
            return
        file = (server.root / path.lstrip("/")).resolve()
        if server.root not in file.parents or not file.is_file():
            self._send_status(404)
            return
        data = file.read_bytes()
        start, status = 0, 200
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= len(data):
                self._send_status(416)
                return
            status = 206
        body = data[start:]
        if fault == "truncate":
            body = body[: len(body) // 2]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if fault == "drop":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(body)

    def _send_status(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()


class Mirror:
    """A running server; use as a context manager. `base_url` goes into params' coco.base_url."""

    def __init__(self, root, latency_s=0.0):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.root = Path(root).resolve()
        self.httpd.latency_s = latency_s
        self.httpd.lock = threading.Lock()
        self.httpd.faults = defaultdict(deque)
        self.httpd.requests = []
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def inject(self, path, *faults):
        with self.httpd.lock:
            self.httpd.faults[path].extend(faults)

    @property
    def requests(self):
        with self.httpd.lock:
            return list(self.httpd.requests)


def build_site(root, classes, per_class, seed):
    """Lay out a COCO look-alike under `root`: the annotations zip and train2017 images.

    Returns (zip size in bytes, md5) for params' coco.annotations_size and annotations_md5.
    """
    root = Path(root)
    staging = root / ".staging"
    sample.generate(staging, classes, per_class, seed)
    shutil.move(str(staging / coco.TRAIN_IMAGES_DIR), str(root / coco.TRAIN_IMAGES_DIR))
    train_json = (staging / coco.INSTANCES_MEMBERS[0]).read_bytes()
    val = json.loads(train_json)
    val.update(images=val["images"][:5], annotations=[])  # val2017 is extracted but unused by the study
    zip_path = root / coco.ANNOTATIONS_ZIP
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(coco.INSTANCES_MEMBERS[0], train_json)
        zf.writestr(coco.INSTANCES_MEMBERS[1], json.dumps(val))
        zf.writestr("annotations/captions_train2017.json", "{}")
    shutil.rmtree(staging)
    return zip_path.stat().st_size, md5sum(zip_path)
