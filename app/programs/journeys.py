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

from app import events
from app.events import Event
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.state import Journey, ProgramState, item_text

JOURNEYS_KEPT = 500
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


def journey(state: ProgramState, item: str, side: str = "") -> Journey:
    """The journey of `item` whose `side` ("put", "got", "made") is still
    open, begun if there is none: the latest, or a new one."""
    j = state.journeys.get(item)
    if j is None or (side and getattr(j, side) is not None):
        j = Journey(item)
        state.journeys[item] = j
        state.journeys.move_to_end(item)
        if len(state.journeys) > JOURNEYS_KEPT:
            state.journeys.popitem(last=False)
    return j


def fold(state: ProgramState, e: Event, who: str) -> None:
    """After the program's own fold of `e`, by the worker `who`: the journey
    it moves on, and in `state.finished_with` the items `who` is now done
    with (a lesson's overlay counts them)."""
    if state.finished_with:
        state.finished_with.clear()
    d = e.data or {}
    if e.kind in _NEXT_CALLS:
        moved_on = not d.get("again")  # again: the entry it holds, delivered anew
    else:
        moved_on = e.kind == events.WANTS and d.get("kind") != "sleep"
    if moved_on and who in state.holding:
        j = state.holding.pop(who)
        j.done = e.t
        state.finished_with.append(j)
    if e.kind == K.CLAIM:
        _claimed(state, e, who)
    if e.kind not in _IN and e.kind not in _OUT or not e.item:
        return
    v = item_text(d.get("v"))
    if v == SENTINEL or not v or d.get("again"):
        return
    if e.kind in _IN:
        j = journey(state, v, "put")
        j.producer, j.put = who, e.t
    else:
        j = journey(state, v, "got")
        j.consumer, j.got = who, e.t
        state.holding[who] = j
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
        j.claims.append((e.t, who, j.consumer))
        j.consumer = who
        state.holding[who] = j
