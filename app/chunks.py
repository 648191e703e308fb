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

import io
import json
import pickle
import zlib
from collections.abc import Iterator
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
