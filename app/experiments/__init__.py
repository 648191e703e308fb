"""The experiments, one module each, and the catalogue that lists them.

Each experiment module defines `EXPERIMENT`. One that does not exist yet is
listed as coming, with no page and no parameters: nothing on the index
pretends to work.
"""

from __future__ import annotations

import importlib

from app.experiments.spec import Experiment
from app.i18n import N_

__all__ = ["EXPERIMENTS", "Experiment"]

# slug, module, title, summary, lecture part: in the order of the lecture's
# lessons as the index shows them.
_CATALOGUE = (
    (
        "producer-consumer",
        "producer_consumer",
        N_("Producer / consumer"),
        N_("Producers and consumers, each a real process, share one bounded queue."),
        "5",
    ),
    (
        "queue",
        "queue_calls",
        N_("The queue, call by call"),
        N_("put, get, put_nowait, get_nowait and timeouts on one bounded queue; FIFO vs LIFO."),
        "3-4",
    ),
    (
        "joinable",
        "joinable",
        N_("When does it end?"),
        N_("The hang after the producers finish, then JoinableQueue, daemons and the sentinel."),
        "6-7",
    ),
    (
        "threads",
        "threads",
        N_("What a thread is"),
        N_("Two ways to start a thread; threads share a global, a child process does not."),
        "8-10",
    ),
    (
        "daemon",
        "daemon",
        N_("Daemon threads and processes"),
        N_("Who outlives whom, on a timeline."),
        "11",
    ),
    (
        "lock",
        "lock",
        N_("The lock race"),
        N_("Read, sleep, write: lost updates without a lock, none with one."),
        "12",
    ),
    (
        "ipc",
        "ipc",
        N_("Pipes, files, sockets, shared memory"),
        N_("The lecture's claims about each way to talk, measured live."),
        "2",
    ),
    (
        "broker",
        "broker",
        N_("A queue on a real broker"),
        N_(
            "Producers and consumers, each a process, share a Redis stream; kill a consumer"
            " mid-item and watch its item claimed by another."
        ),
        "5+",
    ),
    (
        "program",
        "program",
        N_("Your own program"),
        N_("Paste any Python program and watch its real processes, threads, queues and locks."),
        "4-12",
    ),
)


def _load() -> dict[str, Experiment]:
    out: dict[str, Experiment] = {}
    for slug, module, title, summary, part in _CATALOGUE:
        try:
            mod = importlib.import_module(f"app.experiments.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"app.experiments.{module}":
                raise
            out[slug] = Experiment(slug, title, summary, part)
            continue
        exp: Experiment = mod.EXPERIMENT
        assert exp.slug == slug, f"{module}.EXPERIMENT has slug {exp.slug!r}, expected {slug!r}"
        out[slug] = exp
    return out


EXPERIMENTS: dict[str, Experiment] = _load()
