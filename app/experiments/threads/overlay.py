"""What the threads lesson keeps beside the program's stage, read from the
trace: the act main is in (its printed headings), who printed first in each
round (the program's own lines; the tracer sees nothing inside the race),
and the two halves of the memory act: who changed `x`, in which process and
thread, and what main read back. Pids and thread ids are the tracer's."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from app.events import Event
from app.programs.state import ConsoleLine, ProgramState, ThreadView

ACTS = ("ways", "race", "memory")
_ACT = re.compile(r"act ([123]):")
_ROUND = re.compile(r"round (\d+): (child|main) printed first")
_SETS_OR_READS = re.compile(r"(\w+) (sets|reads) x = (\d+)$")
_MAIN_READS = re.compile(r"main reads x = (\d+) after the (thread|child process)")
# Printed lines that tell the outcome (hidden while the result is).
OUTCOME = re.compile(r"^(round \d+:|tally:|main reads x|accounting:)")


@dataclass
class MemorySide:
    """One half of act 3: main sets the global, a changer (thread or
    process) changes it, main reads it back."""

    set_to: int | None = None
    changer: str = ""
    changer_pid: int = 0
    changer_tid: int = 0
    seen: int | None = None  # what the changer read before writing
    wrote: int | None = None
    main_read: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "set_to": self.set_to,
            "changer": self.changer,
            "changer_pid": self.changer_pid,
            "changer_tid": self.changer_tid,
            "child_saw": self.seen,
            "child_wrote": self.wrote,
            "main_read": self.main_read,
        }


@dataclass
class ThreadsState(ProgramState):
    act: str = ""
    rounds: dict[int, str] = field(default_factory=dict)  # round -> who printed first
    round_tids: dict[int, int] = field(default_factory=dict)
    memory: dict[str, MemorySide] = field(
        default_factory=lambda: {"thread": MemorySide(), "process": MemorySide()}
    )

    def lesson_counters(self) -> dict[str, Any]:
        """The race's tally."""
        firsts = list(self.rounds.values())
        return {
            "rounds": len(firsts),
            "child_first": firsts.count("child"),
            "main_first": firsts.count("main"),
        }

    def lesson(self) -> dict[str, Any]:
        return {
            "tally": self.lesson_counters(),
            "memory": {mode: side.to_dict() for mode, side in self.memory.items()},
        }

    def named(self, name: str) -> ThreadView | None:
        """The program's thread of this name (`name=` in the program)."""
        return next((w for w in self.threads() if (w.thread_name or w.name) == name), None)


def _side(state: ThreadsState) -> MemorySide:
    """The half of act 3 under way: the thread's until main read it back."""
    half = state.memory["thread"]
    return half if half.main_read is None else state.memory["process"]


def _line(state: ThreadsState, line: ConsoleLine) -> None:
    text = line.text.strip()
    if m := _ACT.match(text):  # acts only go forward
        state.act = max(state.act or ACTS[0], ACTS[int(m.group(1)) - 1], key=ACTS.index)
    elif m := _ROUND.match(text):
        n = int(m.group(1))
        state.rounds[n] = m.group(2)
        racer = state.named(f"R{n}")
        state.round_tids[n] = racer.tid if racer is not None else 0
    elif m := _MAIN_READS.match(text):
        _side(state).main_read = int(m.group(1))
    elif m := _SETS_OR_READS.match(text):
        side = _side(state)
        who, value = m.group(1), int(m.group(3))
        if who == "main":
            side.set_to = value
            return
        w = state.workers.get(line.worker)
        side.changer = who
        if w is not None:
            side.changer_pid, side.changer_tid = w.pid, w.tid
        if m.group(2) == "sets":
            side.wrote = value
        else:
            side.seen = value


def overlay(state: Any, event: Event) -> None:
    for line in state.printed:
        if line.stream == "stdout":
            _line(state, line)
