"""What every run's view state has, and the fold steps every experiment shares.

A run's state (`RunState`) is folded from its events: the run's lifecycle
(started, paused, in step mode, ended and why), its workers, the log of the
last events, and the timeline's lanes. An experiment's state extends it
(`app.programs.state.ProgramState`, and each lesson's overlay on that); its
fold handles the lifecycle kinds with `LIFECYCLE` and ends each event with
`note`.

Pure: no clock, no I/O. The state depends only on the events, so a replay of
the same events gives the same picture. The log is kept in the order the
events happened (their `t`), not the order their batches arrived in: each
process sends its own, and one that blocks sends those before it later than
its peers send theirs.
"""

from __future__ import annotations

import bisect
import operator
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from app import events
from app.events import Event

LOG_LENGTH = 50
# The timeline keeps this many segments per worker (the older ones coarser,
# see `add_segment`) and points of the queue depth: enough for the last
# minute of a lively run, and small to copy at each replay checkpoint.
LANE_SEGMENTS = 120
Segment = tuple[float, str, str | None]  # a lane's (start, state, item)
DEPTH_POINTS = 600

STARTING = "starting"  # a worker's state before its first event says more
ENDED = frozenset({"finished", "stopped", "failed"})  # a run's statuses once it is over


@dataclass
class WorkerView:
    name: str
    role: str = ""
    pid: int = 0
    tid: int = 0
    state: str = STARTING
    item: str | None = None
    items: int = 0  # items this worker handled, as its lesson counts them
    alive: bool = True
    reason: str = ""  # why it finished
    exitcode: int | None = None
    error: str = ""
    since: float = 0.0  # event time of the last state change
    slot: int = -1  # for step mode's permits
    wants: tuple[str, str | None] | None = None  # step mode: its next action (kind, item)


@dataclass
class RunState:
    """What every experiment's view state has: the run's lifecycle, its
    workers, and the log of the last events."""

    status: str = "starting"
    reason: str = ""
    paused: bool = False
    stepping: bool = False
    backend: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    workers: dict[str, WorkerView] = field(default_factory=dict)
    last_seq: int = 0
    last_t: float = 0.0
    # The last events, in time order (an event is a tuple: keeping it costs
    # nothing, where a copy of it was made for each of 100,000 events a second).
    log: deque[Event] = field(default_factory=lambda: deque(maxlen=LOG_LENGTH))
    # The timeline: per worker, its recent state changes (t, state, item);
    # a segment lasts until the next one. And the queue's depth over time.
    lanes: dict[str, deque[Segment]] = field(default_factory=dict)
    depth_track: deque[tuple[float, int]] = field(
        default_factory=lambda: deque(maxlen=DEPTH_POINTS)
    )

    def depth(self) -> int | None:
        """The queue depth for the timeline's track; None: no queue."""
        return None

    def counters(self) -> dict[str, Any]:
        return {}

    def extras(self) -> dict[str, Any]:
        """Experiment-specific fields of the run object."""
        return {}


def _run_start(state: RunState, e: Event) -> None:
    data = e.data or {}
    state.status = "running"
    state.backend = data.get("backend", "")
    state.params = dict(data.get("params", {}))


def _run_end(state: RunState, e: Event) -> None:
    data = e.data or {}
    state.paused = state.stepping = False
    state.status = data.get("outcome", "finished")
    state.reason = data.get("reason", "")


def _pause(state: RunState, e: Event) -> None:
    state.paused = True


def _resume(state: RunState, e: Event) -> None:
    state.paused = False


def _step_on(state: RunState, e: Event) -> None:
    state.stepping = True


def _step_off(state: RunState, e: Event) -> None:
    state.stepping = False


Handler = Callable[[Any, Event], None]

# The server's own kinds: every experiment's fold handles them the same way.
LIFECYCLE: dict[str, Handler] = {
    events.RUN_START: _run_start,
    events.RUN_END: _run_end,
    events.PAUSE: _pause,
    events.RESUME: _resume,
    events.STEP_ON: _step_on,
    events.STEP_OFF: _step_off,
}


class Timed(Protocol):
    @property
    def t(self) -> float: ...


T = TypeVar("T", bound=Timed)
_time = operator.attrgetter("t")


def log_in_time_order(log: deque[T], event: T) -> None:
    """Add `event` to a bounded log kept in time order. Almost always it is
    the newest and goes at the end; a late one (from a batch that came after
    its peers') goes in its place, and one older than all a full log keeps is
    left out, as it would have been had it come in time. Equal times keep
    their arrival order."""
    if not log or event.t >= log[-1].t:
        log.append(event)
        return
    i = bisect.bisect_right(log, event.t, key=_time)
    if len(log) == log.maxlen:
        if i == 0:
            return
        log.popleft()
        i -= 1
    log.insert(i, event)


def note(state: RunState, event: Event, *, logged: bool) -> None:
    """What every fold does with every event, last: the run's newest event
    and time, and the log."""
    if event.seq > state.last_seq:
        state.last_seq = event.seq
    if event.t > state.last_t:
        state.last_t = event.t
    if logged:
        log_in_time_order(state.log, event)


def fold(state: RunState, event: Event) -> RunState:
    """The fold of an experiment that has none of its own: the run's
    lifecycle and its log."""
    handler = LIFECYCLE.get(event.kind)
    if handler is not None:
        handler(state, event)
    note(state, event, logged=True)
    return state


def add_segment(lane: deque[Segment], segment: Segment) -> None:
    """Append `segment` to a timeline lane. A full lane still covers the
    worker's whole life: its older half is made coarser first, each two
    neighbours merged into one that starts where the first did and shows
    the state that lasted longer of the two (at the timeline's scale they
    were a pixel or two apart). Each merge halves the older half, so the
    recent changes stay exact and a busy worker's lane is never blank
    before them."""
    if len(lane) >= LANE_SEGMENTS:
        half = len(lane) // 2 & ~1
        old = [lane.popleft() for _ in range(half)]
        ends = [s[0] for s in old[1:]] + [lane[0][0]]
        merged: list[Segment] = []
        for i in range(0, half, 2):
            first, second = old[i], old[i + 1]
            longer = first if ends[i] - first[0] >= ends[i + 1] - second[0] else second
            if merged and merged[-1][1:] == longer[1:]:
                continue  # the same state goes on
            merged.append((first[0], *longer[1:]))
        lane.extendleft(reversed(merged))
    lane.append(segment)
