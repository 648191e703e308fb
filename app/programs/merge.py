"""The reader of a program's events: its processes' batches from the FIFO
and the supervisor's own events (run start and end, the first process's
exit, `quiet`, `limit`), merged into one history and handed to `on_batch`
in time order, from the reader thread; the Run orders nothing by arrival
but the log.

Batches from different processes arrive out of step: each process flushes
on its own, up to the tracer's flush interval (about 20 ms) apart. Held
`HOLD_NS` and handed over in time order, they make one history, and a frame
never shows a state that never was (a consumer still waiting beside the
item it took): design.md section 6, "frames show a consistent cut". The
cost: the picture is this much behind the program.

At full speed the reader takes a batch of a few hundred events about every
millisecond while it holds tens of thousands: it keeps each batch with its
least and greatest stamp, hands over at most once per `HAND_NS` while it
holds many (a frame is drawn at most every 50 ms: nobody sees the
difference), and then sorts only the events that are due, each once.
"""

from __future__ import annotations

import logging
import operator
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from app.programs.boot.concviz_tracer import kinds as K
from app.programs.fifo import EventFifo
from app.programs.state import RAW_OUT

log = logging.getLogger(__name__)

HOLD_NS = 30_000_000
HAND_NS = 5_000_000
# Holding no more batches than this, it hands over what is due at once (a
# program that is not at full speed shows it as soon as it may).
FEW_HELD = 4

# A line the program wrote past Python (`written_past_python`) goes just
# before the first print after it. It waits for that print's event until the
# reader has found the FIFO empty this long after the line was read (a
# process sends what it recorded within the tracer's flush interval, about
# 20 ms, unless it is starved), but no longer than RAW_WAIT_NS.
SENT_WITHIN_NS = 100_000_000
RAW_WAIT_NS = 1_000_000_000

_stamp = operator.itemgetter(0)  # an event's time


class EventMerge:
    """What the reader thread reads, counts and hands over. `on_unreadable`
    is called when the FIFO fails (the run then stops)."""

    def __init__(self, on_batch: Any, on_unreadable: Callable[[], None]) -> None:
        self._on_batch = on_batch
        self._on_unreadable = on_unreadable
        self.events = 0  # the program's, so far
        self.printed = 0  # characters it printed through Python's streams
        self.main_pid = 0  # the program's first process, once started
        self.main_code_ended = 0  # when its main code ended (the `end` saying so)
        self.main_handles_term = False  # its code handles SIGTERM
        self.last_batch = time.monotonic()
        self.quiet_sent = False  # `quiet` said since the last batch
        self.reading = True  # False: read until the FIFO is empty a moment, then end
        self._lock = threading.Lock()
        # Per stream, (at, stamp): the first print that found the output
        # file `at` bytes long, at increasing (`stamp_before`).
        self._marks: dict[str, list[tuple[int, int]]] = {"stdout": [], "stderr": []}
        self._merging = True  # the supervisor's events go through the reader
        self._inbox: list[Any] = []
        self.drained_ns = 0  # since when the FIFO was last found empty
        # Lines written past Python not said yet: (stream, text, offset, when read).
        self._raw: list[tuple[str, str, int, int]] = []

    def emit(
        self, kind: str, data: dict[str, Any] | None = None, pid: int = 0, stamp: int = 0
    ) -> None:
        """One of the supervisor's own events, stamped now (or `stamp`)."""
        with self._lock:  # in time order with the program's, while the reader runs
            # Stamped under the lock: the reader's cutoff, taken after it
            # empties the inbox, is then always before what it has not seen.
            raw = (stamp or time.monotonic_ns(), "main", pid or os.getpid(), 0, kind, None, data)
            if self._merging:
                self._inbox.append(raw)
                return
        self._on_batch([raw])

    def read(self, fifo: EventFifo) -> None:
        """The reader thread: until `reading` is False and the FIFO empty."""
        # What it holds: each batch as it came, with its least and greatest
        # stamp, so that a hand-over takes the batches that are due whole
        # and sorts each event once (not all it holds, every time).
        pending: list[Held] = []
        oldest = -1  # the least stamp in `pending` (-1: it is empty)
        handed = 0  # when it last handed over
        out, end, sig = K.OUT, K.END, K.SIGNAL
        while True:
            asked = time.monotonic_ns()
            try:
                batch = fifo.get(timeout=HOLD_NS / 2e9)
            except queue.Empty:
                batch = None
                self.drained_ns = asked  # all sent before then is read
                if not self.reading:
                    break
            except (OSError, EOFError, ValueError):
                log.exception("program run: its events could not be read")
                self._on_unreadable()
                if not self.reading:
                    break
                continue
            if batch:
                self.last_batch = time.monotonic()
                self.quiet_sent = False
                self.events += len(batch)
                for raw in batch:
                    if raw[4] == out and raw[6]:
                        self.printed += len(str(raw[6].get("text", "")))
                        if "at" in raw[6]:
                            self._mark(raw[6], raw[0])
                    elif raw[2] == self.main_pid and raw[4] in (end, sig) and raw[6]:
                        self._main_said(raw)
                oldest = _hold(pending, batch, oldest)
            if self._inbox:
                with self._lock:
                    inbox, self._inbox = self._inbox, []
                oldest = _hold(pending, inbox, oldest)
            now = time.monotonic_ns()
            cutoff = now - HOLD_NS
            if 0 <= oldest <= cutoff and (
                batch is None or now - handed >= HAND_NS or len(pending) <= FEW_HELD
            ):
                oldest = self._hand_over(pending, cutoff)
                handed = now
        with self._lock:
            self._merging = False
            if self._inbox:
                _hold(pending, self._inbox, oldest)
            self._inbox = []
        self._hand_over(pending, None)

    def _main_said(self, raw: Any) -> None:
        """The first process's main code ended, or its code handles SIGTERM
        (or leaves it again): what `limits.ended_by_itself` asks."""
        d = raw[6]
        if raw[4] == K.END and "daemon_threads" in d:
            self.main_code_ended = raw[0]
        elif raw[4] == K.SIGNAL and d.get("signal") == "SIGTERM":
            self.main_handles_term = bool(d.get("handled"))

    def _mark(self, d: dict[str, Any], stamp: int) -> None:
        with self._lock:
            marks = self._marks.get(str(d.get("stream")))
            at = d["at"]
            if marks is None or not isinstance(at, int):
                return
            if not marks or at > marks[-1][0]:
                marks.append((at, stamp))
            elif at == marks[-1][0] and stamp < marks[-1][1]:
                marks[-1] = (at, stamp)

    def stamp_before(self, stream: str, offset: int) -> int | None:
        """A stamp for what was written past Python at `offset` of the
        run's output file `stream`: just before the first print that found
        the file longer (it came before that print); None if no such print
        is known yet. Offsets asked for only grow: the marks before them go."""
        with self._lock:
            marks = self._marks.get(stream, [])
            while marks and marks[0][0] <= offset:
                marks.pop(0)
            return marks[0][1] - 1 if marks else None

    def written_past_python(self, lines: list[tuple[str, str, int]], final: bool) -> None:
        """Say the lines (stream, text, offset) the program wrote past
        Python's streams (`app.programs.output`), each in its place among
        its prints. A line that no print is known to follow yet waits for
        the events the program sent before it was read; then it is stamped
        when it was read. `final`: the reader has read everything."""
        now = time.monotonic_ns()
        self._raw += [(stream, text, offset, now) for stream, text, offset in lines]
        while self._raw:
            stream, text, offset, read = self._raw[0]
            stamp = self.stamp_before(stream, offset)
            if stamp is None:
                known = self.drained_ns >= read + SENT_WITHIN_NS
                if not (final or known or now - read >= RAW_WAIT_NS):
                    return  # it and the lines after it wait
                stamp = read
            del self._raw[0]
            self.emit(RAW_OUT, {"stream": stream, "text": text}, stamp=stamp)

    def _hand_over(self, pending: list[Held], cutoff: int | None) -> int:
        """Hand over, oldest first, the events stamped before `cutoff` (all
        of them if None); the rest stay in `pending`. The least stamp left
        (-1: none is left)."""
        ready: list[Any] = []
        keep: list[Held] = []
        for least, most, batch in pending:
            if cutoff is None or most <= cutoff:
                ready += batch
            elif least <= cutoff:
                ready += [raw for raw in batch if raw[0] <= cutoff]
                rest = [raw for raw in batch if raw[0] > cutoff]
                keep.append((min(map(_stamp, rest)), most, rest))
            else:
                keep.append((least, most, batch))
        pending[:] = keep
        if ready:
            ready.sort(key=_stamp)  # stable: equal stamps keep their order of arrival
            try:
                self._on_batch(ready)
            except Exception:
                log.exception("handing a batch of events over failed")
        return min(held[0] for held in keep) if keep else -1


# A batch held: its least stamp, its greatest, its events.
Held = tuple[int, int, list[Any]]


def _hold(pending: list[Held], batch: list[Any], oldest: int) -> int:
    """Hold `batch`; the least stamp held now."""
    least = min(map(_stamp, batch))
    pending.append((least, max(map(_stamp, batch)), batch))
    return least if oldest < 0 or least < oldest else oldest
