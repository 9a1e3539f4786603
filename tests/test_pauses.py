"""Training time leaves out the time a process stood still (SIGSTOP), measured on a real stopped process."""

import json
import os
import signal
import subprocess
import sys
import time

CHILD = """
import json, sys, time
from skipnet.training.pauses import PauseClock
clock = PauseClock()
t0, c0 = time.monotonic(), clock.now()
print("ready", flush=True)
time.sleep(6.0)
print(json.dumps({"wall": time.monotonic() - t0, "training": clock.now() - c0}), flush=True)
"""


def test_a_stopped_process_does_not_count_the_pause():
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    os.kill(child.pid, signal.SIGSTOP)
    time.sleep(3.0)  # stopped: its sleep runs on in wall time, its training clock must not
    os.kill(child.pid, signal.SIGCONT)
    got = json.loads(child.stdout.readline())
    child.wait(timeout=30)
    assert got["wall"] >= 6.0  # the sleep runs on through the pause (monotonic time)
    assert abs(got["training"] - (got["wall"] - 3.0)) < 0.5, got  # the 3 s pause left out, no more
