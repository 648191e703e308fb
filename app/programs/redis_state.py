"""What a Redis list or stream is on a program's stage beyond a queue's
picture: a list's waiters, a stream's entries, and its consumer groups with
what each of their consumers holds: folded by `app.programs.folds.redisq`,
drawn by `app.programs.redis_view`."""

from __future__ import annotations

from dataclasses import dataclass, field

ENTRIES_KEPT = 2000  # a Redis stream's entries kept (for their values: a claim's)
DONE_KEPT = 2000  # a group's acknowledged ids kept, for late deliveries


@dataclass
class Pending:
    """A stream entry delivered to a consumer of a group and not acknowledged."""

    v: str
    consumer: str
    t: float  # when it was delivered, or claimed
    deliveries: int = 1
    claimed_from: str = ""  # the consumer that held it before a claim


@dataclass
class GroupView:
    """A consumer group of a Redis stream: how far it has read, and what
    its consumers hold."""

    name: str
    start: str = ""
    last: tuple[int, int] = (0, 0)  # the newest entry delivered to it
    backlog: dict[str, str] = field(default_factory=dict)  # not delivered yet: id -> v
    pending: dict[str, Pending] = field(default_factory=dict)  # by entry id
    consumers: dict[str, str] = field(default_factory=dict)  # name -> the worker that used it
    delivered: int = 0
    acked: int = 0
    claimed: int = 0
    # Entries acknowledged (the latest DONE_KEPT): a `get` of one that
    # arrives after its `ack` (another process's batch) leaves it done.
    done: dict[str, None] = field(default_factory=dict)


@dataclass
class RedisView:
    """What a Redis list or stream is beyond a queue's picture."""

    ends: dict[str, str] = field(default_factory=dict)  # a list's waiter -> "head" or "tail"
    entries: dict[str, str] = field(default_factory=dict)  # a stream's (the latest ENTRIES_KEPT)
    groups: dict[str, GroupView] = field(default_factory=dict)
