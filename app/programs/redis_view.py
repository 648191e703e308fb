"""What the stage shows of a Redis list or stream, beyond a queue's picture
(pure): which end each waiter waits at, and a stream's groups with each
consumer's pending entries.

A stream's row of items is what its first group has not handed out yet
(its backlog); with no group, the latest entries added. A consumer whose
worker has ended (killed, crashed, or done) is *gone*: what it holds stays
pending until another consumer claims it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.programs.folds.redisq import stream_id
from app.programs.redis_state import GroupView, Pending, RedisView
from app.programs.state import OVER, ProgramState

PENDING_DRAWN = 8  # a consumer's pending entries drawn; past that, a count


@dataclass
class ConsumerBox:
    name: str  # the consumer's name in Redis
    worker: str  # the worker that used the name last
    colour: int
    gone: bool
    pending: list[tuple[str, Pending]] = field(default_factory=list)  # oldest first
    more: int = 0


@dataclass
class GroupBox:
    name: str
    start: str
    backlog: int
    delivered: int
    acked: int
    claimed: int
    consumers: list[ConsumerBox]


def ends(rv: RedisView, worker: str) -> str:
    """The end of a list a worker waits at ("head" or "tail")."""
    return rv.ends.get(worker, "head")


def backlog(rv: RedisView) -> list[str]:
    """The values of the entries the stream's first group has not handed out."""
    for g in rv.groups.values():
        return list(g.backlog.values())
    return []


def _gone(state: ProgramState, worker: str) -> bool:
    w = state.workers.get(worker)
    return w is not None and (not w.alive or w.state in OVER)


def groups(state: ProgramState, rv: RedisView, colour: dict[str, int]) -> list[GroupBox]:
    return [_group(state, g, colour) for g in rv.groups.values()]


def _group(state: ProgramState, g: GroupView, colour: dict[str, int]) -> GroupBox:
    held: dict[str, list[tuple[str, Pending]]] = {name: [] for name in g.consumers}
    for at, p in g.pending.items():
        held.setdefault(p.consumer, []).append((at, p))
    consumers = []
    for name, entries in held.items():
        worker = g.consumers.get(name, "")
        box = ConsumerBox(name, worker, colour.get(worker, 0), _gone(state, worker))
        box.pending = sorted(entries, key=lambda e: stream_id(e[0]))[:PENDING_DRAWN]
        box.more = len(entries) - len(box.pending)
        consumers.append(box)
    return GroupBox(g.name, g.start, len(g.backlog), g.delivered, g.acked, g.claimed, consumers)
