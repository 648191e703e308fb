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


class Share:
    """The slots of a budget one run holds: `n` that its starter took for
    it, more as it grows (`grow`), all given back once (`release`)."""

    def __init__(self, budget: WorkerBudget, n: int) -> None:
        self._budget = budget
        self._n = n
        self._released = False
        self._lock = threading.Lock()

    def grow(self, n: int) -> bool:
        """Hold `n` in all: False, and nothing taken, if the budget has not
        the room. A lower `n` keeps what is held until the release."""
        with self._lock:
            more = n - self._n
            if more <= 0 or self._released:
                return True
            if not self._budget.acquire(more):
                return False
            self._n = n
            return True

    @property
    def held(self) -> int:
        return 0 if self._released else self._n

    def release(self) -> None:
        with self._lock:
            if not self._released:
                self._budget.release(self._n)
                self._released = True
