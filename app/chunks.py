"""A recorded run's events in chunks (`app.recording` keeps them): a batch
of consecutive events as one blob, a zlib-compressed pickle of plain tuples
``(t, worker, pid, tid, kind, item, data)``, each event's seq given by the
chunk's first and its place.

Written and read with no class: the pickler refuses any object that is not
a plain value (None, a bool, a number, a string, or a list, tuple or dict
of them), and the unpickler refuses any name of a class, so reading a
recording runs no code. Data that is not plain (the tracer never sends
such) is kept as JSON would keep it, as recordings did before chunks.
"""

from __future__ import annotations

import bisect
import io
import json
import pickle
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from app.events import Event

# The most events one chunk holds: a read of a few events decodes one chunk
# (about a millisecond at this size); a full-speed run writes a chunk for
# each batch it hands over.
CHUNK_EVENTS = 2048


def chunks(evs: list[Event]) -> Iterator[list[Event]]:
    """`evs` in chunks of consecutive seq, each at most CHUNK_EVENTS long."""
    if evs and evs[-1].seq - evs[0].seq != len(evs) - 1:  # not one run of seq
        start = 0
        for i in range(1, len(evs) + 1):
            if i == len(evs) or evs[i].seq != evs[i - 1].seq + 1:
                yield from chunks(evs[start:i])
                start = i
        return
    for start in range(0, len(evs), CHUNK_EVENTS):
        yield evs[start : start + CHUNK_EVENTS]


class _PlainPickler(pickle.Pickler):
    """Writes plain values only (None, bools, numbers, strings, and lists,
    tuples and dicts of them): reading a recording never needs a class."""

    def reducer_override(self, obj: Any) -> Any:
        raise pickle.PicklingError(f"not a plain value: {type(obj).__name__}")


def pack(chunk: list[Event]) -> bytes:
    """A chunk's events as one blob: plain tuples, without their seq (the
    chunk's `first_seq` and their place give it). Data that is not plain
    (it never is from the tracer) is kept as JSON would keep it."""
    rows = [e[1:] for e in chunk]
    out = io.BytesIO()
    try:
        _PlainPickler(out, pickle.HIGHEST_PROTOCOL).dump(rows)
    except (pickle.PicklingError, RecursionError):
        out = io.BytesIO()
        rows = [(*row[:6], _plain(row[6])) for row in rows]
        _PlainPickler(out, pickle.HIGHEST_PROTOCOL).dump(rows)
    return zlib.compress(out.getbuffer(), 1)


def _plain(data: Any) -> Any:
    return None if data is None else json.loads(json.dumps(data, default=repr))


class _PlainUnpickler(pickle.Unpickler):
    """Reads plain values only: a blob that names a class is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"a recording names no class ({module}.{name})")


def unpack(blob: bytes) -> list[tuple[Any, ...]]:
    """A chunk's events ``(t, worker, pid, tid, kind, item, data)``."""
    rows: list[tuple[Any, ...]] = _PlainUnpickler(io.BytesIO(zlib.decompress(blob))).load()
    return rows


def events_from(rows: Iterable[tuple[int, bytes]], after: int, limit: int) -> list[Event]:
    """The events after the `after`-th, at most `limit` (-1: all), of chunks
    ``(first_seq, blob)`` in order, from the one that holds the next."""
    out: list[Event] = []
    make = Event._make
    for first, blob in rows:
        events = unpack(blob)
        skip = max(0, after + 1 - first)
        end = len(events) if limit < 0 else min(len(events), skip + limit - len(out))
        out += [make((first + i, *events[i])) for i in range(skip, end)]
        if len(out) == limit:
            break
    return out


class ChunkTimes:
    """Each recorded event's time, read from its chunk when asked: a replay
    opens without reading a long recording's millions of times (each chunk
    says its last seq and its latest time).

    `spans`: each chunk's ``(first_seq, last_seq, t_max)``, in order, seq
    from 1 without a gap; `read(first_seq)`: that chunk's blob. The last few
    chunks read are kept (a replay playing on asks the same one again)."""

    KEPT = 4

    @classmethod
    def of(
        cls, spans: list[tuple[int, int, float | None]], read: Callable[[int], bytes]
    ) -> ChunkTimes | None:
        """None for chunks that do not say their latest time (recorded
        before they did), or that leave a gap."""
        known = [(first, last, t_max) for first, last, t_max in spans if t_max is not None]
        firsts = [first for first, _, _ in known]
        if len(known) < len(spans) or firsts != [1] + [last + 1 for _, last, _ in known[:-1]]:
            return None
        return cls(known, read)

    def __init__(self, spans: list[tuple[int, int, float]], read: Callable[[int], bytes]) -> None:
        self._firsts = [first for first, _, _ in spans]
        self._t_maxes = [t_max for _, _, t_max in spans]
        self._length = spans[-1][1] if spans else 0
        self._read = read
        self._kept: OrderedDict[int, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, i: int) -> float:
        if i < 0:
            i += self._length
        if not 0 <= i < self._length:
            raise IndexError(i)
        c = bisect.bisect_right(self._firsts, i + 1) - 1
        return self._times(c)[i + 1 - self._firsts[c]]

    def index_at(self, t: float) -> int:
        """How many events had happened by time `t`."""
        c = bisect.bisect_right(self._t_maxes, t)  # the chunks all at or before t
        if c == len(self._firsts):
            return self._length
        return self._firsts[c] - 1 + bisect.bisect_right(self._times(c), t)

    def _times(self, c: int) -> list[float]:
        first = self._firsts[c]
        with self._lock:
            times = self._kept.get(first)
            if times is not None:
                self._kept.move_to_end(first)
                return times
        times = [row[0] for row in unpack(self._read(first))]
        with self._lock:
            self._kept[first] = times
            while len(self._kept) > self.KEPT:
                self._kept.popitem(last=False)
        return times
