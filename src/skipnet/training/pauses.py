"""Training time without pauses: a process stopped (SIGSTOP, a suspended machine, a preempted VM) is not training.

A daemon thread ticks every TICK seconds; a gap between ticks longer than GAP means the whole process stood still,
and all of it but one tick is left out. (A C call that holds the GIL for longer than GAP would read as a pause:
none in a training step does.)
"""

import threading
import time

TICK, GAP = 0.1, 2.0


class PauseClock:
    def __init__(self):
        self.paused = 0.0
        self._last = time.monotonic()
        self._lock = threading.Lock()
        threading.Thread(target=self._tick, daemon=True).start()

    def _gap(self, now):
        gap = now - self._last
        return gap - TICK if gap > GAP else 0.0

    def _tick(self):
        while True:
            time.sleep(TICK)
            now = time.monotonic()
            with self._lock:
                self.paused += self._gap(now)
                self._last = now

    def now(self):
        """Seconds on a clock that stands still while the process is paused (a pause just ended counts too)."""
        with self._lock:
            now = time.monotonic()
            return now - self.paused - self._gap(now)
