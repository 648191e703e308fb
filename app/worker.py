"""The life of one worker, in its own process or thread.

`run_process` is the target of every worker process: it starts a watchdog
that ends the process when the server dies (PR_SET_PDEATHSIG does not work
under forkserver, whose child's parent is the fork server), then `run`s the
experiment's function. `run` is also the thread backend's target.

A worker's failure travels as data: an exception becomes a `crash` event
with its traceback, and the process exits with code 1.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import random
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app import events
from app.instrument import Pacer, Retired, Signals, Sink, Stopped, TracedQueue, Tracer


@dataclass
class Worker:
    """What an experiment's worker function gets to work with."""

    name: str
    role: str
    params: dict[str, Any]
    tracer: Tracer
    queue: TracedQueue
    pacer: Pacer
    rng: random.Random = field(default_factory=random.Random)

    def emit(self, kind: str, item: str | None = None, data: dict[str, Any] | None = None) -> None:
        self.tracer.emit(kind, item, data)

    def work(self, min_ms: float, max_ms: float) -> None:
        """Simulated work: a random delay in [min_ms, max_ms], scaled by speed."""
        self.pacer.work(self.rng.uniform(min_ms, max_ms) if max_ms > 0 else 0.0)

    def retiring(self) -> bool:
        return self.pacer.retiring()


WorkerFn = Callable[[Worker], None]


@dataclass(frozen=True)
class WorkerSpec:
    name: str
    role: str
    fn: WorkerFn  # a top-level function, so that it pickles by reference
    params: dict[str, Any]


def run(spec: WorkerSpec, item_q: Any, sink: Sink, signals: Signals) -> int:
    """Run one worker to its end; returns the exit code it should have."""
    tracer = Tracer(sink, spec.name)
    pacer = Pacer(signals, tracer)
    worker = Worker(
        spec.name, spec.role, spec.params, tracer, TracedQueue(item_q, tracer, pacer), pacer
    )
    tracer.emit(events.START, data={"role": spec.role})
    try:
        spec.fn(worker)
        tracer.emit(events.FINISH, data={"reason": "done"})
    except Retired:
        tracer.emit(events.FINISH, data={"reason": "retired"})
    except Stopped:
        tracer.emit(events.FINISH, data={"reason": "stopped"})
        # Whatever this worker still buffers for the item queue is moot now;
        # never let process exit wait on a pipe nobody may read.
        cancel = getattr(item_q, "cancel_join_thread", None)
        if cancel is not None:
            cancel()
    except Exception as exc:  # noqa: BLE001 - any failure becomes data
        tracer.emit(
            events.CRASH,
            data={"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()},
        )
        tracer.flush()
        return 1
    tracer.flush()
    return 0


def start_watchdog() -> None:
    """End this process as soon as the server that asked for it is gone."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    sentinel = parent.sentinel

    def watch() -> None:
        multiprocessing.connection.wait([sentinel])
        os._exit(70)

    threading.Thread(target=watch, name="watchdog", daemon=True).start()


def run_process(spec: WorkerSpec, item_q: Any, sink: Sink, signals: Signals) -> None:
    start_watchdog()
    code = run(spec, item_q, sink, signals)
    if code:
        raise SystemExit(code)
