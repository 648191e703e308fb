"""What the broker lesson's templates need, from its folded state (pure)."""

from __future__ import annotations

from typing import Any

from app.events import Event
from app.experiments.broker.overlay import PROCESSING, STREAM, BrokerState, item_of
from app.experiments.crew import crew_view, last_events, role_of
from app.i18n import _
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.state import ThreadView

CONSOLE_SHOWN = 4
WAITING_SHOWN = 14  # items drawn in the stream's waiting row; past that, a count
# A consumer's calls that only say it looked and found nothing new.
_IDLE = frozenset({K.GET_WAIT, K.EMPTY})
# Main's calls that only poll its workers.
_POLLING = frozenset({K.JOIN, K.JOINED})


def card(state: BrokerState, w: ThreadView, killable: bool) -> dict[str, Any]:
    """A producer's or a consumer's card, in the lesson's words."""
    role = role_of(w.name)
    shown = state.shown_state(w)
    held = [item_of(p.v) for p in state.group().pending.values() if p.consumer == w.name]
    if role == "producer":
        item = f"{w.name}#{state.made.get(w.name, 0) + 1}" if shown == "making" else ""
        count = state.made.get(w.name, 0)
    else:
        item = held[-1] if held and shown == PROCESSING else ""
        count = state.acknowledged.get(w.name, 0)
    return {
        "w": w,
        "role": role,
        "css": shown,
        "item": item,
        "held": held,
        "count": count,
        "left": state.left.get(w.name, ""),
        # A joined worker's too: its machine kills it when asked (app.joining).
        "killable": killable and role == "consumer" and w.alive and shown != "killed",
    }


def pending_rows(state: BrokerState) -> list[dict[str, Any]]:
    """Each entry pending at a consumer, oldest first, and whether that
    consumer is dead (its entry waits to be claimed)."""
    g = state.group()
    return [
        {
            "item": item_of(p.v),
            "at": p.consumer,
            "dead": state.is_killed(g.consumers.get(p.consumer, p.consumer)),
            "former": p.claimed_from,
            "deliveries": p.deliveries,
        }
        for p in g.pending.values()
    ]


def noise(e: Event) -> bool:
    """Left out of the log: a consumer's looking for a new entry (it does so
    every BLOCK_MS) and main's polling of its workers."""
    if e.worker == "main":
        return e.kind in _POLLING
    return e.kind in _IDLE and role_of(e.worker) == "consumer"


def view(state: BrokerState, params: dict[str, Any]) -> dict[str, Any]:
    per_producer = params.get("items_per_producer", 0)
    claim_ms = int(params.get("claim_idle_ms", 0))
    running = state.status == "running"
    waiting = state.waiting()
    stream = state.queue()
    return {
        "claim_ms": claim_ms,
        "stream_name": stream.name if stream is not None else STREAM,
        "group_name": state.group().name,
        "waiting": waiting[:WAITING_SHOWN],
        "waiting_more": max(0, len(waiting) - WAITING_SHOWN),
        "pending": pending_rows(state),
        "latest_acked": list(state.latest_acked)[::-1],
        **crew_view(state, lambda w: card(state, w, running), CONSOLE_SHOWN),
        "log": last_events(state, noise),
        "entry_item": item_of,
        # An item's journey, by the item as the stage shows it ("P1#3").
        "journey_of": {item_of(key): key for key in state.journeys}.get,
        "items_of": lambda ids: [state.item(str(at)) for at in ids or []],
        "runbar_facts": [
            _("%(n)s items per producer") % {"n": per_producer} if per_producer else _("endless"),
            _("claimed after %(ms)s ms idle") % {"ms": claim_ms},
        ],
    }
