"""Runs one user program under the tracer, watches its limits, and stops it.

::

    the program (own session, own temp dir)      this module (two threads per run)
    ---------------------------------------      ---------------------------------
    every process's tracer --- FIFO frames --->  reader: fifo.get() -> on_batch(batch)
                                                   counts events and printed bytes
    its processes (one session) <-- /proc ----  supervisor: run_start; every tick: is
      the first one's exit code <-- Popen --       main gone? a limit passed? quiet?
      watchdog on the life pipe  <-- held ----     stop: SIGTERM the session, then SIGKILL
                                                   cleanup: temp dir, FIFO; run_end

The program runs with the server user's rights: it is not a sandbox, only a
leash (limits on time, processes, threads, memory, output and events), and
a stop that ends every process of its session.

The supervisor's own events (run start and end, the first process's exit,
`quiet`, `limit`) go through `on_batch` like the program's, from the
supervisor thread; the Run orders nothing by arrival but the log.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import logging
import os
import queue
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from app import events, reasons
from app.budget import WorkerBudget
from app.programs import procfs
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.fifo import EventFifo
from app.programs.launch import launch
from app.programs.state import LIMIT, QUIET
from app.runthreads import RunThreads
from app.settings import Settings

log = logging.getLogger(__name__)

# A program whose processes send nothing for this long is "quiet": the hang
# diagnosis may speak (it never does while batches may still be on the way).
QUIET_S = 0.5
# Batches from different processes arrive out of step: each process flushes
# on its own, up to the tracer's flush interval (about 20 ms) apart. Held this
# long and handed over in time order, they make one history, and a frame
# never shows a state that never was (a consumer still waiting beside the item
# it took): design.md section 6, "frames show a consistent cut". The cost: the
# picture is this much behind the program.
HOLD_NS = 30_000_000
# How often the supervisor looks at the program's processes (/proc).
TICK_S = 0.1
# After SIGTERM, how long the session gets to end before SIGKILL. The
# resource tracker ignores SIGTERM and unlinks what the program leaked
# (shared memory, semaphores) once its last client is gone.
TERM_GRACE_S = 1.0
# After the first process ends, how long its orphans get before SIGKILL.
ORPHAN_GRACE_S = 0.3
# Where runs' directories live; a server killed with SIGKILL leaves its own
# behind, and the next server removes them (see `sweep`).
# One per user: another user's server on the same machine has its own.
BASE_DIR = Path(tempfile.gettempdir()) / f"concviz-programs-{os.getuid()}"
# Step mode's files in a run's directory (concviz_tracer/gate.py).
GATE_FILE = "gate"
GATE_SPEED_AT = 8  # where the run's speed is in it (a double)
# A lesson's live settings and the presenter's calls (concviz_live.py there).
LIVE_FILE = "live.json"
CALLS_DIR = "calls"
CALLS_WAITING = 32  # calls the program has not taken yet, at most
PERMITS_DIR = "permits"


@dataclass(frozen=True)
class Limits:
    """What a program may use. Reaching one stops the run, naming it."""

    seconds: float = 60.0
    processes: int = 16
    threads: int = 128
    memory_mb: int = 512
    output_kb: int = 1024
    events: int = 1_000_000


def limits_from(
    settings: Settings, time_limit_s: float, *, lesson: bool = False, workers: int = 0
) -> Limits:
    """A user's program gets `program_seconds`; a lesson's own program, the
    time any run gets, and room for the `workers` its run holds budget for
    (its form's bounds are the lesson's, not the programs' limits), and no
    cap on its events."""
    return Limits(
        seconds=time_limit_s if lesson else min(settings.program_seconds, time_limit_s),
        processes=max(settings.program_processes, workers + 1 if lesson else 0),
        threads=settings.program_threads,
        memory_mb=settings.program_memory_mb,
        output_kb=settings.program_output_kb,
        # A lesson's own program (an endless producer/consumer at full speed
        # makes a million events in 20 s) is bounded by its run's time, as
        # any run is: its recording and its ring of events have their own.
        events=sys.maxsize if lesson else settings.program_events,
    )


def sweep() -> None:
    """Remove the directories of runs whose server is gone (named
    `<server pid>-...`): a server killed with SIGKILL cleans up nothing."""
    with contextlib.suppress(FileNotFoundError):
        for entry in BASE_DIR.iterdir():
            pid = entry.name.split("-", 1)[0]
            if pid.isdigit() and not procfs.alive(int(pid)):
                shutil.rmtree(entry, ignore_errors=True)


class ProgramRuntime(RunThreads):
    backend = "process"

    def __init__(
        self,
        experiment: Any,
        params: BaseModel,
        on_batch: Any,
        budget: WorkerBudget,
        *,
        time_limit_s: float = 600.0,
        idle_limit_s: float = 0.0,
        settings: Settings | None = None,
    ) -> None:
        self.experiment = experiment
        self.params = params
        self._on_batch = on_batch
        self._budget = budget
        lesson = bool(getattr(experiment, "lesson", False))
        self.limits = limits_from(
            settings or Settings(),
            time_limit_s,
            lesson=lesson,
            workers=experiment.worker_count(params) if lesson else 0,
        )
        self._idle_limit_s = idle_limit_s
        self._lock = threading.Lock()
        self._stop_reason: str | None = None
        self._outcome = "finished"
        self._paused_at = 0.0
        self._paused_total = 0.0
        self._paused = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid = 0
        self._workdir: Path | None = None
        self._fifo: EventFifo | None = None
        self._life_w = -1
        self._events = 0
        self._printed = 0
        self._last_batch = time.monotonic()
        self._quiet_sent = False
        self._reading = True
        self._released = False
        # Budget slots the run holds: the caller took them for its first
        # workers; a lesson's live settings may take more (hold_workers).
        self._held = experiment.worker_count(params)
        self._merge_lock = threading.Lock()
        self._merging = True  # the supervisor's events go through the reader
        self._inbox: list[Any] = []
        self._gate_path: Path | None = None
        self._permits: Path | None = None
        self._stepping = False
        self._speed = float(getattr(params, "speed", 1.0))
        self._live: dict[str, Any] = dict(getattr(experiment, "live_settings", _none)(params))
        self._live_path: Path | None = None
        self._calls: Path | None = None
        self._sent = 0
        self._reader = threading.Thread(target=self._read, name="program-reader", daemon=True)
        self._supervisor = threading.Thread(
            target=self._supervise, name="program-supervisor", daemon=True
        )
        self.started_ns = time.monotonic_ns()

    # The Runtime interface the Run uses.

    def start(self) -> None:
        BASE_DIR.mkdir(mode=0o700, exist_ok=True)
        self._workdir = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=BASE_DIR))
        p = self.params.model_dump()
        script = self._workdir / self.experiment.script_name(p)
        script.write_text(self.experiment.script(p), encoding="utf-8")
        self._fifo = EventFifo(self._workdir)
        # Step mode's gate: one byte every process of the program maps, and
        # the directory where a permit for a thread appears (gate.py there).
        self._gate_path = self._workdir / GATE_FILE
        self._gate_path.write_bytes(b"\0" * GATE_SPEED_AT + struct.pack("d", self._speed))
        self._permits = self._workdir / PERMITS_DIR
        self._permits.mkdir(mode=0o700)
        self._live_path = self._workdir / LIVE_FILE
        self._write_live(self._live)
        self._calls = self._workdir / CALLS_DIR
        self._calls.mkdir(mode=0o700)
        life_r, self._life_w = os.pipe()
        try:
            self._proc = launch(
                script,
                list(p.get("args") or []),
                self._workdir,
                self._fifo.path,
                life_fd=life_r,
                gate_path=self._gate_path,
                live_path=self._live_path,
                calls_dir=self._calls,
            )
        finally:
            os.close(life_r)
        self._pid = self._proc.pid
        self._reader.start()
        self._supervisor.start()

    def stop(self, reason: str = "stopped", outcome: str = "stopped") -> None:
        with self._lock:
            if self._stop_reason is None:
                self._stop_reason = reason
                self._outcome = outcome

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self, pids: list[int]) -> bool:
        with self._lock:
            if self._stop_reason is not None or self._paused or not self._pid:
                return False
            self._paused = True
            self._paused_at = time.monotonic()
        self._signal_all(signal.SIGSTOP)
        return True

    def resume(self, pids: list[int]) -> bool:
        with self._lock:
            if not self._paused:
                return False
            self._paused = False
            self._paused_total += time.monotonic() - self._paused_at
            self._last_batch = time.monotonic()  # a pause is no idleness
        self._signal_all(signal.SIGCONT)
        return True

    def set_stepping(self, on: bool) -> None:
        """Step mode on: before each traced action a thread of the program
        says what it wants and waits for its permit. Off: they all go on."""
        with self._lock:
            if self._gate_path is None or self._stop_reason is not None:
                return
            self._clear_permits()  # a permit given under the old mode is void
            self._write_gate(0, b"\1" if on else b"\0")
            self._stepping = on
            self._last_batch = time.monotonic()

    def permit(self, slot: int) -> bool:
        """Let the thread whose native id is `slot` do its next action."""
        with self._lock:
            if not self._stepping or self._permits is None or slot <= 0:
                return False
            path = self._permits / str(slot)
            aside = self._permits / f".{slot}.new"
            try:
                aside.write_bytes(b"")
                os.replace(aside, path)  # the thread never sees half a permit
            except OSError:
                return False
            return True

    def _clear_permits(self) -> None:
        if self._permits is not None:
            for entry in self._permits.glob("*"):
                entry.unlink(missing_ok=True)

    def set_count(self, role_name: str, n: int) -> None:
        """A program has no roles to count."""

    def set_speed(self, speed: float) -> None:
        """Scale the program's sleeps: 2.0 sleeps half as long."""
        with self._lock:
            self._speed = speed
            if self._gate_path is None or self._stop_reason is not None:
                return
            self._write_gate(GATE_SPEED_AT, struct.pack("d", speed))

    def _write_gate(self, offset: int, data: bytes) -> None:
        assert self._gate_path is not None
        with contextlib.suppress(OSError):
            fd = os.open(self._gate_path, os.O_WRONLY)
            try:
                os.pwrite(fd, data, offset)
            finally:
                os.close(fd)

    def set_live(self, values: dict[str, Any]) -> None:
        """New values for the program's live settings (its constants' names)."""
        with self._lock:
            self._live.update(values)
            if self._workdir is not None and self._stop_reason is None:
                self._write_live(self._live)

    def _write_live(self, values: dict[str, Any]) -> None:
        assert self._workdir is not None
        aside = self._workdir / f".{LIVE_FILE}.new"
        with contextlib.suppress(OSError):
            aside.write_text(json.dumps(values), encoding="utf-8")
            os.replace(aside, self._workdir / LIVE_FILE)  # read whole or not at all

    def hold_workers(self, n: int) -> bool:
        """Room for `n` workers, when a lesson's live settings make its
        program start more: the budget for those past what the run holds
        (False, and nothing taken, at the cap), and a process limit to
        match. A lower count keeps what is held until the run ends: the
        workers asked to leave may still be finishing their item."""
        with self._lock:
            more = n - self._held
            if more <= 0 or self._released:
                return True
            if not self._budget.acquire(more):
                return False
            self._held = n
            self.limits = replace(self.limits, processes=max(self.limits.processes, n + 1))
            return True

    def send(self, command: Any) -> bool:
        """Hand the program a call (concviz_live.next_call); False when it
        has not taken the last `CALLS_WAITING` yet."""
        with self._lock:
            if self._calls is None or self._stop_reason is not None:
                return False
            try:
                if sum(1 for _ in self._calls.glob("*.json")) >= CALLS_WAITING:
                    return False
                self._sent += 1
                aside = self._calls / f".{self._sent:08d}.new"
                aside.write_text(json.dumps(command), encoding="utf-8")
                os.replace(aside, self._calls / f"{self._sent:08d}.json")
            except OSError:
                return False
            return True

    @property
    def held_workers(self) -> int:
        """Places under max_workers this run holds: one for a user's
        program (its own children count against its limits instead); a
        lesson's, one for each worker its program starts."""
        return 0 if self._released else self._held

    def alive_pids(self) -> list[int]:
        return procfs.session(self._pid) if self._pid else []

    # The two threads.

    def _emit(self, kind: str, data: dict[str, Any] | None = None, pid: int = 0) -> None:
        raw = (time.monotonic_ns(), "main", pid or os.getpid(), 0, kind, None, data)
        with self._merge_lock:  # in time order with the program's, while the reader runs
            if self._merging:
                self._inbox.append(raw)
                return
        self._on_batch([raw])

    def _read(self) -> None:
        fifo = self._fifo
        assert fifo is not None
        pending: list[Any] = []
        while True:
            try:
                batch = fifo.get(timeout=HOLD_NS / 2e9)
            except queue.Empty:
                batch = None
                if not self._reading:
                    break
            except (OSError, EOFError, ValueError):
                log.exception("program run: its events could not be read")
                self.stop(reasons.EVENTS_UNREADABLE, outcome="failed")
                if not self._reading:
                    break
                continue
            if batch:
                self._last_batch = time.monotonic()
                self._quiet_sent = False
                self._events += len(batch)
                for raw in batch:
                    if raw[4] == K.OUT and raw[6]:
                        self._printed += len(str(raw[6].get("text", "")))
                pending += batch
            with self._merge_lock:
                pending += self._inbox
                self._inbox.clear()
            self._hand_over(pending, time.monotonic_ns() - HOLD_NS)
        with self._merge_lock:
            self._merging = False
            pending += self._inbox
            self._inbox.clear()
        self._hand_over(pending, None)

    def _hand_over(self, pending: list[Any], cutoff: int | None) -> None:
        """Hand over, oldest first, the events stamped before `cutoff` (all
        of them if None); the rest stay in `pending`."""
        if not pending or (cutoff is not None and min(r[0] for r in pending) > cutoff):
            return
        pending.sort(key=_stamp)
        n = len(pending) if cutoff is None else bisect.bisect_right(pending, cutoff, key=_stamp)
        ready = pending[:n]
        del pending[:n]
        try:
            self._on_batch(ready)
        except Exception:
            log.exception("handing a batch of events over failed")

    def _supervise(self) -> None:
        # No backend to name: the program chooses processes and threads itself.
        self._emit(events.RUN_START, {"backend": "", "params": self.params.model_dump()})
        proc = self._proc
        assert proc is not None
        try:
            while proc.poll() is None:
                if self._stop_reason is not None:
                    break
                self._check_limits()
                self._check_quiet()
                time.sleep(TICK_S)
            if self._stop_reason is None:
                # The first process ended; its orphans (if any) go too.
                self._end_session(ORPHAN_GRACE_S, term_first=False)
            else:
                self._end_session(TERM_GRACE_S, term_first=True)
            code = proc.wait()
            self._emit(K.EXIT, {"exitcode": code}, pid=self._pid)
        except Exception as exc:
            log.exception("program supervisor failed")
            self.stop(reasons.INTERNAL_ERROR % {"error": exc}, outcome="failed")
            self._end_session(0.0, term_first=False)
        finally:
            self._close()

    def _check_quiet(self) -> None:
        if self._paused or self._stepping:  # the class is meant to wait: no idleness
            return
        idle = time.monotonic() - self._last_batch
        if 0 < self._idle_limit_s < idle:
            from app.runtime import idle_reason  # app.runtime imports the experiments

            self.stop(idle_reason(self._idle_limit_s), outcome="stopped")
        if idle >= QUIET_S and not self._quiet_sent:
            self._quiet_sent = True
            self._emit(QUIET, {"s": QUIET_S})

    def _check_limits(self) -> None:
        if self._paused:
            return
        lim = self.limits
        elapsed = time.monotonic() - self.started_ns / 1e9 - self._paused_total
        stats = procfs.session_stats(self._pid)
        printed = self._printed + self._file_bytes()
        checks = (
            ("seconds", elapsed, lim.seconds, reasons.PROGRAM_TIME),
            ("processes", stats.processes, lim.processes, reasons.PROGRAM_PROCESSES),
            ("threads", stats.threads, lim.threads, reasons.PROGRAM_THREADS),
            ("memory_mb", stats.max_rss_mb, lim.memory_mb, reasons.PROGRAM_MEMORY),
            ("output_kb", printed / 1024, lim.output_kb, reasons.PROGRAM_OUTPUT),
            ("events", self._events, lim.events, reasons.PROGRAM_EVENTS),
        )
        for name, value, limit, reason in checks:
            if value > limit:
                self._emit(LIMIT, {"limit": name, "value": value, "max": limit})
                self.stop(reason % {"n": _number(limit)}, outcome="stopped")
                return

    def _file_bytes(self) -> int:
        """What the program wrote past Python's streams (C code, subprocesses)."""
        total = 0
        if self._workdir is not None:
            for name in ("stdout.txt", "stderr.txt"):
                with contextlib.suppress(OSError):
                    total += (self._workdir / name).stat().st_size
        return total

    def _signal_all(self, sig: int) -> None:
        for pid in procfs.session(self._pid) if self._pid else []:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    def _end_session(self, grace: float, *, term_first: bool) -> None:
        """End every process of the program's session: SIGTERM (if asked),
        a grace to end on their own, then SIGKILL for what is left."""
        if not self._pid:
            return
        self._signal_all(signal.SIGCONT)  # a stopped process cannot die of SIGTERM
        if term_first:
            self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not procfs.session(self._pid):
                break
            if self._proc is not None:
                self._proc.poll()  # reap the first one, so it leaves the list
            time.sleep(0.02)
        for _ in range(50):
            left = procfs.session(self._pid)
            if not left:
                break
            for pid in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            if self._proc is not None:
                self._proc.poll()
            time.sleep(0.02)

    def _close(self) -> None:
        # Whatever the last processes wrote is in the FIFO: the reader reads
        # on until it has been empty for a moment, then ends.
        self._reading = False
        self._reader.join(timeout=5.0)
        with self._lock:
            reason = self._stop_reason
            outcome = self._outcome if reason is not None else "finished"
        self._emit(
            events.RUN_END,
            {
                "outcome": outcome,
                "reason": reason or self.experiment.notes.get("finished", "the program ended"),
            },
        )
        if self._life_w >= 0:
            os.close(self._life_w)
            self._life_w = -1
        if self._fifo is not None:
            self._fifo.close()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        with self._lock:
            self._budget.release(self._held)
            self._released = True


def _none(params: Any) -> dict[str, Any]:
    return {}


def _stamp(raw: Any) -> int:
    return int(raw[0])


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
