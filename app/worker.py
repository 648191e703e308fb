"""The life of one worker, in its own process or thread.

`run_process` is the target of every worker process the server starts: it
starts a watchdog that ends the process when its parent dies
(PR_SET_PDEATHSIG does not work under forkserver, whose child's parent is the
fork server), then `run`s the experiment's function. `run` is also the
thread backend's target.

A program's `main` starts children of its own with `start_process` and
`start_thread`; they report to the same event queue, and a child process
has a watchdog on `main` in turn.

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
    sink: Sink
    signals: Signals
    commands: Any = None  # calls from the server, for programs that take them
    rng: random.Random = field(default_factory=random.Random)
    # `w.emit(...)` is the tracer's own method (a call less per event).
    emit: Callable[..., None] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.emit = self.tracer.emit

    def flush(self) -> None:
        self.tracer.flush()

    def work(self, min_ms: float, max_ms: float) -> None:
        """Simulated work: a random delay in [min_ms, max_ms], scaled by speed."""
        if max_ms > 0:
            self.pacer.work(self.rng.uniform(min_ms, max_ms))
        elif self.signals.stop.value:  # no delay: only see whether to stop
            raise Stopped

    def sleep(self, ms: float) -> None:
        """A delay of `ms` at speed 1, scaled by the run's live speed."""
        self.pacer.work(ms)

    def retiring(self) -> bool:
        return bool(self.signals.retire.value)

    def stopping(self) -> bool:
        return bool(self.signals.stop.value)


WorkerFn = Callable[[Worker], None]


@dataclass(frozen=True)
class WorkerSpec:
    name: str
    role: str
    fn: WorkerFn  # a top-level function, so that it pickles by reference
    params: dict[str, Any]


def make_worker(
    spec: WorkerSpec, item_q: Any, sink: Sink, signals: Signals, commands: Any = None
) -> Worker:
    tracer = Tracer(sink, spec.name, signals)
    pacer = Pacer(signals, tracer)
    return Worker(
        spec.name,
        spec.role,
        spec.params,
        tracer,
        TracedQueue(item_q, tracer, pacer),
        pacer,
        sink,
        signals,
        commands,
    )


def run(spec: WorkerSpec, item_q: Any, sink: Sink, signals: Signals, commands: Any = None) -> int:
    """Run one worker to its end; returns the exit code it should have."""
    worker = make_worker(spec, item_q, sink, signals, commands)
    tracer = worker.tracer
    tracer.emit(events.START, data={"role": spec.role, "slot": signals.slot})
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
    except Exception as exc:  # any failure becomes data
        tracer.emit(
            events.CRASH,
            data={"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()},
        )
        tracer.flush()
        return 1
    tracer.flush()
    return 0


def start_watchdog() -> None:
    """End this process as soon as the process that started it is gone."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    sentinel = parent.sentinel

    def watch() -> None:
        multiprocessing.connection.wait([sentinel])
        os._exit(70)

    threading.Thread(target=watch, name="watchdog", daemon=True).start()


def run_process(
    spec: WorkerSpec, item_q: Any, sink: Sink, signals: Signals, commands: Any = None
) -> None:
    start_watchdog()
    code = run(spec, item_q, sink, signals, commands)
    if code:
        raise SystemExit(code)


def _run_forked_child(spec: WorkerSpec, item_q: Any, sink: Sink, signals: Signals) -> None:
    # A sink that is a multiprocessing.Queue reached main by unpickling, and
    # Queue.__setstate__ (CPython 3.11-3.13) does not register the after-fork
    # reset that Queue.__init__ does: without it this child would inherit
    # main's feeder thread state, and its events would sit in a buffer nobody
    # sends (or block on a lock main's feeder held at the fork). The run's
    # event pipe has no feeder, and nothing to reset.
    after_fork = getattr(sink, "_after_fork", None)
    if after_fork is not None:
        after_fork()
    run_process(spec, item_q, sink, signals)


# Children of a program's main. They use the fork start method: main is a
# fresh process of its own (its only other thread is the watchdog), and fork
# is what the lecture's programs get on Linux.
_fork = multiprocessing.get_context("fork")


def _child_spec(
    parent: Worker, name: str, role: str, fn: WorkerFn, params: dict[str, Any] | None
) -> WorkerSpec:
    parent.flush()  # the parent's story so far comes before the child's
    return WorkerSpec(name, role, fn, params if params is not None else parent.params)


def start_process(
    parent: Worker,
    name: str,
    role: str,
    fn: WorkerFn,
    item_q: Any = None,
    *,
    daemon: bool = False,
    params: dict[str, Any] | None = None,
) -> multiprocessing.process.BaseProcess:
    """Start a traced child process of `parent` (a program's main)."""
    spec = _child_spec(parent, name, role, fn, params)
    proc = _fork.Process(
        target=_run_forked_child,
        args=(spec, item_q, parent.sink, parent.signals.with_new_slot()),
        name=name,
        daemon=daemon,
    )
    proc.start()
    return proc


def start_thread(
    parent: Worker,
    name: str,
    role: str,
    fn: WorkerFn,
    item_q: Any = None,
    *,
    daemon: bool = False,
    params: dict[str, Any] | None = None,
) -> threading.Thread:
    """Start a traced thread in the parent's process."""
    spec = _child_spec(parent, name, role, fn, params)
    thread = threading.Thread(
        target=run,
        args=(spec, item_q, parent.sink, parent.signals.with_new_slot()),
        name=name,
        daemon=daemon,
    )
    thread.start()
    return thread
