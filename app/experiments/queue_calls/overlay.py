"""What the queue lesson keeps beside the program's stage, read from the
trace: q's items (who put each), every caller's call and how it ended, the
lecture's step, and a call main refused.

From the tracer's events: q's `new` (its type and size), each caller's
`put_wait`/`get_wait` (it waits), `put`/`get` (it returned, with the value)
and `full`/`empty` (it raised); who a caller is (pid, tid) and whether it is
still alive, from the program's own stage. From the program's printed lines,
what the tracer cannot see: the call a caller makes as it was written ("P3
calls put(4, timeout=2)"), main's step of the example ("main: step 4 of 15:
get()") and a call main refused ("main refused get(): ...").
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from app.events import Event
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.state import CRASHED, KILLED, ProgramState, item_text

# A caller's phases, as the page names them.
STARTING = "starting"
CALLING = "calling"
WAITING = "waiting"
RETURNED = "returned"
RAISED = "raised"
OUTCOMES = frozenset({RETURNED, RAISED, KILLED, CRASHED})

_CALLER = re.compile(r"[PT]\d+$")
_CALLS = re.compile(r"([PT]\d+) calls ((\w+)\(.*\))$")
_TIMEOUT = re.compile(r"timeout=([^,)]+)")
_STEP = re.compile(r"main: step (\d+) of (\d+): (.+)$")
_REFUSED = re.compile(r"main refused (\S+\)): (.+)$")
_SIDE = re.compile(r"(\d+) (put|get) callers are still there \(at most (\d+)\): a (put|get)")
_ALL = re.compile(r"(\d+) callers are still there \(at most (\d+)\)")


@dataclass
class Chip:
    """An item in q, known by the caller that put it."""

    key: str
    value: str


@dataclass
class Caller:
    name: str
    text: str = ""
    op: str = ""
    timeout: float | None = None
    phase: str = STARTING
    why: str = ""  # full or empty, while it waits
    result: str | None = None
    exception: str = ""
    after_s: float | None = None
    t_call: float = 0.0
    step: int = 0

    @property
    def number(self) -> int:
        return int(self.name[1:]) if self.name[1:].isdigit() else 0


@dataclass
class QueueState(ProgramState):
    queue_key: str = ""  # the program's q
    expr: str = ""  # q as made: "multiprocessing.Queue(3)"
    chips: list[Chip] = field(default_factory=list)
    early: Counter[str] = field(default_factory=Counter)  # gets before their puts
    callers: dict[str, Caller] = field(default_factory=dict)
    raised: Counter[str] = field(default_factory=Counter)  # "queue.Full" -> how many
    refused_call: str = ""
    refused: dict[str, Any] = field(default_factory=dict)
    step_n: int = 0
    step_of: int = 0
    step_text: str = ""

    @property
    def kind(self) -> str:
        return "lifo" if self.params.get("kind") == "lifo" else "fifo"

    def items(self) -> list[Chip]:
        """In the order they went in: the head (FIFO) or the bottom (LIFO) first."""
        return list(self.chips)

    def phase(self, c: Caller) -> str:
        """The caller's phase, with how its thread ended if its call did not."""
        w = self.thread(c.name)
        if c.phase not in OUTCOMES and w is not None and w.state in (KILLED, CRASHED):
            return w.state
        return c.phase

    def waiting(self) -> list[Caller]:
        return [c for c in self.callers.values() if self.phase(c) == WAITING]

    def lesson_counters(self) -> dict[str, Any]:
        q = self.objs.get(self.queue_key)  # the program's fold counts its puts and gets
        return {
            "in_queue": len(self.chips),
            "puts": q.puts if q is not None else 0,
            "gets": q.gets if q is not None else 0,
            "waiting": len(self.waiting()),
            "full_raised": self.raised["queue.Full"],
            "empty_raised": self.raised["queue.Empty"],
        }

    def lesson(self) -> dict[str, Any]:
        callers = sorted(self.callers.values(), key=lambda c: c.number)
        return {
            "queue": [_number(c.value) for c in self.chips],
            "callers": [caller_json(self, c) for c in callers],
            "step": {"n": self.step_n, "of": self.step_of, "call": self.step_text},
            "refused": {"call": self.refused_call, **self.refused} if self.refused else None,
        }


def caller_json(state: QueueState, c: Caller) -> dict[str, Any]:
    w = state.thread(c.name)
    proc = state.procs.get(w.pid) if w is not None else None
    return {
        "name": c.name,
        "call": c.text,
        "phase": state.phase(c),
        "result": _number(c.result) if c.result is not None else None,
        "exception": c.exception,
        "after_s": c.after_s,
        "pid": w.pid if w is not None else 0,
        "tid": w.tid if w is not None else 0,
        "alive": bool(w is not None and w.alive),
        # A child process's exit code; a thread of main has none.
        "exitcode": proc.exitcode if proc is not None and not proc.main else None,
        "step": c.step,
    }


def _number(v: str) -> Any:
    return int(v) if v.isdigit() else v


def _settle(c: Caller, phase: str) -> None:
    if c.phase not in OUTCOMES:  # an outcome is final
        c.phase = phase


def _take(state: QueueState, v: str) -> None:
    """One item of this value left q: the oldest (FIFO) or the newest (LIFO)."""
    same = [i for i, chip in enumerate(state.chips) if chip.value == v]
    if not same:
        state.early[v] += 1
        return
    del state.chips[same[-1] if state.kind == "lifo" else same[0]]


def _on_queue(state: QueueState, e: Event, who: str) -> None:
    c = state.callers.setdefault(who, Caller(who)) if _CALLER.match(who) else None
    if e.kind in (K.PUT_WAIT, K.GET_WAIT) and c is not None:
        _settle(c, WAITING)
        c.why = "full" if e.kind == K.PUT_WAIT else "empty"
    elif e.kind in (K.PUT, K.GET):
        v = item_text((e.data or {}).get("v"))
        if e.kind == K.GET:
            _take(state, v)
        elif state.early[v]:
            state.early[v] -= 1  # its get came first
        else:
            state.chips.append(Chip(who, v))
        if c is not None:
            _settle(c, RETURNED)
            c.result = v
    elif e.kind in (K.FULL, K.EMPTY):
        exception = "queue.Full" if e.kind == K.FULL else "queue.Empty"
        state.raised[exception] += 1
        if c is not None:
            _settle(c, RAISED)
            c.exception = exception
            c.after_s = round(max(0.0, e.t - c.t_call), 3)


def _printed(state: QueueState, text: str, t: float) -> None:
    if m := _CALLS.match(text):
        c = state.callers.setdefault(m[1], Caller(m[1]))
        c.text, c.op, c.t_call = m[2], m[3], t
        timeout = _TIMEOUT.search(m[2])
        c.timeout = float(timeout[1]) if timeout else None
        c.step = c.number if state.step_of else 0  # the example: caller n makes step n
        _settle(c, CALLING)
    elif m := _STEP.match(text):
        state.step_n, state.step_of, state.step_text = int(m[1]), int(m[2]), m[3]
    elif m := _REFUSED.match(text):
        state.refused_call = m[1]
        side, every = _SIDE.match(m[2]), _ALL.match(m[2])
        if side is not None:
            state.refused = {"limit": "side", "alive": int(side[1]), "side": side[2]}
            state.refused |= {"most": int(side[3]), "other": side[4]}
        elif every is not None:
            state.refused = {"limit": "all", "alive": int(every[1]), "most": int(every[2])}
        else:
            state.refused = {"reason": m[2]}


def overlay(state: Any, e: Event) -> None:
    assert isinstance(state, QueueState)
    d = e.data or {}
    if e.kind == K.NEW and not state.queue_key and str(d.get("type", "")).endswith("Queue"):
        state.queue_key = e.item or ""
        size = int(d.get("maxsize") or 0)
        state.expr = f"{d.get('lib', '')}.{d.get('type', '')}({size or ''})"
    elif e.item and e.item == state.queue_key:
        _on_queue(state, e, state.names.get((e.pid, e.tid), e.worker))
    for line in state.printed:
        if line.stream == "stdout":
            _printed(state, line.text.strip(), line.t)
