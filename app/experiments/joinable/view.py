"""What the termination lesson's templates need, from its folded state (pure)."""

from __future__ import annotations

from typing import Any

from app.experiments.crew import crew_view, role_of
from app.experiments.joinable.overlay import (
    JOINABLE,
    JOINABLE_MODES,
    NAIVE,
    OUTCOME,
    SENTINEL,
    JoinableState,
    main_call,
    mode_of,
    value,
)
from app.i18n import N_, _
from app.programs.state import ThreadView

# The lecture's three hot-dog stands, then three more for bigger classes.
COOKS = ("Jerry", "Monkey", "Owen", "Ada", "Bao", "Cleo")
CONSOLE_SHOWN = 6

MODE_NOTES = {
    NAIVE: N_(
        "Plain Queue. Consumers loop on get() and nobody tells them the producers are done, "
        "so once the last item is eaten they wait for ever, and main waits for them."
    ),
    JOINABLE: N_(
        "JoinableQueue. Every put adds an unfinished task, every task_done() removes one; "
        "main waits in q.join() until none is left. Its code then ends, and the daemon "
        "consumers are terminated with it."
    ),
    "no-join": N_(
        "Daemon consumers, but main skips q.join(): its code ends right after the producers, "
        "and the consumers are terminated in the middle of their work. Items are lost."
    ),
    SENTINEL: N_(
        "Plain Queue. After the producers are done, main puts one STOP per consumer; "
        "a consumer that takes one leaves cleanly with exit code 0."
    ),
}
# The modes' names as the page shows them (the select, the badge, the list):
# the templates look them up with _(mode). "sentinel" is a core message.
MODE_NAMES = (N_("naive"), N_("joinable"), N_("no-join"))


def _span(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{names[0]}–{names[-1]}"


def steps(state: JoinableState, params: dict[str, Any]) -> list[dict[str, str]]:
    """Main's program as steps, each done, current or to come; at most one
    is current, the first that is (made while the page is rendered, in its
    reader's language)."""
    mode = mode_of(state.params or params)
    daemons = mode in JOINABLE_MODES
    producers = [f"P{i}" for i in range(1, int(params.get("producers", 0)) + 1)]
    consumers = [f"C{i}" for i in range(1, int(params.get("consumers", 0)) + 1)]
    main = state.main()
    call = main_call(main)
    target = main.on if main is not None and call == "join()" else ""
    spawned = {w.name for w in state.threads()}
    out: list[dict[str, str]] = []

    def add(label: str, done: bool, current: bool = False) -> None:
        current = current and all(step["status"] != "now" for step in out)
        out.append({"label": label, "status": "done" if done else "now" if current else "todo"})

    def join(names: list[str]) -> None:
        for name in names:
            add(f"{name}.join()", ("join()", name) in state.returned, target == name)

    everyone = producers + consumers
    start = (
        _("start %(producers)s and %(consumers)s (daemons)")
        if daemons
        else _("start %(producers)s and %(consumers)s")
    )
    if everyone:
        start %= {"producers": _span(producers), "consumers": _span(consumers)}
    started = all(n in spawned for n in everyone)
    add(start, started, bool(spawned - {"main"}) and not started)
    join(producers)
    if mode == NAIVE:
        join(consumers)
    elif mode == JOINABLE:
        add("q.join()", ("q.join()", "") in state.returned, call == "q.join()")
    elif mode == SENTINEL:
        n = len(consumers)
        put = state.sentinels_put
        add(_("put %(n)s × STOP") % {"n": n}, put >= n, 0 < put < n)
        join(consumers)
    add(_("end of main: daemons terminated") if daemons else _("end of main"), state.main_ended)
    return out


def card(state: JoinableState, w: ThreadView) -> dict[str, Any]:
    """A stand's or an eater's card: what it does, in the lesson's words."""
    role = role_of(w.name)
    proc = state.procs.get(w.pid)
    item = f"{w.name} #{state.made.get(w.name, 0) + 1}" if role == "producer" else value(w.item)
    # The card's look, in the lesson's states (joinable.css and app.css).
    css = {"running": "ready", "cut_off": "daemon_stopped"}.get(w.state, w.state)
    if w.state == "sleeping":
        css = "producing" if role == "producer" else "consuming"
    return {
        "w": w,
        "css": css,
        "role": role,
        "item": item,
        "daemon": bool(proc and proc.daemon),
        "signal": proc.signal if proc is not None else "",
        "count": (state.made if role == "producer" else state.ate).get(w.name, 0),
        "took_stop": bool(state.sentinels_taken.get(w.name)),
        "held_lost": item if role == "consumer" and state.held.get(w.name) == item else "",
    }


def view(state: JoinableState, params: dict[str, Any]) -> dict[str, Any]:
    capacity = int(params.get("capacity", 0))
    mode = mode_of(params)
    queue = state.in_queue()
    held = _("held by %(name)s when it ended")
    where = {"queue": _("still in the queue at the end"), "taken": _("taken but never finished")}
    lost = [
        (item, held % {"name": who} if place == "held" else where[place])
        for item, place, who in state.lost_places()
    ]
    return {
        "mode": mode,
        "mode_note": _(MODE_NOTES[mode]),
        "capacity": capacity,
        "queue": queue,
        "slots": capacity if capacity else max(8, len(queue) + 2),
        "cooks": {f"P{i}": name for i, name in enumerate(COOKS, start=1)},
        "steps": steps(state, params),
        "lost": lost,
        "lost_set": {item for item, _where in lost},
        "main_call": main_call(state.main()),
        **crew_view(state, lambda w: card(state, w), CONSOLE_SHOWN, OUTCOME),
        "queue_kind": "JoinableQueue" if mode in JOINABLE_MODES else "Queue",
        "runbar_facts": [
            _("ending: %(mode)s") % {"mode": _(mode)},
            _("queue of %(n)s slots") % {"n": capacity} if capacity else _("queue without a limit"),
        ],
    }
