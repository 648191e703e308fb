"""What the IPC lesson keeps beside the program's stage, read from the trace.

The program prints one line per fact (``os_pipe: one way messages=40
bytes=2560 seconds=0.02``): the machine's facts, the plan, each way's set-up,
each side's phase and progress, its figures and its outcome. The tracer
sees the processes (pids, who is alive, who was killed) but nothing inside
an ``os.write`` or a copy into shared memory: those figures are the
program's own. A pause that falls inside a measurement is marked (its times
include it).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from app import events
from app.events import Event
from app.programs.state import ConsoleLine, ProgramState

MEMCPY = "memcpy"
WAITING, MEASURING, DONE = "waiting", "measuring", "ok"
FAILED, SKIPPED, STOPPED = "failed", "skipped", "stopped"
CONNECTING, ROUND_TRIPS, ONE_WAY = "connecting", "round_trips", "one_way"

_LINE = re.compile(r"^(\w+): ([^=]*?)(?: (\w+=.*))?$")
_VALUE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')
_SIDE = re.compile(r"^([SR]\d+) (connected|round_trips|one_way)$")
# A way's figures, each the line of its name: the field of Figures it fills.
_FIGURES = {"round trips": "rtt", "one way": "one_way", "checked": "verified"}
_FACTS = frozenset({"set up", *_FIGURES, DONE, FAILED, SKIPPED})


def values(text: str) -> dict[str, Any]:
    """``a=1 b="two words" c=true`` as {"a": 1, "b": "two words", "c": True}."""
    out: dict[str, Any] = {}
    for name, raw in _VALUE.findall(text or ""):
        try:
            out[name] = json.loads(raw)
        except ValueError:
            out[name] = raw
    return out


@dataclass
class Figures:
    """What is known about one way so far."""

    key: str
    status: str = WAITING
    phase: str = ""
    done: int = 0
    sender: str = ""
    receiver: str = ""
    setup: dict[str, Any] = field(default_factory=dict)
    side_calls: dict[str, int] = field(default_factory=dict)  # worker -> calls
    rtt: dict[str, Any] | None = None
    one_way: dict[str, Any] | None = None
    verified: dict[str, Any] | None = None
    reason: str = ""
    paused: bool = False  # a pause fell inside it: its times include the pause

    @property
    def calls(self) -> int:
        return int(self.setup.get("calls", 0)) + sum(self.side_calls.values())

    @property
    def mb_s(self) -> float | None:
        o = self.one_way
        if not o or o.get("seconds", 0) <= 0 or not o.get("bytes"):
            return None
        return float(o["bytes"] / o["seconds"] / 1e6)

    @property
    def msg_s(self) -> float | None:
        o = self.one_way
        if not o or o.get("seconds", 0) <= 0 or not o.get("messages"):
            return None
        return float(o["messages"] / o["seconds"])

    @property
    def p50_us(self) -> float | None:
        return float(self.rtt["p50_us"]) if self.rtt and self.rtt.get("count") else None

    @property
    def p99_us(self) -> float | None:
        return float(self.rtt["p99_us"]) if self.rtt and self.rtt.get("count") else None

    @property
    def intact(self) -> bool | None:
        """Every byte arrived as sent; None until both checks are in."""
        if self.rtt is None or self.one_way is None or self.verified is None:
            return None
        v, o = self.verified, self.one_way
        return bool(
            self.rtt.get("bad", 0) == 0
            and v.get("bad", 0) == 0
            and v.get("messages") == o.get("messages")
            and v.get("bytes") == o.get("bytes")
            and o.get("acknowledged", True)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "sender": self.sender,
            "receiver": self.receiver,
            "setup_calls": self.calls,
            "setup": self.setup,
            "paused": self.paused,
            "mb_s": self.mb_s,
            "msg_s": self.msg_s,
            "p50_us": self.p50_us,
            "p99_us": self.p99_us,
            "round_trips": self.rtt,
            "one_way": self.one_way,
            "verified": self.verified,
            "intact": self.intact,
        }


@dataclass
class IpcState(ProgramState):
    plan: list[str] = field(default_factory=list)
    payload: int = 0  # bytes per message
    facts: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Figures] = field(default_factory=dict)
    current: str = ""  # the way being measured now
    phases: dict[str, str] = field(default_factory=dict)  # worker -> its phase

    def fig(self, key: str) -> Figures:
        return self.figures.setdefault(key, Figures(key))

    def order(self) -> list[str]:
        return self.plan + [k for k in self.figures if k not in self.plan]

    def ways(self) -> list[str]:
        """The ways between two processes, in order: all but the memory copy."""
        return [k for k in self.order() if k != MEMCPY]

    def measured(self) -> list[Figures]:
        """The figures of each way so far, in order."""
        return [self.figures[k] for k in self.ways() if k in self.figures]

    def lesson_counters(self) -> dict[str, Any]:
        figs = self.measured()
        return {
            "planned": len(self.ways()),
            "measured": sum(1 for f in figs if f.status == DONE),
            "intact": sum(1 for f in figs if f.intact),
            "failed": sum(1 for f in figs if f.status == FAILED),
            "skipped": sum(1 for f in figs if f.status == SKIPPED),
        }

    def lesson(self) -> dict[str, Any]:
        results = {k: self.figures[k].to_dict() for k in self.order() if k in self.figures}
        return {"results": results, "facts": self.facts}


def _line(state: IpcState, line: ConsoleLine) -> None:
    m = _LINE.match(line.text.strip())
    if m is None:
        return
    key, what, data = m.group(1), m.group(2), values(m.group(3) or "")
    if key == "machine":
        state.facts = data
        return
    if key == "plan":
        state.plan = what.split()
        state.payload = int(data.get("payload_bytes", 0))
        return
    side = _SIDE.match(what)
    if side is None and what not in _FACTS:
        return  # not one of the report's lines (the accounting, say)
    f = state.fig(key)
    if side is not None:
        worker, phase = side.groups()
        state.phases[line.worker] = phase
        if phase == "connected":
            f.side_calls[worker] = int(data.get("calls", 0))
        elif worker == f.sender and f.status == MEASURING:
            f.phase, f.done = phase, int(data.get("done", 0))
        return
    if what == "set up":
        f.sender, f.receiver = str(data.pop("sender", "")), str(data.pop("receiver", ""))
        f.setup = data
        f.status, f.phase = MEASURING, CONNECTING
        state.current = key
    elif what in _FIGURES:
        setattr(f, _FIGURES[what], data)
        if key == MEMCPY and what == "round trips":  # the memory copy has no set-up line
            f.status = MEASURING
    elif what in (DONE, FAILED, SKIPPED):
        f.status, f.reason, f.phase = what, str(data.get("reason", "")), ""
        if state.current == key:
            state.current = ""


def overlay(state: Any, event: Event) -> None:
    for line in state.printed:
        if line.stream == "stdout":
            _line(state, line)
    if event.kind == events.PAUSE:
        for f in state.figures.values():
            if f.status == MEASURING:
                f.paused = True
    elif event.kind == events.RUN_END:
        for f in state.figures.values():  # cut short between its lines
            if f.status == MEASURING:
                f.status, f.phase = (STOPPED if state.status == "stopped" else FAILED), ""
        state.current = ""
