"""A recorded run, foldable to any point: the state after its first k events.

The state at any moment is the same fold of the same events as live. To
keep a jump anywhere instant on long recordings, the replay keeps a copy of
the state every `CHECKPOINT_EVERY` events: a jump folds at most that many
events from the nearest copy before it.

A copy is kept frozen: the state's compressed pickle, as the recording
stores it (`freeze`). Thawing one is a small fraction of a deep copy of the
live object, a frozen copy takes less memory, and a long recording's
thousand copies add no objects for the garbage collector to walk through.

Opening a recording must not wait for a fold of all its events (a million
take many seconds). So the events, and their times, are read from the
recording as a jump needs them, never all at once; the copies the recording already holds (the
run's final state, kept when it ended, and those an earlier opening made)
are used at once; and the copies still missing are made by `build`, in a
thread, while the first frames already show. Each new copy is handed to
`keep` (the recording stores it for the next opening).
"""

from __future__ import annotations

import bisect
import copy
import pickle
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from app.events import Event

# Folding an event costs some microseconds; thawing a state, a millisecond
# or two. Every 1000 events keeps any jump to a few milliseconds of folding,
# at a memory cost of one frozen state per 1000 events.
CHECKPOINT_EVERY = 1000
# Events read from the recording at a time while folding.
CHUNK = 5000
# Checkpoints held in memory at most, of those the recording has too (the
# others are read from it when a jump needs one): a few megabytes, where a
# recording of two million events has two thousand of 60 kB each.
IN_MEMORY = 128

Read = Callable[[int, int], list[Event]]  # (after, limit) -> the events after seq `after`
Keep = Callable[[int, bytes], None]  # (k, the state after k events, frozen)


class Times(Protocol):
    """Each event's time, in order (`app.chunks.ChunkTimes` reads them as asked)."""

    def __len__(self) -> int: ...
    def __getitem__(self, i: int) -> float: ...
    def index_at(self, t: float) -> int: ...


class TimesInMemory(list[float]):
    def index_at(self, t: float) -> int:
        """How many events had happened by time `t`."""
        return bisect.bisect_right(self, t)


def freeze(state: Any) -> bytes | None:
    """The state as a compressed pickle (None: it does not pickle)."""
    try:
        return zlib.compress(pickle.dumps(state, pickle.HIGHEST_PROTOCOL), 1)
    except Exception:  # a replay copies it, a recording rebuilds it from the events
        return None


def thaw(frozen: bytes) -> Any:
    return pickle.loads(zlib.decompress(frozen))


def _copy(saved: Any) -> Any:
    """A fresh state from a checkpoint: frozen, or kept as an object."""
    return thaw(saved) if isinstance(saved, bytes) else copy.deepcopy(saved)


def _saved(state: Any) -> Any:
    frozen = freeze(state)
    return copy.deepcopy(state) if frozen is None else frozen


class Replay:
    def __init__(
        self,
        read: Read,
        length: int,
        times: Times,
        new_state: Callable[[], Any],
        fold: Callable[[Any, Event], Any],
        params: dict[str, Any],
        stored: frozenset[int] = frozenset(),
        load: Callable[[int], bytes] | None = None,
        keep: Keep | None = None,
    ) -> None:
        """`read`: the recording's events; `length`: how many; `times`:
        each one's time, in order; `stored`: the k of the copies of the
        state the recording holds (the state after k events), which `load`
        reads, frozen, when first needed."""
        self._read = read
        self.length = length
        self._times = times
        self._fold = fold
        self._keep = keep
        first = new_state()
        first.params = dict(params)
        self._lock = threading.Lock()
        self._checkpoints: dict[int, Any] = {0: _saved(first)}  # frozen where it pickles
        self._stored = {k for k in stored if 0 < k <= length} if load is not None else set()
        # Those in memory that the recording has too (or soon will), least
        # recently used first: they may be let go.
        self._also_stored: OrderedDict[int, None] = OrderedDict()
        self._load = load
        self._building: threading.Thread | None = None

    @classmethod
    def of(
        cls,
        events: list[Event],
        new_state: Callable[[], Any],
        fold: Callable[[Any, Event], Any],
        params: dict[str, Any],
    ) -> Replay:
        """A replay of events held in memory."""
        return cls(
            lambda after, limit: events[after : after + limit],
            len(events),
            TimesInMemory(e.t for e in events),
            new_state,
            fold,
            params,
        )

    @property
    def duration(self) -> float:
        return self._times[-1] if len(self._times) else 0.0

    def time_of(self, k: int) -> float:
        """The time of the k-th event (0 for none)."""
        return self._times[k - 1] if k > 0 else 0.0

    def index_at(self, t: float) -> int:
        """How many events had happened by time `t`."""
        return self._times.index_at(t)

    @property
    def complete(self) -> bool:
        """Every checkpoint is there: any jump folds at most CHECKPOINT_EVERY events."""
        with self._lock:
            return not self._missing()

    def _missing(self) -> list[int]:
        have = self._checkpoints.keys() | self._stored
        return [
            k for k in range(CHECKPOINT_EVERY, self.length + 1, CHECKPOINT_EVERY) if k not in have
        ]

    def state_at(self, k: int) -> Any:
        """The state after the first `k` events (clamped to the recording)."""
        k = max(0, min(k, self.length))
        base, saved = self._nearest(k)
        return self._fold_on(_copy(saved), base, k)

    def _nearest(self, k: int) -> tuple[int, Any]:
        """The checkpoint at or before `k`, read from the recording if it is
        there and no longer (or not yet) in memory."""
        with self._lock:
            base = max(i for i in self._checkpoints.keys() | self._stored if i <= k)
            if base in self._checkpoints:
                if base in self._also_stored:
                    self._also_stored.move_to_end(base)
                return base, self._checkpoints[base]
        assert self._load is not None
        try:
            saved = self._load(base)
        except KeyError:  # handed to the recording, and not written yet
            with self._lock:
                self._stored.discard(base)
            return self._nearest(k)
        with self._lock:
            self._stored.discard(base)
            self._hold(base, saved, stored=True)
        return base, saved

    def _hold(self, k: int, saved: Any, stored: bool) -> None:
        """Keep checkpoint `k` in memory; of those the recording has too
        (`stored`), let the least recently used go past IN_MEMORY."""
        self._checkpoints.setdefault(k, saved)
        if not stored:
            return
        self._also_stored[k] = None
        while len(self._also_stored) > IN_MEMORY:
            gone, _ = self._also_stored.popitem(last=False)
            del self._checkpoints[gone]
            self._stored.add(gone)

    def build(self) -> None:
        """Make every missing checkpoint, in order: a thread's work
        (`start_building`). Each one made is kept."""
        with self._lock:
            missing = self._missing()
        state, done = None, -1
        for k in missing:
            if state is None or done != k - CHECKPOINT_EVERY:
                done, saved = self._nearest(k)
                state = _copy(saved)
            state = self._fold_on(state, done, k)
            done = k

    def start_building(self) -> None:
        """`build` in a thread of its own, once, if a checkpoint is missing."""
        with self._lock:
            if self._building is not None or not self._missing():
                return
            self._building = threading.Thread(
                target=self.build, name="replay-checkpoints", daemon=True
            )
            self._building.start()

    def wait_built(self, timeout: float | None = None) -> bool:
        """Wait for `build` (tests, benchmarks); whether it is complete."""
        thread = self._building
        if thread is not None:
            thread.join(timeout)
        return self.complete

    def _fold_on(self, state: Any, base: int, k: int) -> Any:
        """Fold events base+1..k into `state`, leaving a checkpoint at each
        multiple of CHECKPOINT_EVERY on the way."""
        done = base
        while done < k:
            chunk = self._read(done, min(CHUNK, k - done))
            if not chunk:
                break
            for e in chunk:
                self._fold(state, e)
                done += 1
                if done % CHECKPOINT_EVERY == 0:
                    self._checkpoint(done, state)
        return state

    def _checkpoint(self, k: int, state: Any) -> None:
        with self._lock:
            if k in self._checkpoints or k in self._stored:
                return
        saved = _saved(state)
        kept = self._keep is not None and isinstance(saved, bytes)
        with self._lock:
            self._hold(k, saved, stored=kept)
        if kept:
            assert self._keep is not None
            self._keep(k, saved)
