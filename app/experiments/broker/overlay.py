"""What the broker lesson keeps beside the program's stage, read from the
trace: what each producer made and each consumer acknowledged, the
consumers killed, the entries claimed from them, and the items whose work
was done twice.

The program's own fold (`app.programs.folds.redisq`) keeps the stream and
its group: the backlog, the entries pending at each consumer, the
acknowledged count. This overlay adds the lesson's story from the same
events: `put` (XADD) by a producer, `ack` (XACK: `acked` 0 when another
consumer acknowledged the entry first), `claim` (XAUTOCLAIM), the
presenter's `kill` and a `reaped` by SIGKILL; from the printed lines, what
`crew.read_printed` reads.
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
from app.programs.redis_state import GroupView, RedisView
from app.programs.state import GET_WAIT, OVER, SLEEPING, ThreadView

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
class BrokerState(CrewState):
    acknowledged: dict[str, int] = field(default_factory=dict)  # consumer -> its XACKs
    killed: dict[str, str] = field(default_factory=dict)  # worker -> "teacher" or "signal"
    acks: dict[str, int] = field(default_factory=dict)  # entry id -> XACKs of it
    twice: int = 0  # entries acknowledged by two consumers: their work was done twice
    # Each claim as the run object says it: the item, by whom, from whom (None: not known).
    claims: deque[dict[str, str | None]] = field(default_factory=lambda: deque(maxlen=CLAIMS_KEPT))
    claimed_from_dead: int = 0
    claimed_from_live: int = 0
    latest_acked: deque[str] = field(default_factory=lambda: deque(maxlen=ACKED_SHOWN))

    # The stream (the crew's queue), as the program's fold keeps it.

    def redis(self) -> RedisView:
        obj = self.queue()
        return obj.redis if obj is not None and obj.redis is not None else RedisView()

    def group(self) -> GroupView:
        """The consumer group (an empty one until the program makes it)."""
        return self.redis().groups.get(GROUP) or GroupView(GROUP)

    def item(self, entry: str) -> str:
        v = self.redis().entries.get(entry)
        return item_of(v) if v is not None else entry

    def waiting(self) -> list[str]:
        """The items not handed out yet, oldest first."""
        return [item_of(v) for v in self.group().backlog.values()]

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
        stream = self.queue()
        return {
            "made": stream.puts if stream is not None else 0,
            "waiting": len(g.backlog),
            "pending": len(g.pending),
            "acknowledged": g.acked,
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
            "claims": list(self.claims),
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


def _claim(state: BrokerState, d: dict[str, Any]) -> None:
    g = state.group()
    by = str(d.get("consumer", ""))
    for at in map(str, d.get("ids") or []):
        p = g.pending.get(at)
        former = p.claimed_from if p is not None else ""
        state.claims.append({"item": state.item(at), "by": by, "from": former or None})
        if former and state.is_killed(g.consumers.get(former, former)):
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
        _claim(state, d)
    elif e.kind == events.KILL and d.get("worker"):
        state.killed[str(d["worker"])] = "teacher"
    elif e.kind == K.REAPED and d.get("signal") == "SIGKILL" and e.item:
        state.killed.setdefault(e.item, "signal")
    tag(state, who, state.acknowledged)
    read_printed(state)
