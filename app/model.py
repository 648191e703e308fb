"""The view state of a run, folded from its events.

`fold(state, event)` updates `state` and returns it. It does no I/O and reads
no clock: the state depends only on the events, so a replay of the same
events gives the same picture.

Order tolerance: events from different workers may arrive in any order (a
consumer's `get` can arrive before the producer's `put` of the same item,
because each process sends its own batches). The fold gives the same
counters, queue contents and consumed items for every interleaving that
keeps each worker's own order. The event log too: it is kept in the order
the events happened (their `t`), not the order their batches arrived in (a
worker that blocks sends the events before it later than its peers send
theirs).

A bounded queue never holds more than its capacity, but at full speed the
reports of its puts can run ahead of the reports of its gets (a consumer's
batch comes up to a few ms after the producers' ones), and the picture would
show 21 items in a queue of 5. So when a put would take the queue past
its capacity, the items at its head have been taken already (first in,
first out; with several producers, whose feeder threads write in their own
time, the exact ones may differ by an item or two): they leave the picture
at once, and their get, when it comes, finds them gone (`taken_unreported`).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from app import events
from app.events import Event

LOG_LENGTH = 50
# The timeline keeps this many recent segments per worker and points of the
# queue depth: enough for the last minute of a lively run, and small to copy
# at each replay checkpoint.
LANE_SEGMENTS = 120
DEPTH_POINTS = 600
THROUGHPUT_WINDOW_S = 5.0
_BUCKET_S = 0.5

# Worker states, as the page names them.
STARTING = "starting"
PRODUCING = "producing"
PUT_WAIT = "put_wait"
CONSUMING = "consuming"
GET_WAIT = "get_wait"
READY = "ready"
LEAVING = "leaving"
FINISHED = "finished"
CRASHED = "crashed"
KILLED = "killed"

ENDED = frozenset({FINISHED, CRASHED, KILLED})


@dataclass
class WorkerView:
    name: str
    role: str = ""
    pid: int = 0
    tid: int = 0
    state: str = STARTING
    item: str | None = None
    items: int = 0  # items this worker put (producer) or finished (consumer)
    alive: bool = True
    reason: str = ""  # why it finished: done, retired, stopped, sentinel
    exitcode: int | None = None
    error: str = ""
    since: float = 0.0  # event time of the last state change
    slot: int = -1  # for step mode's permits
    wants: tuple[str, str | None] | None = None  # step mode: its next action (kind, item)


JOURNEYS_KEPT = 500


@dataclass
class Journey:
    """One item's way through the queue (times in seconds since the start)."""

    item: str
    producer: str = ""
    made: float | None = None  # started making it
    put: float | None = None  # in the queue
    consumer: str = ""
    got: float | None = None  # taken out
    done: float | None = None  # finished using it

    @property
    def waited(self) -> float | None:
        return self.got - self.put if self.got is not None and self.put is not None else None


def journey(state: ViewState, item: str) -> Journey:
    j = state.journeys.get(item)
    if j is None:
        j = state.journeys[item] = Journey(item)
        if len(state.journeys) > JOURNEYS_KEPT:
            state.journeys.popitem(last=False)
    return j


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
    lanes: dict[str, deque[tuple[float, str, str | None]]] = field(default_factory=dict)
    depth_track: deque[tuple[float, int]] = field(
        default_factory=lambda: deque(maxlen=DEPTH_POINTS)
    )

    def depth(self) -> int | None:
        """The queue depth for the timeline's track; None: no queue."""
        return None

    def role(self, role: str) -> list[WorkerView]:
        return sorted(
            (w for w in self.workers.values() if w.role == role), key=lambda w: _worker_key(w.name)
        )

    def count_state(self, state: str) -> int:
        return sum(1 for w in self.workers.values() if w.state == state)

    def counters(self) -> dict[str, Any]:
        return {}

    def extras(self) -> dict[str, Any]:
        """Experiment-specific fields of the run object."""
        return {}


@dataclass
class ViewState(RunState):
    """Producer/consumer: the queue, its items and the counters."""

    # Items now in the queue, with the event time of their put.
    queue: dict[str, float] = field(default_factory=dict)
    # Items whose get arrived before their put, and items a bounded queue
    # must have given out already, whose get has not arrived (see the
    # module docstring).
    early_gets: set[str] = field(default_factory=set)
    taken_unreported: set[str] = field(default_factory=set)
    produced: int = 0
    consumed: int = 0
    duplicates: int = 0  # items consumed more than once: must stay 0
    # Consumed items, one bit per item number, per producer: exact, and
    # small even for endless runs.
    consumed_bits: dict[str, bytearray] = field(default_factory=dict)
    # The journeys of the most recent items: what happened to each, when.
    journeys: OrderedDict[str, Journey] = field(default_factory=OrderedDict)
    sentinels_put: int = 0
    done_buckets: dict[int, int] = field(default_factory=dict)

    # Derived figures, for the page and the run object.

    def queue_items(self) -> list[str]:
        """Head first."""
        return sorted(self.queue, key=lambda item: (self.queue[item], item))

    @property
    def in_queue(self) -> int:
        return sum(1 for item in self.queue if not events.is_sentinel(item))

    def depth(self) -> int | None:
        return len(self.queue)

    @property
    def throughput(self) -> float:
        """Items finished per second over the last few seconds of the run."""
        if self.last_t <= 0:
            return 0.0
        newest = int(self.last_t / _BUCKET_S)
        oldest = newest - int(THROUGHPUT_WINDOW_S / _BUCKET_S) + 1
        count = sum(n for b, n in self.done_buckets.items() if b >= oldest)
        return count / min(THROUGHPUT_WINDOW_S, max(self.last_t, _BUCKET_S))

    def consumed_items(self) -> set[str]:
        return {
            f"{producer}#{n}"
            for producer, bits in self.consumed_bits.items()
            for n in range(len(bits) * 8)
            if bits[n >> 3] & (1 << (n & 7))
        }

    def counters(self) -> dict[str, Any]:
        return {
            "produced": self.produced,
            "consumed": self.consumed,
            "in_queue": self.in_queue,
            "producers_blocked": self.count_state(PUT_WAIT),
            "consumers_waiting": self.count_state(GET_WAIT),
            "throughput": round(self.throughput, 2),
            "duplicates": self.duplicates,
        }


def _worker_key(name: str) -> tuple[str, int]:
    head = name.rstrip("0123456789")
    tail = name[len(head) :]
    return head, int(tail) if tail else 0


def _split_item(item: str) -> tuple[str, int]:
    producer, _, n = item.partition("#")
    return producer, int(n) if n.isdigit() else 0


def worker_of(state: RunState, event: Event) -> WorkerView:
    """The event's worker, created on its first event."""
    w = state.workers.get(event.worker)
    if w is None:
        w = state.workers[event.worker] = WorkerView(event.worker, pid=event.pid, tid=event.tid)
    return w


def set_state(w: WorkerView, event: Event, new_state: str, item: str | None = None) -> None:
    if w.state in ENDED:  # an ended worker does not come back
        return
    w.state = new_state
    w.item = item
    w.since = event.t


def enqueue(state: Any, item: str, t: float) -> None:
    """An item into `state.queue`, unless its get came first, and never past
    the queue's capacity (order tolerance: see the module docstring)."""
    if item in state.early_gets:
        state.early_gets.discard(item)
        return
    state.queue[item] = t
    capacity = int(state.params.get("capacity") or 0)
    while capacity and len(state.queue) > capacity:
        head = min(state.queue, key=lambda i: (state.queue[i], i))
        del state.queue[head]
        state.taken_unreported.add(head)


def dequeue(state: Any, item: str) -> None:
    if state.queue.pop(item, None) is not None:
        return
    if item in state.taken_unreported:
        state.taken_unreported.discard(item)
    else:
        state.early_gets.add(item)


def _run_start(state: RunState, e: Event) -> None:
    data = e.data or {}
    state.status = "running"
    state.backend = data.get("backend", "")
    state.params = dict(data.get("params", {}))


def _step_on(state: RunState, e: Event) -> None:
    state.stepping = True


def _step_off(state: RunState, e: Event) -> None:
    state.stepping = False


def _wants(state: RunState, e: Event) -> None:
    data = e.data or {}
    worker_of(state, e).wants = (str(data.get("kind", "")), e.item)


def _pause(state: RunState, e: Event) -> None:
    state.paused = True


def _resume(state: RunState, e: Event) -> None:
    state.paused = False


def _run_end(state: RunState, e: Event) -> None:
    data = e.data or {}
    state.paused = state.stepping = False
    state.status = data.get("outcome", "finished")
    state.reason = data.get("reason", "")


def _start(state: RunState, e: Event) -> None:
    w = worker_of(state, e)
    w.role = (e.data or {}).get("role", "")
    w.slot = int((e.data or {}).get("slot", -1))
    w.pid, w.tid, w.since = e.pid, e.tid, e.t


def _produce(state: ViewState, e: Event) -> None:
    assert e.item is not None
    j = journey(state, e.item)
    j.producer, j.made = e.worker, e.t
    set_state(worker_of(state, e), e, PRODUCING, e.item)


def _put_wait(state: ViewState, e: Event) -> None:
    set_state(worker_of(state, e), e, PUT_WAIT, e.item)


def _put(state: ViewState, e: Event) -> None:
    assert e.item is not None
    j = journey(state, e.item)
    j.producer, j.put = e.worker, e.t
    w = worker_of(state, e)
    w.items += 1
    set_state(w, e, READY)
    state.produced += 1
    enqueue(state, e.item, e.t)


def _get_wait(state: ViewState, e: Event) -> None:
    set_state(worker_of(state, e), e, GET_WAIT)


def _get(state: ViewState, e: Event) -> None:
    assert e.item is not None
    j = journey(state, e.item)
    j.consumer, j.got = e.worker, e.t
    set_state(worker_of(state, e), e, CONSUMING, e.item)
    dequeue(state, e.item)


def _done(state: ViewState, e: Event) -> None:
    assert e.item is not None
    journey(state, e.item).done = e.t
    w = worker_of(state, e)
    w.items += 1
    set_state(w, e, READY)
    producer, n = _split_item(e.item)
    bits = state.consumed_bits.setdefault(producer, bytearray())
    if len(bits) <= n >> 3:
        bits.extend(bytes((n >> 3) + 1 - len(bits)))
    if bits[n >> 3] & (1 << (n & 7)):
        state.duplicates += 1
        return
    bits[n >> 3] |= 1 << (n & 7)
    state.consumed += 1
    bucket = int(e.t / _BUCKET_S)
    state.done_buckets[bucket] = state.done_buckets.get(bucket, 0) + 1
    if len(state.done_buckets) > 4 * THROUGHPUT_WINDOW_S / _BUCKET_S:
        for b in sorted(state.done_buckets)[: len(state.done_buckets) // 2]:
            del state.done_buckets[b]


def _sentinel_put(state: ViewState, e: Event) -> None:
    assert e.item is not None
    state.sentinels_put += 1
    enqueue(state, e.item, e.t)


def _sentinel_get(state: ViewState, e: Event) -> None:
    assert e.item is not None
    w = worker_of(state, e)
    set_state(w, e, LEAVING, e.item)
    w.reason = "sentinel"
    dequeue(state, e.item)


def _retire(state: RunState, e: Event) -> None:
    w = worker_of(state, e)
    set_state(w, e, LEAVING)
    w.reason = "retired"


def _finish(state: RunState, e: Event) -> None:
    w = worker_of(state, e)
    reason = (e.data or {}).get("reason", "done")
    if not w.reason or reason != "done":
        w.reason = reason
    set_state(w, e, FINISHED)


def _crash(state: RunState, e: Event) -> None:
    w = worker_of(state, e)
    w.error = (e.data or {}).get("error", "")
    set_state(w, e, CRASHED, w.item)


def _exit(state: RunState, e: Event) -> None:
    w = worker_of(state, e)
    data = e.data or {}
    w.alive = False
    w.exitcode = data.get("exitcode")
    if w.state == CRASHED:
        return
    if w.exitcode is not None and w.exitcode < 0:
        w.state, w.since = KILLED, e.t
        # Its threads (same pid, tids of their own) died with it, whatever
        # they were last seen doing (a program's main terminated on Stop).
        for other in state.workers.values():
            if other is not w and other.pid == w.pid and other.alive:
                other.alive = False
                if other.state not in ENDED:
                    other.state, other.since = KILLED, e.t
    elif w.exitcode:
        w.state, w.since = CRASHED, e.t
    elif w.state != FINISHED:
        w.state, w.since = FINISHED, e.t


Handler = Callable[[Any, Event], None]

# Every experiment's fold handles these the same way.
LIFECYCLE: dict[str, Handler] = {
    events.RUN_START: _run_start,
    events.RUN_END: _run_end,
    events.PAUSE: _pause,
    events.RESUME: _resume,
    events.STEP_ON: _step_on,
    events.STEP_OFF: _step_off,
    events.WANTS: _wants,
    events.START: _start,
    events.RETIRE: _retire,
    events.FINISH: _finish,
    events.CRASH: _crash,
    events.EXIT: _exit,
}


def _track(state: RunState, event: Event, w: WorkerView | None) -> None:
    """Extend the timeline: a new segment when the event's worker `w` changed
    state or item, a new point when the queue's depth changed."""
    if w is not None:
        lane = state.lanes.get(w.name)
        if lane is None:
            lane = state.lanes[w.name] = deque(maxlen=LANE_SEGMENTS)
        if not lane or lane[-1][1] != w.state or lane[-1][2] != w.item:
            lane.append((event.t, w.state, w.item))
    depth = state.depth()
    if depth is not None and (not state.depth_track or state.depth_track[-1][1] != depth):
        state.depth_track.append((event.t, depth))


class Timed(Protocol):
    @property
    def t(self) -> float: ...


T = TypeVar("T", bound=Timed)


def log_in_time_order(log: deque[T], event: T) -> None:
    """Add `event` to a bounded log kept in time order. Almost always it is
    the newest and goes at the end; a late one (from a batch that came after
    its peers') goes in its place, and one older than all a full log keeps is
    left out, as it would have been had it come in time. Equal times keep
    their arrival order."""
    if not log or event.t >= log[-1].t:
        log.append(event)
        return
    i = len(log) - 1
    while i > 0 and log[i - 1].t > event.t:
        i -= 1
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


def make_fold(
    handlers: dict[str, Handler], quiet: frozenset[str] = frozenset()
) -> Callable[[Any, Event], Any]:
    """A fold from the lifecycle handlers plus an experiment's own; kinds in
    `quiet` are too frequent to be worth a line in the log."""
    table = {**LIFECYCLE, **handlers}

    def fold(state: Any, event: Event) -> Any:
        w = state.workers.get(event.worker)
        if w is not None and event.kind != events.WANTS:
            w.wants = None  # it did what it wanted
        handler = table.get(event.kind)
        if handler is not None:
            handler(state, event)
        if w is None:  # its first event made it
            w = state.workers.get(event.worker)
        _track(state, event, w)
        note(state, event, logged=event.kind not in quiet)
        return state

    return fold


fold = make_fold(
    {
        events.PRODUCE: _produce,
        events.PUT_WAIT: _put_wait,
        events.PUT: _put,
        events.GET_WAIT: _get_wait,
        events.GET: _get,
        events.DONE: _done,
        events.SENTINEL_PUT: _sentinel_put,
        events.SENTINEL_GET: _sentinel_get,
    },
    quiet=frozenset({events.PRODUCE}),
)


def fold_all(evs: Iterable[Event], state: ViewState | None = None) -> ViewState:
    state = state if state is not None else ViewState()
    for e in evs:
        fold(state, e)
    return state
