"""What the termination lesson keeps beside the program's stage, read from
the trace: the hot dogs put, taken and eaten, who holds which, the STOPs,
what main waits in and what it has done, the hang, and what was lost.

From the tracer's events: the queue's puts and gets (with their values),
`task_done`, main's `join`/`joined` and `qjoin`/`qjoined`, main's code
ending (`end`), the children's ends (`reaped`). From the program's printed
lines, the one thing the tracer cannot see: that an eater has finished a hot
dog ("C1 ate P1 #2").

The hang is a fact of the trace, not of a clock: every stand has ended, the
queue is empty, every live eater waits in get() with no timeout and main
waits in join() of an eater, so nothing alive can ever put. It is said once
that holds and either the program has gone quiet (the runtime's `quiet`) or
main's join() gave up on the eater.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from app.events import Event
from app.experiments.crew import CrewState, on_queue, role_of
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.state import QUIET, ThreadView, item_text

NAIVE, JOINABLE, NO_JOIN, SENTINEL = "naive", "joinable", "no-join", "sentinel"
MODES = (NAIVE, JOINABLE, NO_JOIN, SENTINEL)
# Modes whose queue is a JoinableQueue and whose eaters are daemons.
JOINABLE_MODES = frozenset({JOINABLE, NO_JOIN})
STOP = "STOP"  # the sentinel, as the page names it (the program's None)

_ATE = re.compile(r"(C\d+) ate (.+)$")
# Printed lines that tell the outcome (hidden while the result is).
OUTCOME = re.compile(r"^(accounting:|main: .* That is the hang\.)")


def value(v: Any) -> str:
    """An item as the program wrote it, the sentinel (None) as STOP."""
    return STOP if v is not None and str(v) == "None" else item_text(v)


def mode_of(params: dict[str, Any]) -> str:
    """The run's ending (one it does not know is the naive one)."""
    mode = str(params.get("mode", NAIVE))
    return mode if mode in MODES else NAIVE


@dataclass
class JoinableState(CrewState):
    put_items: list[str] = field(default_factory=list)
    got: set[str] = field(default_factory=set)
    eaten: list[str] = field(default_factory=list)
    held: dict[str, str] = field(default_factory=dict)  # eater -> hot dog it eats
    ate: dict[str, int] = field(default_factory=dict)  # eater -> hot dogs eaten
    task_dones: int = 0
    sentinels_put: int = 0
    sentinels_taken: dict[str, int] = field(default_factory=dict)
    returned: set[tuple[str, str]] = field(default_factory=set)  # main's calls done
    main_ended: bool = False
    diagnosis: dict[str, Any] | None = None

    @property
    def mode(self) -> str:
        return mode_of(self.params)

    @property
    def produced(self) -> int:
        return len(self.put_items)

    @property
    def consumed(self) -> int:
        return len(self.eaten)

    def in_queue(self) -> list[str]:
        """The hot dogs and STOPs in the queue, head first."""
        obj = self.queue()
        return [value(v) for v in obj.items] if obj is not None else []

    def consumers_gone(self) -> bool:
        """Every eater's process has ended. By its process, not its thread:
        an eater cut off before it ran a line of its own never showed a
        thread, and the hot dogs it never ate are lost all the same."""
        expected = int(self.params.get("consumers", 0))
        eaters = [p for p in self.procs.values() if role_of(p.name) == "consumer"]
        return bool(eaters) and len(eaters) >= expected and not any(p.alive for p in eaters)

    def lost_places(self) -> list[tuple[str, str, str]]:
        """Hot dogs put and never eaten, once no eater is left to eat them:
        (item, where: "queue", "held" or "taken", the eater that held it), in
        that order."""
        if not self.consumers_gone():
            return []
        eaten = set(self.eaten)
        holder = {item: who for who, item in self.held.items()}
        lost = [item for item in self.put_items if item not in eaten]
        return (
            [(i, "queue", "") for i in lost if i not in holder and i not in self.got]
            + [(i, "held", holder[i]) for i in lost if i in holder]
            + [(i, "taken", "") for i in lost if i not in holder and i in self.got]
        )

    def lesson_counters(self) -> dict[str, Any]:
        return {
            "produced": self.produced,
            "consumed": self.consumed,
            "in_queue": sum(1 for i in self.in_queue() if i != STOP),
            "unfinished_tasks": (
                self.produced - self.task_dones if self.mode in JOINABLE_MODES else None
            ),
            "lost_items": len(self.lost_places()),
            "consumers_waiting": len(self.in_wait("consumer")),
            "sentinels_put": self.sentinels_put,
        }

    def lesson(self) -> dict[str, Any]:
        main = self.main()
        # Where each lost hot dog was, in English (the page says it in its reader's).
        words = {"queue": "in the queue", "taken": "taken"}
        return {
            "mode": self.mode,
            "diagnosis": None if self.diagnosis is None else {"kind": "hang", **self.diagnosis},
            "lost": [
                {"item": i, "where": f"held by {who}" if place == "held" else words[place]}
                for i, place, who in self.lost_places()
            ],
            "main": {
                "waits_in": main_call(main),
                "target": (main.on or None) if main is not None and main.op == "join" else None,
                "ended": self.main_ended,
            },
        }


def main_call(main: ThreadView | None) -> str:
    """What main waits in now: "join()", "q.join()" or ""."""
    if main is None or not main.alive:
        return ""
    return {"join": "join()", "qjoin": "q.join()"}.get(main.op, "")


def _on_queue(state: JoinableState, e: Event, who: str) -> None:
    v = value((e.data or {}).get("v"))
    if e.kind == K.PUT and v == STOP:
        state.sentinels_put += 1
    elif e.kind == K.PUT:
        state.put_items.append(v)
        state.put_by(who)
    elif e.kind == K.GET and v == STOP:
        state.sentinels_taken[who] = state.sentinels_taken.get(who, 0) + 1
    elif e.kind == K.GET:
        state.got.add(v)
        state.held[who] = v
    elif e.kind == K.TASK_DONE:
        state.task_dones += 1


def _main_event(state: JoinableState, e: Event) -> None:
    d = e.data or {}
    if e.kind == K.JOINED and not d.get("alive"):
        state.returned.add(("join()", e.item or ""))
    elif e.kind == K.QJOINED:
        state.returned.add(("q.join()", ""))
    elif e.kind == K.END and "daemon_threads" in d:
        state.main_ended = True


def _hang(state: JoinableState, e: Event, who: str) -> None:
    main = state.main()
    if main is None:
        return
    # main's join() that gave up has just returned (the fold has cleared
    # its wait): the eater it waited for is the event's.
    gave_up = e.kind == K.JOINED and who == "main" and (e.data or {}).get("alive")
    target = (e.item or "") if gave_up else main.on if main.op == "join" else ""
    if role_of(target) != "consumer" or (e.kind != QUIET and not gave_up):
        return
    stands = state.of_role("producer")
    if not stands or len(stands) < int(state.params.get("producers", 0)):
        return
    if any(w.alive for w in stands) or state.in_queue():
        return
    eaters = [w for w in state.of_role("consumer") if w.alive]
    if not eaters or any(w.op != "get" or w.timeout is not None for w in eaters):
        return
    state.diagnosis = {
        "producers_finished": [w.name for w in stands],
        "consumers_in_get": [w.name for w in eaters],
        "main_waits_in": f"join() of {target}",
        "target": target,
        "t": e.t,
        "quiet_ms": round(max(0.0, e.t - max(w.since for w in eaters)) * 1000),
    }


def overlay(state: Any, e: Event) -> None:
    assert isinstance(state, JoinableState)
    who = state.names.get((e.pid, e.tid), e.worker)
    if on_queue(state, e, lambda d: d.get("type") in ("Queue", "JoinableQueue")):
        _on_queue(state, e, who)
    if who == "main":
        _main_event(state, e)
    for line in state.printed:
        m = _ATE.match(line.text.strip()) if line.stream == "stdout" else None
        if m is not None:
            eater, item = m.group(1), m.group(2)
            state.eaten.append(item)
            state.ate[eater] = state.ate.get(eater, 0) + 1
            if state.held.get(eater) == item:
                del state.held[eater]
    if state.diagnosis is None:
        _hang(state, e, who)
