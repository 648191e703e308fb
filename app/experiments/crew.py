"""Producers and consumers by their names, for the lessons whose programs
name them P1, P2, ... and C1, C2, ... (producer-consumer, broker): each
one's role and number, and what their programs print about them (a
producer that left because main wanted fewer, and the accounting at the
end). A worker joined from another machine is "<host>/consumer" or
"<host>/producer" (`app.joining`)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from app.programs.state import ProgramState, ThreadView

ROLES = ("producer", "consumer")
_WORKER = re.compile(r"([PC])(\d+)$")
_LEAVES = re.compile(r"(P\d+) leaves: fewer producers wanted$")
# Printed lines that tell the outcome (hidden while the result is).
OUTCOME = re.compile(r"^accounting:")


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
    made: dict[str, int] = field(default_factory=dict)  # producer -> items it put
    left: dict[str, str] = field(default_factory=dict)  # worker -> why: "fewer", "sentinel"
    accounting: str = ""  # the program's last word


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
