"""What the producer/consumer lesson's templates need, from its folded state
(pure)."""

from __future__ import annotations

from typing import Any

from app.events import Event
from app.experiments.crew import OUTCOME, role_of
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


def shown_log(state: PCState) -> list[Event]:
    """The last events, newest first, without main's polling for news."""
    queue = state.queue_key
    return [
        e
        for e in reversed(state.log)
        if not (e.worker == "main" and e.kind in _POLLING and (e.item or "") != queue)
    ]


def view(state: PCState, params: dict[str, Any]) -> dict[str, Any]:
    capacity = int(params.get("capacity", 0))
    items = state.queue_items()
    per_producer = params.get("items_per_producer", 0)
    per_s = state.throughput
    printed = [c for c in state.console if c.stream != "note"][-CONSOLE_SHOWN:]
    return {
        "capacity": capacity,
        "backend": str(params.get("backend", "process")),
        "queue": items,
        "sentinel": SENTINEL,
        "brisk": per_s > 0 and len(items) / per_s < BRISK_S,
        "slots": capacity if capacity else max(8, len(items) + 2),
        "producer_cards": [card(state, w) for w in state.of_role("producer")],
        "consumer_cards": [card(state, w) for w in state.of_role("consumer")],
        "main": state.main(),
        "log": shown_log(state),
        "printed": [(c, bool(OUTCOME.match(c.text))) for c in printed],
        "runbar_facts": [
            _("capacity %(n)s") % {"n": capacity} if capacity else _("unbounded queue"),
            _("%(n)s items per producer") % {"n": per_producer} if per_producer else _("endless"),
        ],
    }
