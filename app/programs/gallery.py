"""The example programs the programs page offers, in the lecture's order.

Each is a plain `.py` file in `examples/`, runnable with `python` alone; its
optional first argument scales its delays (the tests run them at 0.01).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.i18n import N_

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"


@dataclass(frozen=True)
class Example:
    name: str  # the file's stem, and the page's ?example=
    title: str
    summary: str
    part: str  # of the lecture
    args: tuple[str, ...] = ()

    @property
    def filename(self) -> str:
        return f"{self.name}.py"

    def source(self) -> str:
        return (EXAMPLES_DIR / self.filename).read_text(encoding="utf-8")


EXAMPLES = (
    Example(
        "queue_calls",
        N_("The queue, call by call"),
        N_("put and get on a queue of 3: blocking, block=False and timeouts raise Full or Empty."),
        "4",
    ),
    Example(
        "cook_and_eater",
        N_("A cook and an eater"),
        N_("One process cooks ten dishes at its own pace, another eats them from the queue."),
        "5",
    ),
    Example(
        "endless_eater",
        N_("It never ends"),
        N_("The cook is done, but the eater waits for the next dish for ever."),
        "6",
    ),
    Example(
        "joinable_hotdogs",
        N_("JoinableQueue and daemons"),
        N_("Three cooks, two daemon eaters: task_done, join, and the eaters cut off at the end."),
        "7",
    ),
    Example(
        "two_ways_to_thread",
        N_("Two ways to start a thread"),
        N_("Thread(target=...) and a subclass with run(); the print order is not fixed."),
        "9",
    ),
    Example(
        "shared_global",
        N_("Threads share, processes do not"),
        N_("A thread changes a global and main sees it; a child process cannot."),
        "10",
    ),
    Example(
        "daemon_thread",
        N_("A daemon thread"),
        N_("The daemon thread is cut off when the last ordinary thread ends."),
        "11",
    ),
    Example(
        "lock_race",
        N_("The lock race"),
        N_("Ten threads read, sleep and write a counter: updates are lost."),
        "12",
    ),
    Example(
        "lock_fixed",
        N_("The lock race, fixed"),
        N_("The same ten threads with a Lock around read-sleep-write: none is lost."),
        "12",
    ),
    Example(
        "value_race",
        N_("Processes share a Value"),
        N_(
            "Four processes add 1 to a multiprocessing.Value: counter.value += 1 is a read, "
            "then a write, and updates are lost."
        ),
        "12",
    ),
    Example(
        "deadlock",
        N_("Two locks, a deadlock"),
        N_("Two threads take two locks in opposite orders and wait for each other for ever."),
        "12",
    ),
)


def find(name: str) -> Example | None:
    return next((e for e in EXAMPLES if e.name == name), None)
