"""Starts, watches and stops the real workers of one run.

::

    worker processes / threads            this module (two threads per run)
    --------------------------            ---------------------------------
    Tracer batches --- event queue ---->  reader: get() -> on_batch(batch)
                                                          (the web layer hands it
    process sentinels, wake pipe ------>  supervisor: start / retire workers,
                                            turn exits into events, send the
                                            sentinels, stop sequence, run_end

The supervisor sends its own events (run start and end, sentinels, worker
exits) through the same event queue as the workers, after the worker's own
batches: a process has written its last batch before its sentinel fires, so
a worker's `exit` always comes after its last event.

Stopping: set the stop flag, keep draining the event queue while joining
with a timeout, then terminate, then kill. Queues and flags are new for
every run and never reused.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.context
import multiprocessing.forkserver
import multiprocessing.util
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from app import events, reasons, worker
from app.budget import WorkerBudget
from app.eventpipe import EventPipe
from app.experiments.spec import Experiment, Role
from app.instrument import ItemQueue, Signals, Tracer
from app.runthreads import RunThreads

log = logging.getLogger(__name__)

# How long a stopping worker gets to leave on its own before terminate(),
# and then before kill(). Workers check the stop flag every POLL_S (50 ms).
STOP_GRACE_S = 2.0
KILL_GRACE_S = 1.0
# Batches that may wait in a run's event queue (threads; for processes the
# bound is the event pipe's buffer, see app.eventpipe). When the server cannot
# keep up (32 workers at zero delay saturate this 2-core machine), workers
# block on their next flush instead of the backlog, and the lag of the page,
# growing without end. The cost: a flooded server slows the run down.
EVENT_QUEUE_BATCHES = 64
# How long the server's own events wait for room in the event pipe, which a
# reader gone would never make.
EVENT_PUT_TIMEOUT_S = 5.0
# Calls waiting for a program's main to take them (see Runtime.send).
COMMAND_QUEUE_SIZE = 64
# Workers a run can schedule by hand in step mode (see Signals.permits).
MAX_SLOTS = 256
_CLOSE = "close"  # the last message on a run's event queue

OnBatch = Callable[[list[events.RawEvent]], None]


class CapReached(Exception):
    """Starting these workers would pass the cap on live workers."""


_context: multiprocessing.context.ForkServerContext | None = None
_context_lock = threading.Lock()


def context(preload: Sequence[str] = ()) -> multiprocessing.context.ForkServerContext:
    """The forkserver context, with the worker modules preloaded: the server
    is multi-threaded (plain fork is unsafe) and spawn is slow to start.
    Python 3.11 does not preload `__main__`, so without a list every child
    would import the app again."""
    global _context
    with _context_lock:
        if _context is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["app.worker", *preload])
            _context = ctx
        return _context


def warm_up(preload: Sequence[str] = ()) -> None:
    """Start the fork server now, so that the first run starts fast."""
    context(preload)
    multiprocessing.forkserver.ensure_running()


def shut_down() -> None:
    """At the server's shutdown, once every run has ended: do now what
    multiprocessing's atexit hook would do, above all remove the directory
    of the fork server's socket (/tmp/pymp-*). uvicorn re-raises SIGTERM
    after its graceful shutdown, the process dies of it, and no atexit hook
    runs: every SIGTERM left one such directory behind. `_exit_function` is
    private, but it is that very hook (unchanged since 3.4), and it runs once
    (atexit calls it again for nothing)."""
    multiprocessing.util._exit_function()  # type: ignore[attr-defined]


def idle_reason(limit_s: float) -> str:
    """Why a run ended after `limit_s` seconds with nothing happening."""
    if limit_s >= 60 and limit_s % 60 == 0:
        return reasons.IDLE_MINUTES % {"minutes": f"{limit_s / 60:g}"}
    return reasons.IDLE_SECONDS % {"seconds": f"{limit_s:g}"}


@dataclass
class _Slot:
    name: str
    role: Role
    handle: Any  # multiprocessing Process or threading.Thread
    retire: Any  # the worker's retire flag
    pid: int = 0
    counted: bool = True  # still one of its role's count
    alive: bool = True
    exitcode: int | None = None

    @property
    def number(self) -> int:
        return int(self.name[len(self.role.prefix) :])


class _ThreadFlag:
    def __init__(self, value: float) -> None:
        self.value = value


class Runtime(RunThreads):
    def __init__(
        self,
        experiment: Experiment,
        params: BaseModel,
        on_batch: OnBatch,
        budget: WorkerBudget,
        *,
        time_limit_s: float = 600.0,
        idle_limit_s: float = 0.0,
    ) -> None:
        self.experiment = experiment
        self.params = params
        self.backend: str = (
            "process" if experiment.main_in_process else getattr(params, "backend", "process")
        )
        self._params_dict = params.model_dump()
        self._on_batch = on_batch
        self._budget = budget
        # A program's main starts children the runtime never sees; the caller
        # holds budget for them too (Experiment.workers_needed), given back
        # when the run closes.
        self._program_slots = max(
            0, experiment.worker_count(params) - sum(r.count(params) for r in experiment.roles)
        )
        self._time_limit_s = time_limit_s
        # The run ends itself after this long with no event from any worker
        # while it is neither paused nor in step mode (0: never); see
        # _idle_over.
        self._idle_limit_s = idle_limit_s
        self._last_event = time.monotonic()
        self._lock = threading.Lock()
        self._slots: list[_Slot] = []
        self._pending = {r.name: 0 for r in experiment.roles}
        self._starting = {r.name: 0 for r in experiment.roles}
        self._retire_on_start = {r.name: 0 for r in experiment.roles}
        self._numbers = {r.name: itertools.count(1) for r in experiment.roles}
        self._stop_reason: str | None = None
        self._closed = False
        self._paused_at = 0.0
        self._paused_total = 0.0  # seconds; the time limit does not count them
        self._outcome = "finished"
        self._draining = False
        self._sentinels_owed = 0
        self._sentinel_numbers = itertools.count(1)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

        if self.backend == "process":
            ctx = context(experiment.modules)
            self._ctx: Any = ctx
            capacity = getattr(params, "capacity", 0)
            self._item_q: Any = ItemQueue(capacity, ctx=ctx)
            self._event_q: Any = EventPipe(ctx, put_timeout=EVENT_PUT_TIMEOUT_S)
            self._commands: Any = ctx.Queue(COMMAND_QUEUE_SIZE) if experiment.takes_calls else None
            self._stop_flag: Any = ctx.RawValue("b", 0)
            self._paused: Any = ctx.RawValue("b", 0)
            self._stepping: Any = ctx.RawValue("b", 0)
            self._gate: Any = ctx.RawValue("b", 0)
            self._permits: Any = ctx.RawArray("i", MAX_SLOTS)
            self._next_slot: Any = ctx.RawValue("i", 0)
            self._speed: Any = ctx.RawValue("d", float(getattr(params, "speed", 1.0)))
        else:
            self._ctx = None
            self._item_q = queue.Queue(getattr(params, "capacity", 0))
            self._event_q = queue.Queue(EVENT_QUEUE_BATCHES)
            self._commands = queue.Queue(COMMAND_QUEUE_SIZE) if experiment.takes_calls else None
            self._stop_flag = _ThreadFlag(0)
            self._paused = _ThreadFlag(0)
            self._stepping = _ThreadFlag(0)
            self._gate = _ThreadFlag(0)
            self._permits = [0] * MAX_SLOTS
            self._next_slot = _ThreadFlag(0)
            self._speed = _ThreadFlag(float(getattr(params, "speed", 1.0)))
        self._main = Tracer(self._event_q, "main")
        self._reader = threading.Thread(target=self._read, name="run-reader", daemon=True)
        self._supervisor = threading.Thread(
            target=self._supervise, name="run-supervisor", daemon=True
        )
        self._reader_give_up = False
        self.started_ns = time.monotonic_ns()

    # Called from the event loop: quick, never blocking for long.

    def start(self) -> None:
        """Begin the run. The caller holds budget slots for every worker."""
        for role in self.experiment.roles:
            self._pending[role.name] = role.count(self.params)
        self._reader.start()
        self._supervisor.start()

    def set_count(self, role_name: str, n: int) -> None:
        """Change how many workers of a role run. Raises CapReached (and
        changes nothing) when the new ones would pass the cap."""
        with self._lock:
            if self._stop_reason is not None or self._closed:
                return
            members = self._members(role_name)
            if n > members:
                if not self._budget.acquire(n - members):
                    raise CapReached
                self._pending[role_name] += n - members
            else:
                surplus = members - n
                cancelled = min(surplus, self._pending[role_name])
                self._pending[role_name] -= cancelled
                if cancelled:
                    self._budget.release(cancelled)
                surplus -= cancelled
                alive = [s for s in self._slots if s.role.name == role_name and s.counted]
                for slot in sorted(alive, key=lambda s: (not s.alive, -s.number)):
                    if surplus == 0:
                        break
                    slot.counted = False
                    slot.retire.value = 1
                    surplus -= 1
                self._retire_on_start[role_name] += surplus
        self._wake()

    def send(self, command: Any) -> bool:
        """Hand a call to the program's main; False when too many wait."""
        if self._commands is None or self._stop_reason is not None:
            return False
        try:
            self._commands.put_nowait(command)
        except queue.Full:
            return False
        return True

    def set_speed(self, speed: float) -> None:
        self._speed.value = float(speed)

    def set_live(self, values: dict[str, Any]) -> None:
        """A program's live settings: its workers read the params instead."""

    def pause(self, pids: list[int]) -> bool:
        """Pause the run: threads wait at their next traced action, and the
        given worker processes are stopped by the OS. False if it is over."""
        with self._lock:
            if self._stop_reason is not None or self._closed or self._paused.value:
                return False
            self._paused.value = 1
            self._paused_at = time.monotonic()
            self._update_gate()
        self._signal(pids, signal.SIGSTOP)
        return True

    def resume(self, pids: list[int]) -> bool:
        with self._lock:
            if not self._paused.value:
                return False
            self._paused_total += time.monotonic() - self._paused_at
        self._signal(pids, signal.SIGCONT)
        self._paused.value = 0
        self._update_gate()
        return True

    def set_stepping(self, on: bool) -> None:
        """Step mode on: every traced action waits for a permit. Off: the
        waiting workers go on at once."""
        self._stepping.value = 1 if on else 0
        self._update_gate()

    def permit(self, slot: int) -> bool:
        """Let the worker in `slot` do its next action."""
        if not 0 <= slot < MAX_SLOTS or not self._stepping.value:
            return False
        self._permits[slot] += 1
        return True

    def _update_gate(self) -> None:
        self._gate.value = 1 if (self._paused.value or self._stepping.value) else 0

    @property
    def paused(self) -> bool:
        return bool(self._paused.value)

    @staticmethod
    def _signal(pids: list[int], sig: int) -> None:
        me = os.getpid()
        for pid in pids:
            if pid and pid != me:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)

    def stop(self, reason: str = "stopped", outcome: str = "stopped") -> None:
        with self._lock:
            if self._stop_reason is None:
                self._stop_reason = reason
                self._outcome = outcome
        self._stop_flag.value = 1
        self._wake()

    @property
    def held_workers(self) -> int:
        """Places under max_workers this run holds now: its workers alive,
        starting or about to start, and those kept for a program's children."""
        with self._lock:
            alive = sum(1 for s in self._slots if s.alive)
            waiting = sum(self._pending.values()) + sum(self._starting.values())
            return alive + waiting + self._program_slots

    def alive_pids(self) -> list[int]:
        with self._lock:
            return [s.pid for s in self._slots if s.alive]

    # Internals.

    def _members(self, role_name: str) -> int:
        counted = sum(1 for s in self._slots if s.role.name == role_name and s.counted)
        return (
            counted
            + self._pending[role_name]
            + self._starting[role_name]
            - self._retire_on_start[role_name]
        )

    def _wake(self) -> None:
        with self._lock:
            if self._wake_w < 0:
                return  # the run is over
            with contextlib.suppress(BlockingIOError):  # wake-ups are waiting already
                os.write(self._wake_w, b"x")

    def _emit_main(
        self, kind: str, item: str | None = None, data: dict[str, Any] | None = None
    ) -> None:
        self._main.emit(kind, item, data)
        self._main.flush()

    def _read(self) -> None:
        while True:
            try:
                batch = self._event_q.get(timeout=0.25)
            except (OSError, EOFError):  # closed under us after a give-up
                return
            except queue.Empty:
                if self._reader_give_up:
                    log.error("run event queue did not close; giving up on it")
                    return
                continue
            except Exception:  # a message that is no batch: skip it, and end the run
                log.exception(
                    "run of %s: a message on its event queue is unreadable", self.experiment.slug
                )
                self.stop(reasons.EVENTS_UNREADABLE, outcome="failed")
                continue
            if batch == _CLOSE:
                return
            self._last_event = time.monotonic()
            try:
                self._on_batch(batch)
            except Exception:  # the reader must outlive a bad consumer
                log.exception("handing a batch of events over failed")

    def _supervise(self) -> None:
        deadline = time.monotonic() + self._time_limit_s
        self._emit_main(
            events.RUN_START, data={"backend": self.backend, "params": self._params_dict}
        )
        try:
            while True:
                self._reconcile()
                self._wait(0.1)
                self._reap()
                if self._stop_reason is not None:
                    break
                self._drain()
                if self._finished():
                    break
                if time.monotonic() > deadline + self._paused_total and not self.paused:
                    minutes = self._time_limit_s / 60
                    reason = reasons.TIME_LIMIT % {"minutes": f"{minutes:g}"}
                    self.stop(reason, outcome="stopped")
                    break
                if self._idle_over():
                    self.stop(idle_reason(self._idle_limit_s), outcome="stopped")
                    break
        except Exception as exc:
            log.exception("run supervisor failed")
            self.stop(reasons.INTERNAL_ERROR % {"error": exc}, outcome="failed")
        finally:
            self._stop_flag.value = 1
            self._stop_all()
            self._close()

    def _idle_over(self) -> bool:
        """Nothing has happened for the idle limit: no worker sent an event
        (a hang: everyone blocked; a playground nobody presses). Paused and
        step mode stop this clock: there the class is meant to wait."""
        now = time.monotonic()
        if self._gate.value:
            self._last_event = now
            return False
        return 0 < self._idle_limit_s < now - self._last_event

    def _reconcile(self) -> None:
        for role in self.experiment.roles:
            while True:
                with self._lock:
                    if self._stop_reason is not None or self._pending[role.name] == 0:
                        break
                    if role.name == self.experiment.source_role and self._draining:
                        break
                    self._pending[role.name] -= 1
                    self._starting[role.name] += 1
                try:
                    slot = self._start_worker(role)
                except BaseException:
                    with self._lock:
                        self._starting[role.name] -= 1
                    self._budget.release(1)
                    raise
                with self._lock:
                    self._starting[role.name] -= 1
                    self._slots.append(slot)
                    if self._retire_on_start[role.name]:
                        self._retire_on_start[role.name] -= 1
                        slot.counted = False
                        slot.retire.value = 1
                if role.name == self.experiment.drain_role and self._draining:
                    self._sentinels_owed += 1

    def _signals(self, retire: Any) -> Signals:
        return Signals(
            self._stop_flag,
            retire,
            self._speed,
            self._paused,
            self._stepping,
            self._permits,
            self._next_slot,
            gate=self._gate,
        ).with_new_slot()

    def _start_worker(self, role: Role) -> _Slot:
        name = role.fixed_name or f"{role.prefix}{next(self._numbers[role.name])}"
        spec = worker.WorkerSpec(name, role.name, role.fn, self._params_dict)
        if self._ctx is not None:
            retire = self._ctx.RawValue("b", 0)
            signals = self._signals(retire)
            proc = self._ctx.Process(
                target=worker.run_process,
                args=(spec, self._item_q, self._event_q, signals, self._commands),
                name=name,
            )
            proc.start()
            return _Slot(name, role, proc, retire, pid=proc.pid or 0)
        retire = _ThreadFlag(0)
        signals = self._signals(retire)
        slot = _Slot(name, role, None, retire, pid=os.getpid())

        def target() -> None:
            try:
                slot.exitcode = worker.run(
                    spec, self._item_q, self._event_q, signals, self._commands
                )
            finally:
                self._wake()

        thread = threading.Thread(target=target, name=name, daemon=True)
        slot.handle = thread
        thread.start()
        return slot

    def _wait(self, timeout: float) -> None:
        with self._lock:
            sentinels = [
                s.handle.sentinel for s in self._slots if s.alive and self._ctx is not None
            ]
        multiprocessing.connection.wait([self._wake_r, *sentinels], timeout)
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _reap(self) -> None:
        with self._lock:
            candidates = [s for s in self._slots if s.alive]
        for slot in candidates:
            if self._ctx is not None:
                if slot.handle.exitcode is None:
                    continue
                slot.handle.join()
                slot.exitcode = slot.handle.exitcode
                slot.handle.close()
            else:
                if slot.handle.is_alive():
                    continue
                slot.handle.join()
            self._exited(slot)

    def _exited(self, slot: _Slot) -> None:
        with self._lock:
            slot.alive = False
            slot.counted = slot.counted and slot.role.name == self.experiment.source_role
        self._budget.release(1)
        code = slot.exitcode
        self._event_q.put(
            [(time.monotonic_ns(), slot.name, slot.pid, 0, events.EXIT, None, {"exitcode": code})]
        )
        if code and self._stop_reason is None:
            reason = reasons.CRASHED % {"worker": slot.name, "code": code}
            self.stop(reason, outcome="failed")

    def _drain(self) -> None:
        """Once every source worker has ended, end the drain role's workers
        with one sentinel each."""
        source, drain = self.experiment.source_role, self.experiment.drain_role
        if not source:
            return
        with self._lock:
            if not self._draining:
                sources_left = (
                    self._pending[source]
                    + self._starting[source]
                    + sum(1 for s in self._slots if s.role.name == source and s.alive)
                )
                if sources_left:
                    return
                self._draining = True
                self._sentinels_owed += sum(
                    1 for s in self._slots if s.role.name == drain and s.alive and s.counted
                )
        while self._sentinels_owed:
            label = f"{events.SENTINEL_PREFIX}{next(self._sentinel_numbers)}"
            try:
                self._item_q.put_nowait(label)
            except queue.Full:
                return  # try again on the next round
            self._sentinels_owed -= 1
            self._emit_main(events.SENTINEL_PUT, label)

    def _finished(self) -> bool:
        with self._lock:
            if not self.experiment.drain_role:  # a program: done when all are gone
                busy = any(self._pending.values()) or any(self._starting.values())
                return not busy and not any(s.alive for s in self._slots)
            if not self._draining:
                return False
            drain = self.experiment.drain_role
            return not any(s.alive for s in self._slots) and not (
                self._pending[drain] or self._starting[drain]
            )

    def _stop_all(self) -> None:
        """Join with a timeout while the reader keeps draining, then terminate,
        then kill."""
        with self._lock:
            alive = [s for s in self._slots if s.alive]
        deadline = time.monotonic() + STOP_GRACE_S
        for slot in alive:
            slot.handle.join(max(0.0, deadline - time.monotonic()))
        if self._ctx is not None:
            for slot in alive:
                if slot.handle.exitcode is None:
                    slot.handle.terminate()
            deadline = time.monotonic() + KILL_GRACE_S
            for slot in alive:
                slot.handle.join(max(0.0, deadline - time.monotonic()))
                if slot.handle.exitcode is None:
                    slot.handle.kill()
                    slot.handle.join()
        else:
            stuck = [s.name for s in alive if s.handle.is_alive()]
            if stuck:
                log.error("threads did not stop: %s", ", ".join(stuck))
        self._reap()

    def _close(self) -> None:
        with self._lock:
            self._closed = True
            pending = sum(self._pending.values())
            for role in self._pending:
                self._pending[role] = 0
        if pending:
            self._budget.release(pending)
        if self._program_slots:
            self._budget.release(self._program_slots)
            self._program_slots = 0
        outcome = self._outcome if self._stop_reason is not None else "finished"
        default = "every item was consumed" if self.experiment.drain_role else "the program ended"
        reason = self._stop_reason or self.experiment.notes.get("finished", default)
        self._emit_main(events.RUN_END, data={"outcome": outcome, "reason": reason})
        self._event_q.put(_CLOSE)
        self._reader.join(timeout=5.0)
        if self._reader.is_alive():
            self._reader_give_up = True
            self._reader.join(timeout=1.0)
        if self._ctx is not None:
            for q in (self._item_q, self._event_q, self._commands):
                if q is not None:
                    q.cancel_join_thread()
                    q.close()
        # Drop every reference to the queues (the worker Process objects hold
        # them too), so that their named semaphores are unlinked now: uvicorn
        # re-raises SIGTERM after shutdown, and then no atexit hook runs.
        with self._lock:
            self._slots.clear()
        self._item_q = self._event_q = self._commands = None
        with self._lock:
            wake_w, self._wake_w = self._wake_w, -1
        os.close(wake_w)
        os.close(self._wake_r)
