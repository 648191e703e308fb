"""The lock race (part 12 of the lecture): read, hold, write back.

Each worker takes one off a shared counter the slow way: it reads the counter
into a local variable, holds for a while, and writes back the local minus
one. Without a lock, workers that read before any of them writes all write
the same value, and the other updates are lost. With a lock around the
read-hold-write, one worker at a time is inside and nothing is lost.

The run's `main` (a real process) plays the program `repeats` times: for
each round it resets the counter, starts the workers (threads of its own, or
processes forked from it), waits for them, and reports the final value.

::

    workers T1..Tn (threads of main)  or  P1..Pn (processes forked from main)
      counter: a global + threading.Lock,  or  multiprocessing.Value + Lock
      w.emit(step); w.flush()  ->  the run's event pipe (app.eventpipe):
                                   written when flush returns, in order

The page must show who holds the lock and who waits, in the order it
happened. A worker flushes `released` before it releases the lock, and
`acquired` only exists after it took it; every batch is in the run's one
event pipe when its flush returns, so a hand-over always reads release,
then acquire, in the event stream. (A `multiprocessing.Queue` could not
promise that: each process sends through its own feeder thread, and a later
batch from one process can overtake an earlier one from another.)
"""

from __future__ import annotations

import multiprocessing
import os
import string
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app import events, model
from app.events import Event
from app.experiments.spec import Experiment, Role
from app.i18n import N_, _
from app.instrument import Stopped
from app.model import RunState, WorkerView
from app.worker import Worker, start_process, start_thread

SLUG = "lock"

# Event kinds. Main's:
ROUND_START = "round_start"  # data: round, initial, expected
ROUND_END = "round_end"  # data: round, final, expected
# A worker's steps (data: round, and value for read and write):
WANT = "want"  # asks for the lock; it may wait in line now
ACQUIRED = "acquired"  # holds the lock
READ = "read"  # read the counter into its local `a`
WRITE = "write"  # wrote `a - 1` back
RELEASED = "released"  # let go of the lock

ROLE = "worker"

# Worker states, as the page names them.
LOCK_WAIT = "lock_wait"
HAS_LOCK = "has_lock"
HOLDING = "holding"
WROTE = "wrote"
RELEASED_STATE = "released"

# A pause between rounds, at speed 1, so that each round's result shows.
ROUND_PAUSE_MS = 250
# Keys of the private part of a worker's params (never leave main's process).
_RACE = "_race"
_ROUND = "_round"

# Children of main: fork, as the lecture's programs get on Linux (main is a
# fresh process of its own, see app.worker). The fork context also makes
# named semaphores unlink at once, so a killed run leaves none behind.
_fork = multiprocessing.get_context("fork")


def _live(description: str) -> dict[str, Any]:
    return {"live": True, "description": description}


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Defaults a class can watch: without the lock the round lasts about the
    # hold (3 s), with it about workers x hold (15 s).
    threads: int = Field(
        5,
        ge=1,
        le=50,
        title=N_("Workers"),
        description=N_("threads or processes; each takes one off"),
    )
    initial: int = Field(
        10,
        ge=0,
        le=1000,
        title=N_("Counter starts at"),
        description=N_("the shared counter's value"),
    )
    hold_ms: int = Field(
        3000,
        ge=0,
        le=5000,
        title=N_("Hold (ms)"),
        description=N_("time between reading the counter and writing it back"),
    )
    # The enum makes the page's form draw a True/False select for it.
    use_lock: bool = Field(
        False,
        title=N_("Use the lock"),
        description=N_("read, hold and write while holding the lock"),
        json_schema_extra={"enum": [True, False]},
    )
    backend: Literal["thread", "process"] = Field(
        "thread",
        title=N_("Threads or processes"),
        description=N_("threads with a global, or processes with multiprocessing.Value"),
    )
    repeats: int = Field(
        1, ge=1, le=200, title=N_("Repeat"), description=N_("run the whole race this many times")
    )
    speed: float = Field(
        1.0,
        ge=0.1,
        le=20.0,
        title=N_("Race speed"),
        json_schema_extra=_live(N_("time factor of the race; changes live")),
    )


# The thread backend's counter: a plain module global, as in the lesson's
# program. Every run's main is a fresh process, so runs never share it.
counter = 0


class _Global:
    """`.value` is the module global `counter`, so that the workers of both
    backends read and write the counter the same way."""

    @property
    def value(self) -> int:
        return counter

    @value.setter
    def value(self, v: int) -> None:
        global counter
        counter = v


class Race:
    """What main shares with its workers: the counter and the lock."""

    def __init__(self, backend: str, initial: int) -> None:
        self.counter: Any
        self.lock: Any
        if backend == "process":
            # Value has a lock of its own, but it guards each read and each
            # write alone, never the read-hold-write between them.
            self.counter = _fork.Value("i", initial)
            self.lock = _fork.Lock()
        else:
            self.counter = _Global()
            self.counter.value = initial
            self.lock = threading.Lock()


def _report(w: Worker, kind: str, rnd: int, value: int | None = None) -> None:
    """Report a step at once: `flush` returns when it is in the pipe."""
    data: dict[str, Any] = {"round": rnd}
    if value is not None:
        data["value"] = value
    w.emit(kind, data=data)
    w.flush()


def take_one(w: Worker) -> None:
    """One worker: counter = counter - 1, the slow way, with or without the lock."""
    race: Race = w.params[_RACE]
    rnd: int = w.params[_ROUND]
    if not w.params["use_lock"]:
        _read_hold_write(w, race, rnd)
        return
    _report(w, WANT, rnd)
    # A plain acquire, as in the lesson: who gets the lock next is up to
    # the lock (and the OS), not the order of the line. On Stop the holder
    # leaves within a poll of the stop flag, and each waiter then takes the
    # lock and leaves at once: nobody waits for long.
    race.lock.acquire()
    _report(w, ACQUIRED, rnd)
    try:
        if w.stopping():
            raise Stopped
        _read_hold_write(w, race, rnd)
    finally:
        _report(w, RELEASED, rnd)  # before the release, see the module docstring
        race.lock.release()


def _read_hold_write(w: Worker, race: Race, rnd: int) -> None:
    a = race.counter.value
    _report(w, READ, rnd, a)
    w.sleep(w.params["hold_ms"])
    race.counter.value = a - 1
    _report(w, WRITE, rnd, a - 1)


def main(w: Worker) -> None:
    """The program: `repeats` rounds of the race, one after another."""
    p = w.params
    backend, n, initial = p["backend"], p["threads"], p["initial"]
    expected = initial - n
    prefix = "P" if backend == "process" else "T"
    start = start_process if backend == "process" else start_thread
    race = Race(backend, initial)
    children: list[Any] = []
    try:
        for rnd in range(1, p["repeats"] + 1):
            race.counter.value = initial
            w.emit(ROUND_START, data={"round": rnd, "initial": initial, "expected": expected})
            params = {**p, _RACE: race, _ROUND: rnd}
            children = [
                start(w, f"{prefix}{i}", ROLE, take_one, params=params) for i in range(1, n + 1)
            ]
            for c in children:
                c.join()
            _report_exits(w, children, rnd, backend)
            crashed = [c.name for c in children if backend == "process" and c.exitcode]
            if crashed:
                raise RuntimeError(f"{', '.join(crashed)} crashed in round {rnd}")
            if w.stopping():
                raise Stopped  # this round did not end: no result for it
            final = race.counter.value
            w.emit(ROUND_END, data={"round": rnd, "final": final, "expected": expected})
            if rnd < p["repeats"]:
                w.sleep(ROUND_PAUSE_MS)
    finally:
        _end_children(children)


def _report_exits(w: Worker, children: list[Any], rnd: int, backend: str) -> None:
    """An `exit` event for each worker, as the runtime sends for its own:
    the pid and tid are those the worker reported itself (a process's only
    thread has tid == pid on Linux)."""
    now = time.monotonic_ns()
    if backend == "process":
        exits = [(now, c.name, c.pid, c.pid, c.exitcode) for c in children]
    else:
        exits = [(now, c.name, os.getpid(), c.native_id, 0) for c in children]
    w.flush()
    w.sink.put(
        [
            (t, name, pid, tid, events.EXIT, None, {"exitcode": code, "round": rnd})
            for t, name, pid, tid, code in exits
        ]
    )


def _end_children(children: list[Any]) -> None:
    """Leave no worker behind when main leaves early (stopped or failed):
    they see the stop flag within a poll, so this rarely waits."""
    deadline = time.monotonic() + 2.0
    for c in children:
        c.join(max(0.0, deadline - time.monotonic()))
    for c in children:
        if isinstance(c, multiprocessing.process.BaseProcess) and c.exitcode is None:
            c.kill()
            c.join()


SCRIPT_HEAD = string.Template('''\
"""The lock race, as concviz runs it, without the server.

$workers $kinds each take one off a shared counter that starts at $initial:
read it, hold $hold_ms ms, write back what was read, minus one. $lock_words
Run it with: python lock_race.py
"""

import contextlib
import os
import time
$imports

WORKERS = $workers
INITIAL = $initial
HOLD_MS = $hold_ms  # between reading the counter and writing it back
USE_LOCK = $use_lock  # try the other one
REPEATS = $repeats
SPEED = $speed  # 2.0 = twice as fast

''')

THREAD_BODY = """
counter = INITIAL  # one variable, shared by every thread of this process
lock = threading.Lock()


def take_one(name):
    global counter
    guard = lock if USE_LOCK else contextlib.nullcontext()
    # With the lock, a thread waits at `with` while another one holds it.
    # Between the read and the write the other threads run.
    with guard:
        a = counter  # read
        time.sleep(HOLD_MS / 1000 / SPEED)  # hold
        counter = a - 1  # write back what it read, minus one
    tid = threading.get_native_id()
    print(f"{name} (pid {os.getpid()}, tid {tid}) read {a}, wrote {a - 1}", flush=True)


def race():
    global counter
    counter = INITIAL
    workers = [Thread(target=take_one, args=(f"T{i}",)) for i in range(1, WORKERS + 1)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return counter
"""

PROCESS_BODY = """

def take_one(name, counter, lock):
    guard = lock if USE_LOCK else contextlib.nullcontext()
    # With the lock, a process waits at `with` while another one holds it.
    # Value has a lock of its own, but it covers one read or one write,
    # never the read, hold and write together.
    with guard:
        a = counter.value  # read
        time.sleep(HOLD_MS / 1000 / SPEED)  # hold
        counter.value = a - 1  # write back what it read, minus one
    print(f"{name} (pid {os.getpid()}) read {a}, wrote {a - 1}", flush=True)


def race():
    counter = Value("i", INITIAL)  # in memory that the processes share
    lock = Lock()
    workers = [
        Process(target=take_one, args=(f"P{i}", counter, lock))
        for i in range(1, WORKERS + 1)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return counter.value
"""

SCRIPT_TAIL = """

if __name__ == "__main__":
    expected = INITIAL - WORKERS
    finals = []
    for n in range(1, REPEATS + 1):
        final = race()
        finals.append(final)
        print(f"round {n}: counter = {final} (expected {expected})", flush=True)
        if USE_LOCK:
            assert final == expected, "the lock let an update get lost"
    lost = sum(final - expected for final in finals)
    print(f"accounting: {REPEATS} round(s), expected {expected} each, got {finals};"
          f" {lost} update(s) lost")
"""

_IMPORTS = {
    "thread": "import threading\nfrom threading import Thread",
    "process": "from multiprocessing import Lock, Process, Value",
}


def script(params: dict[str, Any]) -> str:
    """The plain program for these parameters: it runs without the server and
    tells the same story, ending with an accounting line."""
    p = Params.model_validate(params)
    head = SCRIPT_HEAD.substitute(
        workers=p.threads,
        kinds="threads" if p.backend == "thread" else "processes",
        initial=p.initial,
        hold_ms=p.hold_ms,
        lock_words="A lock is held around the three steps."
        if p.use_lock
        else "No lock: updates get lost.",
        imports=_IMPORTS[p.backend],
        use_lock=p.use_lock,
        repeats=p.repeats,
        speed=f"{p.speed:g}",
    )
    return head + (THREAD_BODY if p.backend == "thread" else PROCESS_BODY) + SCRIPT_TAIL


# Where each worker is in the script, by its state ("role:state" first).
CODE_LINES = {
    LOCK_WAIT: "with guard:",
    HAS_LOCK: "a = counter",
    HOLDING: "time.sleep(HOLD_MS",
    WROTE: "= a - 1",
    RELEASED_STATE: 'print(f"{name} (pid',
    "main:starting": "w.join()",
}


# The view state.


@dataclass
class Card:
    """A worker's values in the round it last reported a step in."""

    round: int = 0
    read: int | None = None
    wrote: int | None = None


@dataclass
class LockState(RunState):
    round: int = 0  # the round going on (or the last one)
    round_t0: float = 0.0
    initial: int | None = None
    expected: int | None = None
    counter: int | None = None  # the last value written, this round
    history: list[tuple[float, int]] = field(default_factory=list)  # (t in round, value)
    owner: str | None = None
    waiting: list[str] = field(default_factory=list)  # in the order they asked
    inside: set[str] = field(default_factory=set)  # read but not yet written
    most_inside: int = 0  # this round
    handovers: int = 0  # this round
    # An acquire that arrived while another worker held the lock, over the
    # whole run: the lock (and the event order) guarantee it stays 0.
    two_owners: int = 0
    finals: dict[int, int] = field(default_factory=dict)  # round -> final value
    cards: dict[str, Card] = field(default_factory=dict)

    def _expected(self) -> int | None:
        if self.expected is not None:
            return self.expected
        if "initial" in self.params and "threads" in self.params:
            return int(self.params["initial"]) - int(self.params["threads"])
        return None

    def last_final(self) -> int | None:
        return self.finals[max(self.finals)] if self.finals else None

    def histogram(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for v in self.finals.values():
            out[v] = out.get(v, 0) + 1
        return dict(sorted(out.items()))

    def result(self) -> dict[str, int | None]:
        expected, actual = self._expected(), self.last_final()
        lost = actual - expected if actual is not None and expected is not None else None
        return {"expected": expected, "actual": actual, "lost_updates": lost}

    def counters(self) -> dict[str, Any]:
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

    def extras(self) -> dict[str, Any]:
        return {
            "result": self.result(),
            "rounds": {
                "total": int(self.params.get("repeats", 1)),
                "done": len(self.finals),
                "finals": [self.finals[r] for r in sorted(self.finals)],
                "exact": sum(1 for v in self.finals.values() if v == self._expected()),
            },
        }


def _data(e: Event) -> dict[str, Any]:
    return e.data or {}


def _run_start(state: LockState, e: Event) -> None:
    model.LIFECYCLE[events.RUN_START](state, e)
    # main always runs in a process of its own; the backend the page names
    # is the one its workers use.
    state.backend = str(state.params.get("backend", state.backend))


def _begin_round(state: LockState, rnd: int, t: float) -> None:
    state.round, state.round_t0 = rnd, t
    state.owner = None
    state.waiting = []
    state.inside = set()
    state.most_inside = state.handovers = 0
    state.history = [(0.0, state.initial)] if state.initial is not None else []
    state.counter = state.initial


def _round_start(state: LockState, e: Event) -> None:
    d = _data(e)
    rnd = int(d.get("round", 0))
    if rnd < state.round:
        return
    state.initial, state.expected = d.get("initial"), d.get("expected")
    _begin_round(state, rnd, e.t)


def _round_end(state: LockState, e: Event) -> None:
    d = _data(e)
    state.finals[int(d["round"])] = int(d["final"])
    if int(d["round"]) == state.round:
        state.counter = int(d["final"])


def _reincarnate(w: WorkerView, e: Event) -> None:
    """The same name, a new thread or process (the next round's)."""
    w.pid, w.tid, w.since = e.pid, e.tid, e.t
    w.state, w.item, w.alive = model.STARTING, None, True
    w.exitcode, w.reason, w.error = None, "", ""


def _step(state: LockState, e: Event) -> tuple[WorkerView, Card] | None:
    """The worker and its card for a step of the round going on; None for a
    step of an older round."""
    rnd = int(_data(e).get("round", 0))
    if rnd > state.round:
        _begin_round(state, rnd, e.t)
    if rnd < state.round:
        return None
    w = model.worker_of(state, e)
    w.role = ROLE
    if (w.pid, w.tid) != (e.pid, e.tid):
        _reincarnate(w, e)
    card = state.cards.get(e.worker)
    if card is None or card.round < rnd:
        card = state.cards[e.worker] = Card(rnd)
    return w, card


def _want(state: LockState, e: Event) -> None:
    if (found := _step(state, e)) is None:
        return
    model.set_state(found[0], e, LOCK_WAIT)
    if e.worker not in state.waiting:
        state.waiting.append(e.worker)


def _acquired(state: LockState, e: Event) -> None:
    if (found := _step(state, e)) is None:
        return
    if state.owner is not None and state.owner != e.worker:
        state.two_owners += 1
    state.owner = e.worker
    state.handovers += 1
    if e.worker in state.waiting:
        state.waiting.remove(e.worker)
    model.set_state(found[0], e, HAS_LOCK)


def _released(state: LockState, e: Event) -> None:
    if (found := _step(state, e)) is None:
        return
    if state.owner == e.worker:
        state.owner = None
    model.set_state(found[0], e, RELEASED_STATE)


def _read(state: LockState, e: Event) -> None:
    if (found := _step(state, e)) is None:
        return
    w, card = found
    card.read = int(_data(e)["value"])
    state.inside.add(e.worker)
    state.most_inside = max(state.most_inside, len(state.inside))
    model.set_state(w, e, HOLDING)


def _write(state: LockState, e: Event) -> None:
    if (found := _step(state, e)) is None:
        return
    w, card = found
    value = int(_data(e)["value"])
    card.wrote = value
    state.inside.discard(e.worker)
    state.counter = value
    # Stamps are taken before a batch waits for the pipe, so they may be a
    # hair out of arrival order; the line never runs backwards.
    since = max([e.t - state.round_t0, 0.0] + [t for t, _ in state.history[-1:]])
    state.history.append((since, value))
    model.set_state(w, e, WROTE)


# Lifecycle events of the workers: several threads or processes carry the
# same name over the rounds, so an event counts only for the one the page
# shows now (same pid and tid); `start` always begins a new one.


def _start(state: LockState, e: Event) -> None:
    if _data(e).get("role") == ROLE:
        w = model.worker_of(state, e)
        if (w.pid, w.tid) != (e.pid, e.tid):
            _reincarnate(w, e)
        state.cards.setdefault(e.worker, Card())
    model.LIFECYCLE[events.START](state, e)


def _current_only(kind: str) -> model.Handler:
    generic = model.LIFECYCLE[kind]

    def handle(state: LockState, e: Event) -> None:
        w = state.workers.get(e.worker)
        if w is not None and w.role == ROLE and (w.pid, w.tid) != (e.pid, e.tid):
            return
        generic(state, e)

    return handle


fold = model.make_fold(
    {
        events.RUN_START: _run_start,
        events.START: _start,
        events.FINISH: _current_only(events.FINISH),
        events.CRASH: _current_only(events.CRASH),
        events.EXIT: _current_only(events.EXIT),
        ROUND_START: _round_start,
        ROUND_END: _round_end,
        WANT: _want,
        ACQUIRED: _acquired,
        RELEASED: _released,
        READ: _read,
        WRITE: _write,
    },
    # Each round starts, ends and reaps every worker: the cards show that,
    # and these lines would push the lock's steps out of the short log.
    quiet=frozenset({events.START, events.FINISH, events.EXIT}),
)


# The view: what the templates draw, computed from the state (pure).

# The counter's line, in SVG user units: room above it and below it for
# the labels, which stay readable when the SVG is drawn small.
CHART_W, CHART_H, CHART_TOP, CHART_BOTTOM, CHART_SIDE = 320, 160, 26, 28, 6
HIST_W, HIST_H = 420, 150


def _number(name: str) -> int:
    digits = name.lstrip("TP")
    return int(digits) if digits.isdigit() else 0


def _card_view(state: LockState, w: WorkerView) -> dict[str, Any]:
    card = state.cards.get(w.name, Card())
    current = card.round == state.round
    status = w.state
    if not current and state.round and w.state not in (model.STARTING, model.CRASHED, model.KILLED):
        status = "idle"  # from an earlier round; this round's has not started yet
    return {
        "name": w.name,
        "pid": w.pid,
        "tid": w.tid,
        "state": status,
        "read": card.read if current else None,
        "wrote": card.wrote if current else None,
        "place": state.waiting.index(w.name) + 1 if w.name in state.waiting else 0,
        "owner": state.owner == w.name,
        "error": w.error,
        "exitcode": w.exitcode,
    }


def _chart(state: LockState) -> dict[str, Any]:
    """The counter over the round as a step line, in SVG user units."""
    top = state.initial if state.initial is not None else 0
    expected = state._expected()
    values = [v for _, v in state.history]
    bottom = min([top - 1, *values] + ([expected] if expected is not None else []))
    span_t = max([t for t, _ in state.history] + [1e-3])
    w, h, side = CHART_W, CHART_H, CHART_SIDE

    def x(t: float) -> float:
        return round(side + (w - 2 * side) * t / span_t, 1)

    def y(v: int) -> float:
        return round(CHART_TOP + (h - CHART_TOP - CHART_BOTTOM) * (top - v) / (top - bottom), 1)

    points: list[str] = []
    for i, (t, v) in enumerate(state.history):
        if i:
            points.append(f"{x(t)},{y(state.history[i - 1][1])}")
        points.append(f"{x(t)},{y(v)}")
    return {
        "w": w,
        "h": h,
        "points": " ".join(points),
        "top": top,
        "top_y": y(top),
        "expected": expected,
        "expected_y": y(expected) if expected is not None else None,
        "span": f"{span_t:.1f} s" if span_t >= 1 else f"{span_t * 1000:.0f} ms",
        "left": side,
        "right": w - side,
    }


def _bars(state: LockState) -> dict[str, Any]:
    """The histogram of final values, one bar per value that a round could
    end with (every worker's update kept, down to all but one lost) and any
    other seen, in SVG user units."""
    hist = state.histogram()
    expected = state._expected()
    if not hist:
        return {"bars": [], "w": HIST_W, "h": HIST_H}
    seen = list(hist)
    if expected is not None:
        seen += [expected, expected + int(state.params.get("threads", 1)) - 1]
    lo, hi = min(seen), max(seen)
    values = list(range(lo, hi + 1))
    most = max(hist.values())
    slot = (HIST_W - 20) / len(values)
    label_every = max(1, round(len(values) / 12))
    base = HIST_H - 22
    bars = []
    for i, v in enumerate(values):
        count = hist.get(v, 0)
        height = round((base - 22) * count / most, 1)
        bars.append(
            {
                "value": v,
                "count": count,
                "x": round(10 + i * slot + slot * 0.1, 1),
                "cx": round(10 + i * slot + slot / 2, 1),
                "width": round(slot * 0.8, 1),
                "y": round(base - height, 1),
                "height": height,
                "expected": v == expected,
                "label": i % label_every == 0 or v == expected,
            }
        )
    return {"bars": bars, "w": HIST_W, "h": HIST_H, "base": base}


def _workers_words(n: int, backend: str) -> str:
    if backend == "thread":
        words = _("%(n)s thread") if n == 1 else _("%(n)s threads")
    else:
        words = _("%(n)s process") if n == 1 else _("%(n)s processes")
    return words % {"n": n}


def view(state: LockState, params: dict[str, Any]) -> dict[str, Any]:
    use_lock = bool(params.get("use_lock", False))
    workers = sorted(
        (w for w in state.workers.values() if w.role == ROLE), key=lambda w: _number(w.name)
    )
    main_view = state.workers.get("main")
    repeats = int(params.get("repeats", 1))
    return {
        "use_lock": use_lock,
        "lk": state,
        "result": state.result(),
        "repeats": repeats,
        "cards": [_card_view(state, w) for w in workers],
        "main_worker": main_view,
        "chart": _chart(state),
        "hist": _bars(state),
        "exact": sum(1 for v in state.finals.values() if v == state._expected()),
        "runbar_facts": [
            _("with the lock") if use_lock else _("no lock"),
            _workers_words(int(params.get("threads", 0)), str(params.get("backend", "thread"))),
            _("hold %(ms)s ms") % {"ms": params.get("hold_ms")},
        ],
    }


EXPERIMENT = Experiment(
    slug=SLUG,
    title=N_("The lock race"),
    summary=N_("Read, sleep, write: lost updates without a lock, none with one."),
    lecture_part="12",
    params=Params,
    roles=(Role("main", "M", main, fixed_name="main"),),
    program=script({}),
    script=script,
    code_lines=CODE_LINES,
    quick_params={"threads": 4, "hold_ms": 40, "use_lock": True, "repeats": 2, "speed": 20},
    modules=(__name__,),
    new_state=LockState,
    fold=fold,
    frame_template="partials/lock/_frame.html",
    controls_template="partials/lock/_controls.html",
    stylesheet="experiments/lock.css",
    view=view,
    main_in_process=True,
    workers_needed=lambda params: 1 + int(params.threads),  # type: ignore[attr-defined]
    notes={"finished": N_("every round ended")},
)
