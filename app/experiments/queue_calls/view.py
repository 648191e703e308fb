"""What the queue lesson's templates need, from its folded state (pure)."""

from __future__ import annotations

from typing import Any

from app.experiments.queue_calls.overlay import WAITING, Caller, QueueState, caller_json
from app.i18n import N_, _

CARDS = 8  # callers drawn: every waiting one, then the newest
SLOTS_DRAWN = 10

# What the class should see at each step of the lecture's example (the
# program's CALLS, in order), and where a LifoQueue differs.
STEP_NOTES = (
    N_("there is room, so put() returns at once"),
    N_("still room"),
    N_("three items: Queue(3) is full now"),
    N_("get() takes from the head: 1, the first one in"),
    N_("the get made room, so this put goes in: full again"),
    N_("one out"),
    N_("another one out"),
    N_("the last one out: the queue is empty"),
    N_("empty: this get() waits until somebody puts"),
    N_("a put: the waiting get() takes 5 and returns"),
    N_("empty, with a timeout: it waits, then raises queue.Empty"),
    N_("filling the queue again"),
    N_("two in"),
    N_("full"),
    N_("full, and put_nowait() may not wait: queue.Full at once"),
)
LIFO_NOTES = {4: N_("get() takes from the top: 3, the last one in")}


def step_note(state: QueueState) -> str:
    n = state.step_n
    if not 0 < n <= len(STEP_NOTES):
        return ""
    return LIFO_NOTES.get(n, STEP_NOTES[n - 1]) if state.kind == "lifo" else STEP_NOTES[n - 1]


def card(state: QueueState, c: Caller) -> dict[str, Any]:
    """A caller's card: its call, how it went, and its real process or thread."""
    row = caller_json(state, c)
    proc = state.procs.get(row["pid"])
    return {"c": c, **row, "thread": bool(proc is not None and proc.main)}


def view(state: QueueState, params: dict[str, Any]) -> dict[str, Any]:
    kind = "lifo" if params.get("kind") == "lifo" else "fifo"
    capacity = int(params.get("capacity", 0))
    items = state.items()
    waiting = sorted(state.waiting(), key=lambda c: c.t_call)
    # Every waiting caller, and the newest others while there is room.
    newest = sorted(state.callers.values(), key=lambda c: -c.number)
    others = [c for c in newest if state.phase(c) != WAITING][: max(0, CARDS - len(waiting))]
    shown = sorted(waiting + others, key=lambda c: -c.number)
    cls = "multiprocessing.Queue" if kind == "fifo" else "queue.LifoQueue"
    made = state.expr or f"{cls}({capacity or ''})"
    owner = state.main()  # the queue's owner
    script = params.get("mode") == "script"
    return {
        "kind": kind,
        "capacity": capacity,
        "items": items[:SLOTS_DRAWN],
        "more": max(0, len(items) - SLOTS_DRAWN),
        "slots": min(capacity or max(6, len(items) + 1), SLOTS_DRAWN),
        "full": bool(capacity) and len(items) >= capacity,
        "wait_put": [c for c in waiting if c.op.startswith("put")],
        "wait_get": [c for c in waiting if c.op.startswith("get")],
        "cards": [card(state, c) for c in shown],
        "expr": made,
        "owner_pid": owner.pid if owner is not None else 0,
        "script": script,
        "step_note": step_note(state),
        "runbar_facts": [made, _("lecture's example") if script else _("buttons")],
    }
