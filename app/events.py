"""The events a run is made of, and their one wire encoding.

A traced program's processes send *raw* events, plain tuples::

    (t_ns, worker, pid, tid, kind, item, data)

`t_ns` is ``time.monotonic_ns()`` in the process that made it (system-wide
on Linux, so stamps from different processes compare). The server numbers
them as they arrive (``seq``, per run, from 1) and turns the stamp into
seconds since the run started (``t``).
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

RawEvent = tuple[int, str, int, int, str, "str | None", "dict[str, Any] | None"]

# The server's own kinds (worker "main"); a traced program's are listed in
# app/programs/boot/concviz_tracer/kinds.py.
RUN_START = "run_start"  # data: backend, params
RUN_END = "run_end"  # data: outcome (finished | stopped | failed), reason
PAUSE = "pause"  # the teacher paused the run: nothing traced happens until resume
RESUME = "resume"
STEP_ON = "step_on"  # step mode: every traced action waits for a permit
STEP_OFF = "step_off"
WANTS = "wants"  # step mode: what a worker will do next; data: kind, data
PERMIT = "permit"  # step mode: the class let a worker do its next action
KILL = "kill"  # the presenter killed a process of the run (SIGKILL); data: worker, pid

KINDS = frozenset({RUN_START, RUN_END, PAUSE, RESUME, STEP_ON, STEP_OFF, WANTS, PERMIT, KILL})


class Event(NamedTuple):
    """A numbered event. A named tuple, and not a class of its own: a run
    keeps up to 50,000 in memory, and the garbage collector stops tracking a
    tuple of plain values, so they no longer lengthen its full collections,
    which hold the event loop while they walk (bench/fanout.py: 260,000
    tracked objects at 1000 viewers with a class, 194,000 without)."""

    seq: int
    t: float
    worker: str
    pid: int
    tid: int
    kind: str
    item: str | None = None
    data: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "seq": self.seq,
            "t": round(self.t, 6),
            "worker": self.worker,
            "pid": self.pid,
            "tid": self.tid,
            "kind": self.kind,
        }
        if self.item is not None:
            out["item"] = self.item
        if self.data is not None:
            out["data"] = self.data
        return out


def from_raw(raw: RawEvent, seq: int, start_ns: int) -> Event:
    t_ns, worker, pid, tid, kind, item, data = raw
    return Event(seq, (t_ns - start_ns) / 1e9, worker, pid, tid, kind, item, data)


def numbered(batch: list[RawEvent], first_seq: int, start_ns: int) -> list[Event]:
    """`from_raw` of a whole batch, numbered from `first_seq`: one loop
    with nothing looked up in it (a full-speed run brings hundreds of
    thousands of events a second)."""
    new = tuple.__new__
    return [
        new(Event, (seq, (t_ns - start_ns) / 1e9, worker, pid, tid, kind, item, data))
        for seq, (t_ns, worker, pid, tid, kind, item, data) in enumerate(batch, first_seq)
    ]


def encode(event: Event) -> str:
    """The event as compact JSON, the one encoding used on the wire."""
    return json.dumps(event.to_dict(), separators=(",", ":"), ensure_ascii=False)
