"""What the broker lesson keeps beside the program's stage, read from the
trace: the stream's entries as items ("P1#3"), what each producer made and
each consumer acknowledged, the consumers killed, the entries claimed from
them, and the items whose work was done twice.

The program's own fold (`app.programs.folds.redisq`) already keeps the
stream and its group: the backlog (entries not handed out yet), each
entry pending at a consumer (with a claim's former owner), the
acknowledged count. This overlay adds the lesson's story from the same
events: `put` (XADD) by a producer, `ack` (XACK: `acked` 0 when another
consumer acknowledged the entry first, so its work was done twice),
`claim` (XAUTOCLAIM), the presenter's `kill` and the parent's `reaped` with
signal SIGKILL. From the printed lines: a producer that left because main
wanted fewer, and the accounting at the end.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from app import events
from app.events import Event
from app.experiments.crew import CrewState, on_queue, read_printed, role_of, tag
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.state import (
    GET_WAIT,
    OVER,
    SLEEPING,
    GroupView,
    Pending,
    ThreadView,
)

STREAM = "orders"  # the program's stream
GROUP = "workers"  # its consumer group
ACKED_SHOWN = 12  # the latest acknowledged items kept for the stage
CLAIMS_KEPT = 200
ACKS_KEPT = 5000  # entries whose acks are counted (for "processed twice")
_ITEM = re.compile(r"""['"]item['"]: ['"]([^'"]*)['"]""")

# The lesson's own states of a worker, for its cards.
MAKING = "making"
PROCESSING = "processing"
WAITING = "waiting"


def item_of(v: Any) -> str:
    """An entry's item ("P1#3") from its fields as the tracer shows them
    ("{'item': 'P1#3'}"); other fields as they are."""
    text = str(v if v is not None else "")
    m = _ITEM.search(text)
    return m.group(1) if m else text


@dataclass
class Claim:
    entry: str  # its id
    item: str
    by: str  # the consumer that claimed it
    former: str  # the consumer it was pending at ("" when not known)
    t: float


@dataclass
class BrokerState(CrewState):
    acknowledged: dict[str, int] = field(default_factory=dict)  # consumer -> its XACKs
    killed: dict[str, str] = field(default_factory=dict)  # worker -> "teacher" or "signal"
    acks: dict[str, int] = field(default_factory=dict)  # entry id -> XACKs of it
    twice: int = 0  # entries acknowledged by two consumers: their work was done twice
    claims: deque[Claim] = field(default_factory=lambda: deque(maxlen=CLAIMS_KEPT))
    claimed_from_dead: int = 0
    claimed_from_live: int = 0
    latest_acked: deque[str] = field(default_factory=lambda: deque(maxlen=ACKED_SHOWN))

    # The stream (the crew's queue), as the program's fold keeps it.

    def group(self) -> GroupView | None:
        obj = self.queue()
        if obj is None or obj.redis is None:
            return None
        return obj.redis.groups.get(GROUP)

    def item(self, entry: str) -> str:
        obj = self.queue()
        v = obj.redis.entries.get(entry) if obj is not None and obj.redis is not None else None
        return item_of(v) if v is not None else entry

    def waiting(self) -> list[str]:
        """The items not handed out yet, oldest first."""
        g = self.group()
        return [item_of(v) for v in g.backlog.values()] if g is not None else []

    def pending_at(self, consumer: str) -> list[tuple[str, Pending]]:
        """(entry id, pending) of the entries pending at a consumer."""
        g = self.group()
        if g is None:
            return []
        return [(at, p) for at, p in g.pending.items() if p.consumer == consumer]

    def made_total(self) -> int:
        obj = self.queue()
        return obj.puts if obj is not None else 0

    # Workers.

    def is_killed(self, worker: str) -> bool:
        w = self.workers.get(worker)
        return worker in self.killed or (isinstance(w, ThreadView) and w.state == "killed")

    def shown_state(self, w: ThreadView) -> str:
        """A worker's state in the lesson's words: making, processing,
        waiting, killed, finished..."""
        if self.is_killed(w.name):
            return "killed"
        if w.state in OVER:
            return w.state
        if w.state == SLEEPING:
            return MAKING if role_of(w.name) == "producer" else PROCESSING
        if w.state == GET_WAIT:
            return WAITING
        return "starting" if w.line is None else "ready"

    def lesson_counters(self) -> dict[str, Any]:
        g = self.group()
        return {
            "made": self.made_total(),
            "waiting": len(g.backlog) if g is not None else 0,
            "pending": len(g.pending) if g is not None else 0,
            "acknowledged": g.acked if g is not None else 0,
            "claimed_from_dead": self.claimed_from_dead,
            "processed_twice": self.twice,
            "consumers_killed": sum(1 for w in self.killed if role_of(w) == "consumer"),
        }

    def lesson(self) -> dict[str, Any]:
        return {
            "waiting": self.waiting(),
            "made": dict(self.made),
            "acknowledged": dict(self.acknowledged),
            "killed": sorted(self.killed),
            "claims": [{"item": c.item, "by": c.by, "from": c.former or None} for c in self.claims],
            "left": dict(self.left),
            "accounting": self.accounting or None,
        }


def _ack(state: BrokerState, who: str, d: dict[str, Any]) -> None:
    state.acknowledged[who] = state.acknowledged.get(who, 0) + 1
    for at in map(str, d.get("ids") or []):
        n = state.acks[at] = state.acks.get(at, 0) + 1
        if n == 2:  # a second consumer finished it too
            state.twice += 1
        if n == 1:
            state.latest_acked.append(state.item(at))
    while len(state.acks) > ACKS_KEPT:
        del state.acks[next(iter(state.acks))]


def _claim(state: BrokerState, e: Event, d: dict[str, Any]) -> None:
    g = state.group()
    by = str(d.get("consumer", ""))
    for at in map(str, d.get("ids") or []):
        p = g.pending.get(at) if g is not None else None
        former = p.claimed_from if p is not None else ""
        state.claims.append(Claim(at, state.item(at), by, former, e.t))
        worker = g.consumers.get(former, former) if g is not None else former
        if former and state.is_killed(worker):
            state.claimed_from_dead += 1
        else:
            state.claimed_from_live += 1


def _is_stream(new: dict[str, Any]) -> bool:
    """The program's stream, by its `new` event."""
    return new.get("type") == "RedisStream" and new.get("name") == STREAM


def overlay(state: Any, e: Event) -> None:
    assert isinstance(state, BrokerState)
    d = e.data or {}
    who = state.names.get((e.pid, e.tid), e.worker)
    on_stream = on_queue(state, e, _is_stream)
    if on_stream and e.kind == K.PUT:
        state.put_by(who)
    elif on_stream and e.kind == K.ACK and d.get("group") == GROUP:
        _ack(state, who, d)
    elif on_stream and e.kind == K.CLAIM and d.get("group") == GROUP:
        _claim(state, e, d)
    elif e.kind == events.KILL and d.get("worker"):
        state.killed[str(d["worker"])] = "teacher"
    elif e.kind == K.REAPED and d.get("signal") == "SIGKILL" and e.item:
        state.killed.setdefault(e.item, "signal")
    tag(state, who, state.acknowledged)
    read_printed(state)
