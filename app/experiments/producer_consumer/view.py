"""What the producer/consumer lesson's templates need, from its folded state
(pure)."""

from __future__ import annotations

from typing import Any

from app.events import Event
from app.experiments.crew import crew_view, last_events, role_of
from app.experiments.producer_consumer.overlay import SENTINEL, PCState
from app.i18n import _
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.state import ThreadView

CONSOLE_SHOWN = 4
# Items that stay in the queue less than this (on average: the items in it
# over the items done per second) are drawn without their entry animation:
# at full speed each frame holds new ones, which would only ever be seen
# fading in, and the queue looked empty.
BRISK_S = 1.0
# Main's calls that only poll for news (its wait for a worker's tally, with
# a timeout): worth no line in the lesson's log.
_POLLING = frozenset({K.GET_WAIT, K.EMPTY, K.SLEEP})


def card(state: PCState, w: ThreadView) -> dict[str, Any]:
    """A producer's or a consumer's card: what it does, in the lesson's words."""
    role = role_of(w.name)
    shown = state.shown_state(w)
    if role == "producer":
        item = state.making(w.name) if shown in ("producing", "put_wait") else ""
        count = state.made.get(w.name, 0)
    else:
        item = state.held(w.name) if shown == "consuming" else ""
        count = state.used.get(w.name, 0)
    return {
        "w": w,
        "role": role,
        "css": shown,
        "item": item,
        "count": count,
        "left": state.left.get(w.name, ""),
    }


def polling(state: PCState, e: Event) -> bool:
    """Main's polling for news, left out of the log."""
    return e.worker == "main" and e.kind in _POLLING and (e.item or "") != state.queue_key


def view(state: PCState, params: dict[str, Any]) -> dict[str, Any]:
    capacity = int(params.get("capacity", 0))
    items = state.queue_items()
    per_producer = params.get("items_per_producer", 0)
    per_s = state.throughput
    return {
        "capacity": capacity,
        "backend": str(params.get("backend", "process")),
        "queue": items,
        "sentinel": SENTINEL,
        "brisk": per_s > 0 and len(items) / per_s < BRISK_S,
        "slots": capacity if capacity else max(8, len(items) + 2),
        **crew_view(state, lambda w: card(state, w), CONSOLE_SHOWN),
        "log": last_events(state, lambda e: polling(state, e)),
        "runbar_facts": [
            _("capacity %(n)s") % {"n": capacity} if capacity else _("unbounded queue"),
            _("%(n)s items per producer") % {"n": per_producer} if per_producer else _("endless"),
        ],
    }
