"""Producers and consumers by their names, for the lessons whose programs
name them P1, P2, ... and C1, C2, ... around one work queue (producer-
consumer, termination, broker): each one's role and number, the queue, the
items each producer put, what their programs print about them (a producer
that left because main wanted fewer, and the accounting at the end), and
what their stages draw alike (the cards, the console, the log). A worker
joined from another machine is "<host>/consumer" or "<host>/producer"
(`app.joining`)."""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.events import Event
from app.experiments.lesson import last_printed
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.state import GET_WAIT, PUT_WAIT, ObjView, ProgramState, ThreadView

ROLES = ("producer", "consumer")
_WORKER = re.compile(r"([PC])(\d+)$")
_LEAVES = re.compile(r"(P\d+) leaves: fewer producers wanted$")
# Printed lines that tell the outcome (hidden while the result is).
OUTCOME = re.compile(r"^accounting:")
LOG_SHOWN = 30  # events in a crew lesson's log


@functools.lru_cache(maxsize=256)
def role_of(name: str) -> str:
    """The role of the worker `name`: "producer", "consumer", or "" (any other)."""
    m = _WORKER.match(name)
    if m is None:
        joined = name.rpartition("/")[2] if "/" in name else ""
        return joined if joined in ROLES else ""
    return "producer" if m.group(1) == "P" else "consumer"


def number(name: str) -> int:
    m = _WORKER.match(name)
    return int(m.group(2)) if m else 0


@dataclass
class CrewState(ProgramState):
    queue_key: str = ""  # the program's work queue (the broker's stream)
    made: dict[str, int] = field(default_factory=dict)  # producer -> items it put
    left: dict[str, str] = field(default_factory=dict)  # worker -> why: "fewer", "sentinel"
    accounting: str = ""  # the program's last word

    def queue(self) -> ObjView | None:
        return self.objs.get(self.queue_key) if self.queue_key else None

    def of_role(self, role: str) -> list[ThreadView]:
        """Each producer's or consumer's thread (a worker process's main
        thread), by number; workers joined from other machines last."""
        found = [w for w in self.threads() if role_of(w.name) == role]
        return sorted(found, key=lambda w: ("/" in w.name, number(w.name), w.name))

    def in_wait(self, role: str) -> list[ThreadView]:
        """The live producers that wait in put() (the queue is full), or
        the live consumers that wait in get() (it is empty)."""
        wait = PUT_WAIT if role == "producer" else GET_WAIT
        return [w for w in self.of_role(role) if w.alive and w.state == wait]

    def put_by(self, who: str) -> None:
        """The producer `who` put an item."""
        if role_of(who) == "producer":
            self.made[who] = self.made.get(who, 0) + 1


def on_queue(state: CrewState, e: Event, is_it: Callable[[dict[str, Any]], bool]) -> bool:
    """Whether `e` is a call on the crew's queue: the first object made
    whose `new` event's data `is_it` becomes the queue."""
    if e.kind == K.NEW and not state.queue_key and is_it(e.data or {}):
        state.queue_key = e.item or ""
    return bool(e.item) and e.item == state.queue_key


def tag(state: CrewState, who: str, done: dict[str, int]) -> None:
    """The run object's worker `who` says what it is and what it has done
    (`done`: the items each consumer finished)."""
    w = state.workers.get(who)
    role = role_of(who)
    if isinstance(w, ThreadView) and role:
        w.role = role
        w.items = (state.made if role == "producer" else done).get(who, 0)
        w.reason = state.left.get(who, "")


def read_printed(state: CrewState) -> None:
    """What the lines the latest event completed say about the crew."""
    for line in state.printed:
        if line.stream != "stdout":
            continue
        text = line.text.strip()
        m = _LEAVES.match(text)
        if m is not None:
            state.left[m.group(1)] = "fewer"
        elif OUTCOME.match(text):
            state.accounting = text


def crew_view(
    state: CrewState,
    card: Callable[[ThreadView], dict[str, Any]],
    shown: int,
    outcome: re.Pattern[str] = OUTCOME,
) -> dict[str, Any]:
    """What each crew lesson's stage draws alike: a card per producer and
    consumer (`card` makes it), main, and the program's last `shown`
    printed lines (`partials/_lesson_console.html`)."""
    return {
        "producer_cards": [card(w) for w in state.of_role("producer")],
        "consumer_cards": [card(w) for w in state.of_role("consumer")],
        "main": state.main(),
        "printed": last_printed(state, shown, outcome),
    }


def last_events(state: CrewState, noise: Callable[[Event], bool]) -> list[Event]:
    """The last LOG_SHOWN events, newest first, without the `noise` (polling
    that would push the story out of the log)."""
    return list(itertools.islice((e for e in reversed(state.log) if not noise(e)), LOG_SHOWN))
