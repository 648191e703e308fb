"""Redis lists and streams (the tracer's `redisq`), as the stage shows them.

A list is a queue with two ends: a push puts at its head or its tail, a pop
takes from one, and a blocked BLPOP or BRPOP waits at its end. A stream
keeps its entries; each consumer group hands each new entry to one of its
consumers, where it stays *pending* until the consumer acknowledges it
(XACK) or another consumer claims it (XAUTOCLAIM, XCLAIM). The group's
*backlog* is what it has not handed out yet.

Every process that uses a Redis key says `new` of it: the first is kept
(`objects.new`). Batches of different processes arrive out of step, so a
list's `get` may come before the `put` of its item (it waits in `early`, as
a queue's), a stream's `get` before the `put` of its entry (the entry is
then known delivered: it never joins the backlog), and a claim or an ack
before the `get` that delivered the entry (a `get` older than the entry's
claim does not take it back, and an acknowledged entry is never pending
again).
"""

from __future__ import annotations

from collections.abc import Callable

from app.events import Event
from app.programs.folds.objects import obj_of
from app.programs.folds.workers import go, thread_of, wait
from app.programs.redis_state import DONE_KEPT, ENTRIES_KEPT, GroupView, Pending, RedisView
from app.programs.state import GET_WAIT, ITEMS_SHOWN, ObjView, ProgramState

Handler = Callable[[ProgramState, Event], None]

PREFIX = "redis:"  # the key of every Redis object, and of nothing else


def routed(generic: Handler, redis: Handler) -> Handler:
    """A handler for a kind that queues and Redis keys share (`put`, `get`,
    `get_wait`): `redis` for an event on a Redis key, else `generic`."""

    def handler(state: ProgramState, e: Event) -> None:
        item = e.item
        (redis if type(item) is str and item.startswith(PREFIX) else generic)(state, e)

    return handler


def stream_id(at: str) -> tuple[int, int]:
    """An entry id ("1700000000000-3") in the order Redis gives them."""
    ms, _, seq = at.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:  # "$", ">", or not an id
        return (0, 0)


def redis_of(obj: ObjView) -> RedisView:
    if obj.redis is None:
        obj.redis = RedisView()
    return obj.redis


def group_of(rv: RedisView, name: str) -> GroupView:
    g = rv.groups.get(name)
    if g is None:  # its XGROUP CREATE was before the program, or is late
        g = rv.groups[name] = GroupView(name)
    return g


# Both.


def put(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    obj = obj_of(state, e)
    rv = redis_of(obj)
    v = str(d.get("v", ""))
    if "id" in d:
        _add_entry(obj, rv, str(d["id"]), v)
    else:
        _push(obj, v, d.get("end"), d.get("size"))
    go(thread_of(state, e), e)


def get_wait(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    rv = redis_of(obj_of(state, e))
    w = thread_of(state, e)
    wait(w, e, "get", e.item or "", GET_WAIT)
    if "group" in d:
        group_of(rv, str(d["group"])).consumers[str(d.get("consumer", ""))] = w.name
    else:
        rv.ends[w.name] = str(d.get("end") or "head")


def get(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    obj = obj_of(state, e)
    v = str(d.get("v", ""))
    w = thread_of(state, e)
    if "id" in d:
        _deliver(redis_of(obj), d, v, w.name, e.t)
    else:
        _pop(obj, v, d.get("end"))
    go(w, e)
    w.item = v


# Lists.


def _push(obj: ObjView, v: str, end: object, size: object) -> None:
    obj.puts += 1
    items = obj.items
    if obj.early.get(v):  # its pop came first
        obj.early[v] -= 1
        if not obj.early[v]:
            del obj.early[v]
        obj.size = max(obj.size, len(items))
        return
    if end == "head":
        items.appendleft(v)
        while len(items) > ITEMS_SHOWN:
            items.pop()
    else:
        items.append(v)
        while len(items) > ITEMS_SHOWN:
            items.popleft()
    obj.size = int(size) if isinstance(size, int) else obj.size + 1


def _pop(obj: ObjView, v: str, end: object) -> None:
    """The item with value `v` nearest to the `end` it was taken from; one
    not drawn is either beyond what the picture keeps or not there yet."""
    obj.gets += 1
    items = obj.items
    order = range(len(items) - 1, -1, -1) if end == "tail" else range(len(items))
    for i in order:
        if items[i] == v:
            del items[i]
            break
    else:
        if obj.size <= len(items):  # every item is drawn: it has not arrived yet
            obj.early[v] = obj.early.get(v, 0) + 1
    obj.size = max(0, obj.size - 1)


# Streams.


def _backlog_add(g: GroupView, at: str, v: str) -> None:
    """Into the group's backlog, which stays in id order (entries of
    different producers may arrive out of it)."""
    last = next(reversed(g.backlog), None)
    g.backlog[at] = v
    if last is not None and stream_id(last) > stream_id(at):
        g.backlog = dict(sorted(g.backlog.items(), key=lambda kv: stream_id(kv[0])))


def _add_entry(obj: ObjView, rv: RedisView, at: str, v: str) -> None:
    obj.puts += 1
    obj.size = obj.puts
    rv.entries[at] = v
    while len(rv.entries) > ENTRIES_KEPT:
        del rv.entries[next(iter(rv.entries))]
    obj.items.append(v)
    while len(obj.items) > ITEMS_SHOWN:
        obj.items.popleft()
    n = stream_id(at)
    for g in rv.groups.values():
        if n > g.last and at not in g.pending and at not in g.done:
            _backlog_add(g, at, v)


def _deliver(rv: RedisView, d: dict[str, object], v: str, worker: str, t: float) -> None:
    """An entry read by a consumer of a group: pending at it. A new one
    (">") tells that every entry up to it has been handed out."""
    g = group_of(rv, str(d.get("group", "")))
    consumer = str(d.get("consumer", ""))
    g.consumers[consumer] = worker
    at = str(d.get("id", ""))
    if not d.get("again"):
        g.delivered += 1
        n = stream_id(at)
        g.last = max(g.last, n)
        while g.backlog:
            first = next(iter(g.backlog))
            if stream_id(first) > n:
                break
            del g.backlog[first]
    if at in g.done:
        return
    p = g.pending.get(at)
    if p is None:
        g.pending[at] = Pending(v, consumer, t)
    elif p.t <= t:  # not a late event from before a claim
        p.consumer, p.t = consumer, t


def xgroup(state: ProgramState, e: Event) -> None:
    """A group made: it hands out the entries after `start` ("$": the
    stream's newest when it was made; "0": all)."""
    d = e.data or {}
    rv = redis_of(obj_of(state, e))
    name, start = str(d.get("group", "")), str(d.get("start", ""))
    if name not in rv.groups:
        g = rv.groups[name] = GroupView(name)
        if start == "$":
            g.last = max((stream_id(at) for at in rv.entries), default=(0, 0))
        else:
            g.last = stream_id(start)
        for at, v in rv.entries.items():
            if stream_id(at) > g.last:
                _backlog_add(g, at, v)
    rv.groups[name].start = start
    go(thread_of(state, e), e)


def ack(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    g = group_of(redis_of(obj_of(state, e)), str(d.get("group", "")))
    g.acked += int(d.get("acked") or 0)
    for at in d.get("ids") or []:
        g.pending.pop(str(at), None)
        g.backlog.pop(str(at), None)
        g.done[str(at)] = None
    while len(g.done) > DONE_KEPT:
        del g.done[next(iter(g.done))]
    go(thread_of(state, e), e)


def claim(state: ProgramState, e: Event) -> None:
    """Pending entries handed over to `consumer` (the one that claimed them)."""
    d = e.data or {}
    rv = redis_of(obj_of(state, e))
    g = group_of(rv, str(d.get("group", "")))
    consumer = str(d.get("consumer", ""))
    w = thread_of(state, e)
    g.consumers[consumer] = w.name
    for at in map(str, d.get("ids") or []):
        g.claimed += 1
        g.backlog.pop(at, None)
        if at in g.done:
            continue
        p = g.pending.get(at)
        if p is None:  # its delivery is late, or was before the program
            p = g.pending[at] = Pending(rv.entries.get(at, at), consumer, e.t, deliveries=2)
        else:
            if p.consumer != consumer:
                p.claimed_from = p.consumer
            p.consumer, p.t = consumer, e.t
            p.deliveries += 1
        w.item = p.v
    go(w, e)
