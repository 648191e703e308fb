"""Traced primitives: the few calls that matter, reported as events.

A worker gets a `Tracer` (batches its events into the run's event queue),
a `TracedQueue` around the run's real queue, and `Signals` shared with the
server (stop the run, retire this worker, current speed).

Batching: one message per event makes a bare producer/consumer about 3x
slower, so events are sent in batches. A batch is flushed when it is full,
when its oldest event is older than `FLUSH_AFTER_NS`, and always *before*
a call that may block: a batch waiting for the next event would hide the
very blocked state the page must show.

Nothing here imports the web layer; the server-side runtime imports this.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing.queues
import os
import queue
import select
import threading
import time
from dataclasses import dataclass
from time import monotonic_ns
from typing import Any, Protocol

from app import events

# Tuning. A larger batch costs latency on screen, a smaller one throughput.
MAX_BATCH = 256
FLUSH_AFTER_NS = 1_000_000  # 1 ms
# Blocking calls wait in slices this long so that a Stop is seen promptly.
POLL_S = 0.05
# A put or get that finds the queue full or empty records its wait at once,
# but sends the batch only if the wait outlasts this: at full speed most
# waits last microseconds, and one batch per wait costs more than the items
# (a wait shows on the page no later than any other event: FLUSH_AFTER_NS).
WAIT_GRACE_S = FLUSH_AFTER_NS / 1e9


# Kinds that never wait in step mode: a worker's birth and end are not
# actions to schedule, and its wish to act is how it waits.
UNGATED = frozenset({events.START, events.FINISH, events.CRASH, events.WANTS})


class Stopped(Exception):
    """The run is stopping: the worker should leave at once."""


class Retired(Exception):
    """This worker was asked to leave (its count was lowered)."""


class Sink(Protocol):
    def put(self, obj: Any) -> None: ...


class Flag(Protocol):
    value: Any


@dataclass
class Signals:
    """Shared with the server. Plain shared memory (`RawValue`) for processes,
    so that checking a flag costs a memory read, not a lock."""

    stop: Flag  # non-zero: the run is stopping
    retire: Flag  # non-zero: this worker should leave after its current item
    speed: Flag  # delay multiplier divisor (2.0 = twice as fast)
    # Non-zero: the run is paused. Processes are also stopped by the OS
    # (SIGSTOP); threads, which cannot be, wait at their next traced action.
    paused: Flag | None = None
    # Step mode: while non-zero, every traced action waits for a permit.
    # `permits[slot]` counts the permits given to the worker in `slot`;
    # `next_slot` hands out slots (the runtime's, then a program's main's).
    stepping: Flag | None = None
    permits: Any = None
    next_slot: Flag | None = None
    slot: int = -1
    # Non-zero while paused or stepping: every traced action reads this one
    # flag, and looks further only when it is set (each read of a shared
    # value costs about 0.1 us; a fast run makes millions).
    gate: Flag | None = None

    def with_new_slot(self) -> Signals:
        """The same signals for a new worker, with a slot of its own."""
        if self.next_slot is None:
            return self
        slot = int(self.next_slot.value)
        self.next_slot.value = slot + 1
        return dataclasses.replace(self, slot=slot)


class Tracer:
    """Collects one worker's events and sends them in batches."""

    def __init__(self, sink: Sink, worker: str, signals: Signals | None = None) -> None:
        self._sink = sink
        self._paused = signals.paused if signals is not None else None
        self._stop = signals.stop if signals is not None else None
        self._stepping = signals.stepping if signals is not None else None
        self._gate = signals.gate if signals is not None else None
        self._permits = signals.permits if signals is not None else None
        self._slot = signals.slot if signals is not None else -1
        self._used = 0  # permits used so far
        self.worker = worker
        self.pid = os.getpid()
        self.tid = threading.get_native_id()
        self._batch: list[events.RawEvent] = []
        self._first_ns = 0

    def emit(
        self,
        kind: str,
        item: str | None = None,
        data: dict[str, Any] | None = None,
        *,
        gated: bool = True,
    ) -> None:
        """Record an event. In step mode it first waits for its permit,
        unless `gated` is False (it reports an action already allowed)."""
        gate = self._gate
        if gate is not None and gate.value:
            if self._paused is not None and self._paused.value:
                self._wait_while_paused()
            if gated and kind not in UNGATED:
                self.turn(kind, item, data)
        now = monotonic_ns()
        batch = self._batch
        if not batch:
            self._first_ns = now
        batch.append((now, self.worker, self.pid, self.tid, kind, item, data))
        if len(batch) >= MAX_BATCH or now - self._first_ns >= FLUSH_AFTER_NS:
            self.flush()

    def turn(self, kind: str, item: str | None, data: dict[str, Any] | None = None) -> None:
        """Step mode: wait for the permit to do `kind` (no-op otherwise)."""
        gate, stepping = self._gate, self._stepping
        if gate is not None and gate.value and stepping is not None and stepping.value:
            self._wait_for_permit(kind, item, data)

    def _wait_for_permit(self, kind: str, item: str | None, data: dict[str, Any] | None) -> None:
        """Step mode: say what this worker wants to do next, and wait until
        the class lets it (or step mode ends, or the run stops)."""
        if self._permits is None or not 0 <= self._slot < len(self._permits):
            return
        self.emit(events.WANTS, item, {"kind": kind, "data": data}, gated=False)
        self.flush()
        while self._stepping is not None and self._stepping.value:
            if self._stop is not None and self._stop.value:
                return
            if self._permits[self._slot] > self._used:
                self._used += 1
                return
            time.sleep(0.005)

    def _wait_while_paused(self) -> None:
        """The gate: nothing traced happens while the run is paused."""
        self.flush()
        while self._paused is not None and self._paused.value:
            if self._stop is not None and self._stop.value:
                return
            time.sleep(0.01)

    def flush(self) -> None:
        if self._batch:
            batch, self._batch = self._batch, []
            self._sink.put(batch)


class Pacer:
    """Sleeps for simulated work, scaled by the run's live speed.

    Sleeps in slices and re-reads the speed each slice, so moving the speed
    slider changes a long sleep already under way.
    """

    def __init__(self, signals: Signals, tracer: Tracer) -> None:
        self._signals = signals
        self._tracer = tracer

    def work(self, ms: float) -> None:
        if ms <= 0:
            self.check()
            return
        self._tracer.flush()
        remaining = ms / 1000.0  # in seconds of work at speed 1
        while remaining > 0:
            speed = max(float(self._signals.speed.value), 1e-3)
            real = min(remaining / speed, POLL_S)
            time.sleep(real)
            remaining -= real * speed
            self.check()

    def check(self) -> None:
        if self._signals.stop.value:
            raise Stopped

    def retiring(self) -> bool:
        return bool(self._signals.retire.value)


class ItemQueue(multiprocessing.queues.Queue):
    """`multiprocessing.Queue` with a cheap emptiness check.

    The stock `get(block=False)` and `get(timeout=...)` ask `Connection.poll`,
    which builds a `selectors.PollSelector` on each call: about 2.7 us here,
    as much as moving a small item. `TracedQueue.get` tries `get_nowait` once
    per item, so the check is one `poll(2)` on the pipe instead (0.4 us).
    `_reset` (private, but unchanged in CPython since 3.9) runs in `__init__`
    and again in each process that unpickles the queue, so every process
    polls its own copy of the pipe's read end.
    """

    def _reset(self, after_fork: bool = False) -> None:
        super()._reset(after_fork)  # type: ignore[misc]
        poller = select.poll()
        poller.register(self._reader.fileno(), select.POLLIN)  # type: ignore[attr-defined]

        def poll(timeout: float | None = 0.0) -> bool:
            if timeout is None:
                return bool(poller.poll())
            return bool(poller.poll(max(0, math.ceil(timeout * 1000))))

        self._poll = poll


class TracedQueue:
    """A real queue (`multiprocessing.Queue` or `queue.Queue`) whose put and
    get are reported, including the moment a caller blocks."""

    def __init__(self, q: Any, tracer: Tracer, pacer: Pacer) -> None:
        self._q = q
        self._tracer = tracer
        self._pacer = pacer

    def put(self, item: str, *, wait_kind: str = events.PUT_WAIT, kind: str = events.PUT) -> None:
        tracer = self._tracer
        # In step mode the call itself waits for its permit; what it then
        # reports (waiting, done) is part of the action allowed. (The gate
        # is read here, not in `turn`: a call less per item of a fast run.)
        gate = tracer._gate
        if gate is not None and gate.value:
            tracer.turn(kind, item)
        try:
            self._q.put_nowait(item)
        except queue.Full:
            self._wait_for_room(item, wait_kind)
        tracer.emit(kind, item, gated=False)

    def _wait_for_room(self, item: str, wait_kind: str) -> None:
        """The queue was full: report the wait, then put in slices,
        watching for a Stop."""
        self._tracer.emit(wait_kind, item, gated=False)
        try:
            self._q.put(item, timeout=WAIT_GRACE_S)
            return
        except queue.Full:
            self._tracer.flush()
        while True:
            self._pacer.check()
            try:
                self._q.put(item, timeout=POLL_S)
                return
            except queue.Full:
                continue

    def get(self, *, leave_when_retired: bool = True) -> str:
        tracer = self._tracer
        gate = tracer._gate
        if gate is not None and gate.value:
            tracer.turn(events.GET, None)
        try:
            item: str = self._q.get_nowait()
        except queue.Empty:
            item = self._wait_for_item(leave_when_retired)
        kind = events.SENTINEL_GET if events.is_sentinel(item) else events.GET
        tracer.emit(kind, item, gated=False)
        return item

    def _wait_for_item(self, leave_when_retired: bool) -> str:
        """The queue was empty: report the wait, then wait for an item in
        slices, watching for a Stop and for this worker's retirement."""
        self._tracer.emit(events.GET_WAIT, gated=False)
        try:
            item: str = self._q.get(timeout=WAIT_GRACE_S)
            return item
        except queue.Empty:
            self._tracer.flush()
        while True:
            self._pacer.check()
            if leave_when_retired and self._pacer.retiring():
                raise Retired from None
            try:
                item = self._q.get(timeout=POLL_S)
                return item
            except queue.Empty:
                continue
