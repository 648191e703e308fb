"""How many workers may be alive at once, across every run.

A run holds a slot for each worker from before it starts until after it has
exited, so the number of live workers never exceeds the cap, even while
counts change from many requests at once.
"""

from __future__ import annotations

import threading


class WorkerBudget:
    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._held = 0
        self._lock = threading.Lock()

    def acquire(self, n: int) -> bool:
        """Take `n` slots if all of them are free; take none otherwise."""
        with self._lock:
            if self._held + n > self.cap:
                return False
            self._held += n
            return True

    def release(self, n: int = 1) -> None:
        with self._lock:
            if n > self._held:
                raise RuntimeError("worker budget released more slots than it gave")
            self._held -= n

    @property
    def held(self) -> int:
        with self._lock:
            return self._held
