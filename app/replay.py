"""A recorded run, foldable to any point: the state after its first k events.

The state at any moment is the same fold of the same events as live. To
keep a jump anywhere instant on long recordings, the replay keeps a copy of
the state every `CHECKPOINT_EVERY` events (made the first time the fold
passes there): a jump folds at most that many events from the nearest copy
before it.
"""

from __future__ import annotations

import bisect
import copy
from collections.abc import Callable, Sequence
from typing import Any

from app.events import Event

# Folding an event costs a few microseconds; copying a state, well under a
# millisecond. Every 1000 events keeps any jump to a few milliseconds of
# folding, at a memory cost of one state copy per 1000 events.
CHECKPOINT_EVERY = 1000


class Replay:
    def __init__(
        self,
        events: Sequence[Event],
        new_state: Callable[[], Any],
        fold: Callable[[Any, Event], Any],
        params: dict[str, Any],
    ) -> None:
        self.events = events
        self._fold = fold
        self._times = [e.t for e in events]
        first = new_state()
        first.params = dict(params)
        self._checkpoints: dict[int, Any] = {0: first}

    @property
    def length(self) -> int:
        return len(self.events)

    @property
    def duration(self) -> float:
        return self._times[-1] if self._times else 0.0

    def index_at(self, t: float) -> int:
        """How many events had happened by time `t`."""
        return bisect.bisect_right(self._times, t)

    def state_at(self, k: int) -> Any:
        """The state after the first `k` events (clamped to the recording)."""
        k = max(0, min(k, len(self.events)))
        base = max(i for i in self._checkpoints if i <= k)
        state = copy.deepcopy(self._checkpoints[base])
        for i in range(base, k):
            self._fold(state, self.events[i])
            done = i + 1
            if done % CHECKPOINT_EVERY == 0 and done not in self._checkpoints:
                self._checkpoints[done] = copy.deepcopy(state)
        return state
