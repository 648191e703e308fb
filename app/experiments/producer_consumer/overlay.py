"""What the producer/consumer lesson keeps beside the program's stage, read
from the trace: the queue's items (each one's name, "P1#3"), what each
producer has made and each consumer has used, the counters and throughput,
and each item's journey through the queue.

From the tracer's events: the queue `q`'s puts and gets with their values
(an item, or the sentinel None) and who made them; a producer's sleep
(making its next item); a consumer's next call after its sleep (it is done
with the item it held). From the program's printed lines: that a producer
left because main wanted fewer ("P3 leaves: fewer producers wanted"), and
the accounting at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.events import Event
from app.experiments.crew import CrewState, on_queue, read_printed, role_of, tag
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.journeys import journey
from app.programs.model import ALL_THREADS
from app.programs.state import SLEEPING, ThreadView, item_text

QUEUE_NAME = "q"  # the program's one work queue
SENTINEL = "None"  # the sentinel's repr, as the tracer sends it
THROUGHPUT_WINDOW_S = 5.0
_BUCKET_S = 0.5

# The lesson's own states of a worker, for its cards and the timeline lanes.
PRODUCING = "producing"
CONSUMING = "consuming"


@dataclass
class PCState(CrewState):
    produced: int = 0
    consumed: int = 0
    duplicates: int = 0  # items used more than once: must stay 0
    sentinels_put: int = 0
    used: dict[str, int] = field(default_factory=dict)  # consumer -> items used
    # Used items, one bit per item number, per producer: exact, and small
    # even for endless runs.
    used_bits: dict[str, bytearray] = field(default_factory=dict)
    done_buckets: dict[int, int] = field(default_factory=dict)

    def queue_items(self) -> list[str]:
        """The items and sentinels in the queue, head first ("None": a
        sentinel). A bounded queue never holds more than its capacity: the
        reports of puts may run ahead of the gets of other processes, and the
        items at the head are then the ones already taken."""
        obj = self.queue()
        if obj is None:
            return []
        items = [item_text(v) for v in obj.items]
        capacity = int(self.params.get("capacity") or 0)
        return items[-capacity:] if capacity and len(items) > capacity else items

    def depth(self) -> int:
        """len(queue_items()), without making them: it is asked at every put
        and get, and a full-speed run's unbounded queue holds thousands."""
        obj = self.queue()
        if obj is None:
            return 0
        capacity = int(self.params.get("capacity") or 0)
        return min(len(obj.items), capacity) if capacity else len(obj.items)

    @property
    def in_queue(self) -> int:
        return sum(1 for i in self.queue_items() if i != SENTINEL)

    def shown_state(self, w: ThreadView) -> str:
        """A worker's state in the lesson's words: producing, consuming,
        put_wait, get_wait, ready, finished..."""
        if w.state == SLEEPING:
            return PRODUCING if role_of(w.name) == "producer" else CONSUMING
        if w.state == "running":
            return "ready" if w.name in self.made or w.name in self.used else "starting"
        return w.state

    def held(self, name: str) -> str:
        """The item a consumer uses now ("": none)."""
        j = self.holding.get(name)
        return j.item if j is not None else ""

    def making(self, name: str) -> str:
        """The item a producer makes (or waits to put) now."""
        return f"{name}#{self.made.get(name, 0) + 1}"

    @property
    def throughput(self) -> float:
        """Items used per second over the last few seconds of the run."""
        if self.last_t <= 0:
            return 0.0
        newest = int(self.last_t / _BUCKET_S)
        oldest = newest - int(THROUGHPUT_WINDOW_S / _BUCKET_S) + 1
        count = sum(n for b, n in self.done_buckets.items() if b >= oldest)
        return count / min(THROUGHPUT_WINDOW_S, max(self.last_t, _BUCKET_S))

    def lesson_counters(self) -> dict[str, Any]:
        return {
            "produced": self.produced,
            "consumed": self.consumed,
            "in_queue": self.in_queue,
            "producers_blocked": len(self.in_wait("producer")),
            "consumers_waiting": len(self.in_wait("consumer")),
            "throughput": round(self.throughput, 2),
            "duplicates": self.duplicates,
        }

    def lesson(self) -> dict[str, Any]:
        return {
            "queue": self.queue_items(),
            "made": dict(self.made),
            "used": dict(self.used),
            "sentinels_put": self.sentinels_put,
            "left": dict(self.left),
            "accounting": self.accounting or None,
        }


def _used(state: PCState, who: str, item: str, t: float) -> None:
    """The consumer `who` is done with `item`."""
    state.used[who] = state.used.get(who, 0) + 1
    producer, _, n_text = item.partition("#")
    n = int(n_text) if n_text.isdigit() else 0
    bits = state.used_bits.setdefault(producer, bytearray())
    if len(bits) <= n >> 3:
        bits.extend(bytes((n >> 3) + 1 - len(bits)))
    if bits[n >> 3] & (1 << (n & 7)):
        state.duplicates += 1
        return
    bits[n >> 3] |= 1 << (n & 7)
    state.consumed += 1
    bucket = int(t / _BUCKET_S)
    state.done_buckets[bucket] = state.done_buckets.get(bucket, 0) + 1
    if len(state.done_buckets) > 4 * THROUGHPUT_WINDOW_S / _BUCKET_S:
        for b in sorted(state.done_buckets)[: len(state.done_buckets) // 2]:
            del state.done_buckets[b]


def _on_queue(state: PCState, e: Event, who: str) -> None:
    v = item_text((e.data or {}).get("v"))
    if e.kind == K.PUT:
        if v == SENTINEL:
            state.sentinels_put += 1
            return
        state.produced += 1
        state.put_by(who)
    elif e.kind == K.GET and v == SENTINEL:
        state.left[who] = "sentinel"


def _lane(state: PCState, w: ThreadView) -> None:
    """A producer's or consumer's sleep is its making or using an item: so
    its timeline lane says (the lesson's colours). The program's fold may
    also have drawn the sleep again when another worker ended: that
    segment goes, the one before goes on."""
    lane = state.lanes.get(w.name)
    if not lane or lane[-1][1] != SLEEPING:
        return
    item = state.making(w.name) if role_of(w.name) == "producer" else state.held(w.name)
    t, _state, _label = lane[-1]
    shown = (state.shown_state(w), item or None)
    if len(lane) > 1 and lane[-2][1:] == shown:
        lane.pop()
    else:
        lane[-1] = (t, *shown)


def overlay(state: Any, e: Event) -> None:
    assert isinstance(state, PCState)
    who = state.names.get((e.pid, e.tid), e.worker)
    role = role_of(who)
    for j in state.finished_with:
        if role_of(j.consumer) == "consumer":
            _used(state, j.consumer, j.item, e.t)
    if on_queue(state, e, lambda d: d.get("name") == QUEUE_NAME) and e.kind in (K.PUT, K.GET):
        _on_queue(state, e, who)
        depth = state.depth()
        if not state.depth_track or state.depth_track[-1][1] != depth:
            state.depth_track.append((e.t, depth))
    elif e.kind == K.SLEEP and role:
        w = state.thread(who)
        if w is not None:
            if role == "producer":
                j = journey(state, state.making(who))
                j.producer, j.made = who, e.t
            _lane(state, w)
    if e.kind in ALL_THREADS:  # the program's fold may have drawn every lane again
        for other in state.threads():
            if role_of(other.name):
                _lane(state, other)
    tag(state, who, state.used)
    read_printed(state)
