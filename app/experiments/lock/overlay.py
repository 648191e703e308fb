"""What the lock lesson keeps beside the program's stage, read from the trace.

From the tracer: who waits for the program's `lock` (`acquire_wait`), who
holds it (`acquired` .. `released`), and which thread or process each worker
is (its pid and native thread id). From the lines the program prints: each
round's start and final value, and what each worker read and wrote (the
tracer cannot see a variable being read).

A worker's name (T1, P1) comes back every round as a new thread or process:
each one belongs to the round going on when it showed up, and steps of a
round that is over no longer move the page.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from app import events
from app.events import Event
from app.model import Segment
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.state import ProgramState, ThreadView

LOCK_NAME = "lock"  # the program's variable

# A worker's steps, as the page names them.
STARTING = "starting"
LOCK_WAIT = "lock_wait"
HAS_LOCK = "has_lock"
HOLDING = "holding"
WROTE = "wrote"
RELEASED = "released"

# The program's lines.
ROUND_START = re.compile(r"round (\d+) starts: counter = (-?\d+), expected (-?\d+)$")
ROUND_END = re.compile(r"round (\d+): counter = (-?\d+) \(expected (-?\d+)\)$")
READ = re.compile(r"(\w+) read a = (-?\d+)$")
WRITE = re.compile(r"(\w+) wrote counter = (-?\d+)$")


@dataclass
class Card:
    """A worker (T1, P1) in the round it last ran in."""

    name: str
    label: str  # its thread's name on the stage (`state.workers`)
    round: int
    step: str = STARTING
    read: int | None = None
    wrote: int | None = None


@dataclass
class Hold:
    """A time the lock was held, by the stamps of its acquire and release."""

    name: str
    start: float
    end: float | None = None


@dataclass
class LockState(ProgramState):
    round: int = 0  # the round going on (or the last one)
    round_t0: float = 0.0
    initial: int | None = None
    expected: int | None = None
    counter: int | None = None  # the last value written, this round
    history: list[tuple[float, int]] = field(default_factory=list)  # (t in round, value)
    lock_key: str = ""  # the program's `lock`, as the tracer keys it
    owner: str | None = None
    waiting: list[str] = field(default_factory=list)  # in the order they asked
    inside: set[str] = field(default_factory=set)  # read but not yet written
    most_inside: int = 0  # this round
    handovers: int = 0  # this round
    holds: list[Hold] = field(default_factory=list)  # this round
    # Two workers holding the lock at once, by the stamps, over the whole
    # run: a lock guarantees it stays 0.
    two_owners: int = 0
    finals: dict[int, int] = field(default_factory=dict)  # round -> final value
    cards: dict[str, Card] = field(default_factory=dict)  # by the program's name
    workers_of: dict[str, tuple[str, int]] = field(default_factory=dict)  # label -> name, round

    def expected_value(self) -> int | None:
        if self.expected is not None:
            return self.expected
        if "initial" in self.params and "threads" in self.params:
            return int(self.params["initial"]) - int(self.params["threads"])
        return None

    def exact(self) -> int:
        return sum(1 for v in self.finals.values() if v == self.expected_value())

    def result(self) -> dict[str, int | None]:
        expected = self.expected_value()
        actual = self.finals[max(self.finals)] if self.finals else None  # the last round's
        lost = actual - expected if actual is not None and expected is not None else None
        return {"expected": expected, "actual": actual, "lost_updates": lost}

    def lesson_counters(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "rounds_done": len(self.finals),
            "counter": self.counter if self.counter is not None else 0,
            "owner": self.owner or "",
            "waiting": len(self.waiting),
            "inside": len(self.inside),
            "handovers": self.handovers,
            "two_owners": self.two_owners,
            "lost_updates": self.result()["lost_updates"] or 0,
        }

    def lesson(self) -> dict[str, Any]:
        return {
            "result": self.result(),
            "rounds": {
                "total": int(self.params.get("repeats", 1)),
                "done": len(self.finals),
                "finals": [self.finals[r] for r in sorted(self.finals)],
                "exact": self.exact(),
            },
            "two_owners": self.two_owners,
        }

    def name_of(self, label: str) -> str:
        """The program's name (T1, P1) of the worker whose thread is `label`."""
        return self.workers_of.get(label, (label, 0))[0]

    def card_of(self, label: str) -> Card | None:
        """The card of the worker whose thread is `label`, if it is one of
        the round going on."""
        found = self.workers_of.get(label)
        if found is None or found[1] != self.round:
            return None
        card = self.cards.get(found[0])
        return card if card is not None and card.label == label else None


def _begin_round(state: LockState, rnd: int, t: float, initial: int, expected: int) -> None:
    state.round, state.round_t0 = rnd, t
    state.initial, state.expected = initial, expected
    state.owner = None
    state.waiting, state.inside, state.holds = [], set(), []
    state.most_inside = state.handovers = 0
    state.history = [(0.0, initial)]
    state.counter = initial


def _meet(state: LockState, e: Event) -> None:
    """A worker's thread shows itself (its `thread` event): it is the
    worker of its name in the round going on."""
    w = state.thread(state.names.get((e.pid, e.tid), ""))
    if w is None or w.name in state.workers_of:
        return
    proc = state.procs.get(e.pid)
    if w.main_thread and (proc is None or proc.main):
        return  # the program's main
    name = proc.name if w.main_thread and proc is not None else w.thread_name
    before = state.cards.get(name)
    if before is not None and before.label != w.name:
        _succeed(state, before, w, name)
    state.workers_of[w.name] = (name, state.round)
    state.cards[name] = Card(name, w.name, state.round)


def _succeed(state: LockState, before: Card, w: ThreadView, name: str) -> None:
    """`w` is the worker `name` of a new round: it takes the name, the place
    and the timeline lane of the one before it, which ended (one worker
    per name on the stage and its timeline, not one per round: 200 rounds
    of 50 workers are 10,000 threads). A late event of the one before goes
    to a name of its own and moves nothing of the lesson's."""
    old = state.thread(before.label)
    lane: deque[Segment] = state.lanes.pop(before.label, deque())
    lane.extend(state.lanes.pop(w.name, ()))
    if old is not None:
        state.names[(old.pid, old.tid)] = f"{name} (round {before.round})"
        if old.main_thread and old.pid != w.pid:
            state.procs.pop(old.pid, None)
    del state.workers[w.name]
    state.workers = {
        (name if k == before.label else k): (w if k == before.label else v)
        for k, v in state.workers.items()
    }
    state.workers.setdefault(name, w)
    state.names[(w.pid, w.tid)] = w.name = name
    state.lanes[name] = lane


def _overlaps(a: Hold, b: Hold) -> bool:
    """Whether `b` took the lock while `a` held it (a's release is stamped
    before it lets go, b's acquire after it took the lock)."""
    return a.end is not None and a.start < b.start < a.end


def _acquired(state: LockState, card: Card, t: float) -> None:
    hold = Hold(card.name, t)
    state.two_owners += sum(1 for h in state.holds if h.name != card.name and _overlaps(h, hold))
    state.holds.append(hold)
    state.owner = card.name
    state.handovers += 1
    if card.name in state.waiting:
        state.waiting.remove(card.name)
    card.step = HAS_LOCK


def _released(state: LockState, card: Card, t: float) -> None:
    if state.owner == card.name:
        state.owner = None
    card.step = RELEASED
    open_ = [h for h in state.holds if h.name == card.name and h.end is None]
    if not open_:
        return
    hold = open_[-1]
    hold.end = t
    state.two_owners += sum(1 for h in state.holds if h.name != card.name and _overlaps(hold, h))


def _lock_event(state: LockState, e: Event) -> None:
    label = state.names.get((e.pid, e.tid), "")
    card = state.card_of(label)
    if card is None:
        return
    if e.kind == K.ACQUIRE_WAIT:
        card.step = LOCK_WAIT
        if card.name not in state.waiting:
            state.waiting.append(card.name)
    elif e.kind == K.ACQUIRED:
        _acquired(state, card, e.t)
    elif e.kind == K.RELEASED:
        _released(state, card, e.t)


def _line(state: LockState, worker: str, t: float, text: str) -> None:
    if m := ROUND_START.match(text):
        rnd = int(m.group(1))
        if rnd > state.round:
            _begin_round(state, rnd, t, int(m.group(2)), int(m.group(3)))
    elif m := ROUND_END.match(text):
        rnd, final = int(m.group(1)), int(m.group(2))
        state.finals[rnd] = final
        state.expected = int(m.group(3))
        if rnd == state.round:
            state.counter = final
    elif (m := READ.match(text)) and (card := state.card_of(worker)) is not None:
        card.read, card.step = int(m.group(2)), HOLDING
        state.inside.add(card.name)
        state.most_inside = max(state.most_inside, len(state.inside))
    elif (m := WRITE.match(text)) and (card := state.card_of(worker)) is not None:
        value = int(m.group(2))
        card.wrote, card.step = value, WROTE
        state.inside.discard(card.name)
        state.counter = value
        # Lines of different workers may arrive a hair out of their order:
        # the counter's line never runs backwards.
        since = max([t - state.round_t0, 0.0] + [s for s, _ in state.history[-1:]])
        state.history.append((since, value))


def overlay(state: Any, e: Event) -> None:
    assert isinstance(state, LockState)
    if e.kind == events.RUN_START:
        # The program's first process is the run's; the backend the page
        # names is the one its workers use.
        state.backend = str(state.params.get("backend", ""))
    elif e.kind == K.THREAD:
        _meet(state, e)
    elif e.kind == K.NEW:
        d = e.data or {}
        if d.get("name") == LOCK_NAME and d.get("type") == "Lock" and not state.lock_key:
            state.lock_key = e.item or ""
    elif e.kind in (K.ACQUIRE_WAIT, K.ACQUIRED, K.RELEASED) and e.item == state.lock_key:
        _lock_event(state, e)
    for line in state.printed:
        if line.stream == "stdout":
            _line(state, line.worker, line.t, line.text.strip())
