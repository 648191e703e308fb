"""Each item's way through a queue or a pipe, in any program: who put it in
and when, who took it out and when, and when that worker was done with it
(its next call after the get: another put or get, `task_done`, an
acknowledgement, its end). A Redis stream's entry that another consumer
claims goes on with that one. The page's item card (`/runs/{id}/items/{item}`)
tells one; a lesson may add when making it started (`made`).

Items are told apart by how the program wrote them (`item_text`). Batches
from different processes arrive out of step, so a get may come before its
put: each fills in the journey the other began. A value put again once its
journey has a put (a program that sends 1, 2, 3 from several producers)
begins a new journey; the card tells the latest. None, a sentinel in
nearly every program, has none.
"""

from __future__ import annotations

import itertools

from app import events
from app.events import Event
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.state import Journey, ProgramState, item_text

JOURNEYS_KEPT = 500  # at least; at most twice as many
SENTINEL = "None"
_IN = frozenset({K.PUT, K.SEND})
_OUT = frozenset({K.GET, K.RECV})
# A worker's next call after a get: it is done with the item it took.
_NEXT_CALLS = frozenset(
    {
        K.GET_WAIT,
        K.GET,
        K.PUT_WAIT,
        K.PUT,
        K.TASK_DONE,
        K.ACK,
        K.SEND,
        K.RECV_WAIT,
        K.RECV,
        K.CLAIM,
        K.END,
    }
)


def journey(state: ProgramState, item: str) -> Journey:
    """The latest journey of `item`, begun if there is none."""
    j = state.journeys.get(item)
    return j if j is not None else _begun(state, item)


def _begun(state: ProgramState, item: str) -> Journey:
    j = Journey(item)
    journeys = state.journeys
    journeys.pop(item, None)  # the newest last
    journeys[item] = j
    if len(journeys) >= 2 * JOURNEYS_KEPT:  # the oldest go, half at a time
        state.journeys = dict(itertools.islice(journeys.items(), JOURNEYS_KEPT, None))
    return j


def fold(state: ProgramState, e: Event, who: str) -> None:
    """After the program's own fold of `e`, by the worker `who`: the journey
    it moves on, and in `state.finished_with` the items `who` is now done
    with (a lesson's overlay counts them). On the path of every event: the
    common kinds cost a set lookup or two."""
    if state.finished_with:
        state.finished_with.clear()
    kind = e.kind
    holding = state.holding
    if holding and who in holding:
        d = e.data
        if kind in _NEXT_CALLS:
            moved_on = not (d and d.get("again"))  # again: the entry it holds, delivered anew
        else:
            moved_on = kind == events.WANTS and not (d and d.get("kind") == "sleep")
        if moved_on:
            j = holding.pop(who)
            j.done = e.t
            state.finished_with.append(j)
    if kind in _IN:
        putting = True
    elif kind in _OUT:
        putting = False
    else:
        if kind == K.CLAIM:
            _claimed(state, e, who)
        return
    d = e.data
    if not d or not e.item or d.get("again"):
        return
    v = item_text(d.get("v"))
    if v == SENTINEL or not v:
        return
    found = state.journeys.get(v)
    if putting:
        j = found if found is not None and found.put is None else _begun(state, v)
        j.producer, j.put = who, e.t
    else:
        j = found if found is not None and found.got is None else _begun(state, v)
        j.consumer, j.got = who, e.t
        holding[who] = j
    if not j.queue:
        j.queue = state.obj_name(e.item)


def _claimed(state: ProgramState, e: Event, who: str) -> None:
    """Stream entries `who` took over: each one's journey goes on with it."""
    obj = state.objs.get(e.item or "")
    entries = obj.redis.entries if obj is not None and obj.redis is not None else {}
    for at in (e.data or {}).get("ids") or []:
        v = entries.get(str(at))
        j = state.journeys.get(item_text(v)) if v is not None else None
        if j is None or j.done is not None:
            continue
        if state.holding.get(j.consumer) is j:
            del state.holding[j.consumer]
        j.claims = (*j.claims, (e.t, who, j.consumer))
        j.consumer = who
        state.holding[who] = j
