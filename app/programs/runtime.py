"""Runs one user program under the tracer, watches its limits, and stops it.

::

    the program (own session, own temp dir)      this module (two threads per run)
    ---------------------------------------      ---------------------------------
    every process's tracer --- FIFO frames --->  reader: fifo.get() -> on_batch(batch)
                                                   counts events and printed bytes
    its processes (one session) <-- /proc ----  supervisor: every tick (after run_start): is
      the first one's exit code <-- Popen --       main gone? a limit passed? quiet? stalls?
      watchdog on the life pipe  <-- held ----     stop: SIGTERM the session, then SIGKILL
                                                   cleanup: temp dir, FIFO; run_end

The program runs with the server user's rights: it is not a sandbox, only a
leash (limits on time, processes, threads, memory, output and events), and
a stop that ends every process of its session.

The reader's work is `app.programs.merge`, the limits `app.programs.limits`,
the files that steer the running program (step mode's gate and permits, live
settings, calls) `app.programs.controls`, what it says of a quiet program
`app.programs.lookout`, and ending its processes `app.programs.session`;
this module runs them.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from app import events, reasons
from app.budget import Share, WorkerBudget
from app.programs import procfs
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.controls import Controls
from app.programs.deaths import Deaths
from app.programs.launch import TraceOptions, launch
from app.programs.limits import ended_by_itself, file_bytes, first_passed, limits_from
from app.programs.lookout import Lookout
from app.programs.merge import EventMerge
from app.programs.outside import Outside
from app.programs.rundirs import RunDir
from app.programs.session import ORPHAN_GRACE_S, TERM_GRACE_S, end_session, kill_member, signal_all
from app.programs.state import LIMIT
from app.settings import Settings

log = logging.getLogger(__name__)

# How often the supervisor looks at the program's processes (/proc).
TICK_S = 0.1
# How often it asks what the run took from outside (the broker) if it serves.
OUTSIDE_CHECK_S = 1.0


class ProgramRuntime:
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
        self._limit: dict[str, Any] | None = None  # the limit it passed
        self._ending_ns = 0  # when its processes were asked to end
        self._exit_code: int | None = None  # the first process's, once it is reaped
        self._paused_at = 0.0
        self._paused_total = 0.0
        self._paused = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid = 0
        self._deaths = Deaths(0)
        self._dir: RunDir | None = None
        self._workdir: Path | None = None
        self._life_w = -1
        # What the run takes from outside its program (the broker's
        # database): its env (REDIS_URL) while it holds it, its joined
        # workers' own (`guest_env`, `revoke_guest`).
        self.outside = Outside()
        # Budget slots the run holds: the caller took them for its first
        # workers; a lesson's live settings may take more (hold_workers).
        self._share = Share(budget, experiment.worker_count(params))
        self._merge = EventMerge(
            on_batch, lambda: self.stop(reasons.EVENTS_UNREADABLE, outcome="failed")
        )
        self._stepping = False
        self._lookout = Lookout(self._merge)
        self._speed = float(getattr(params, "speed", 1.0))
        live_settings = getattr(experiment, "live_settings", None)
        self._live: dict[str, Any] = dict(live_settings(params)) if live_settings else {}
        self._reader = threading.Thread(target=self._read, name="program-reader", daemon=True)
        self._supervisor = threading.Thread(
            target=self._supervise, name="program-supervisor", daemon=True
        )
        self.started_ns = time.monotonic_ns()

    # The Runtime interface the Run uses.

    def start(self) -> None:
        self.outside.take(self.experiment)
        try:
            self._start()
        except BaseException:
            self.outside.give_back()
            raise

    def _start(self) -> None:
        p = self.params.model_dump()
        run_dir = self._dir = RunDir(
            self.experiment.script_name(p), self.experiment.script(p), self._speed, self._live
        )
        self._workdir, controls = run_dir.path, run_dir.controls
        life_r, self._life_w = os.pipe()
        try:
            self._proc = launch(
                run_dir.script,
                list(p.get("args") or []),
                self._workdir,
                run_dir.fifo.path,
                TraceOptions(
                    life_fd=life_r,
                    gate_path=controls.gate_path,
                    live_path=controls.live_path,
                    calls_dir=controls.calls,
                    extra_env=self.outside.env,
                ),
                stdin_text=str(p.get("stdin") or ""),
            )
        finally:
            os.close(life_r)
        self._pid = self._merge.main_pid = self._proc.pid
        self._deaths = Deaths(self._pid)
        # First of its events, before any of the program's: it says the run
        # goes (running, not starting) and with what. No backend to name: the
        # program chooses processes and threads itself.
        self._merge.emit(events.RUN_START, {"backend": "", "params": self.params.model_dump()})
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

    def pause(self) -> bool:
        with self._lock:
            if self._stop_reason is not None or self._paused or not self._pid:
                return False
            self._paused = True
            self._paused_at = time.monotonic()
        signal_all(self._pid, signal.SIGSTOP)
        return True

    def terminate(self) -> bool:
        """Ask every process of the program to end on its own (SIGTERM),
        before a stop that does not wait long (`stop`: SIGTERM, a grace,
        SIGKILL). False once it is stopping or ended."""
        with self._lock:
            if self._stop_reason is not None or not self._pid:
                return False
        signal_all(self._pid, signal.SIGTERM)
        return True

    def resume(self) -> bool:
        with self._lock:
            if not self._paused:
                return False
            self._paused = False
            self._paused_total += time.monotonic() - self._paused_at
            self._merge.last_batch = time.monotonic()  # a pause is no idleness
        signal_all(self._pid, signal.SIGCONT)
        return True

    def set_stepping(self, on: bool) -> None:
        """Step mode on: before each traced action a thread of the program
        says what it wants and waits for its permit. Off: they all go on."""
        with self._lock:
            if (controls := self._controls()) is None:
                return
            controls.set_stepping(on)
            self._stepping = on
            self._merge.last_batch = time.monotonic()

    def permit(self, slot: int) -> bool:
        """Let the thread whose native id is `slot` do its next action."""
        with self._lock:
            controls = self._controls()
            return self._stepping and slot > 0 and controls is not None and controls.permit(slot)

    def set_speed(self, speed: float) -> None:
        """Scale the program's sleeps: 2.0 sleeps half as long."""
        with self._lock:
            self._speed = speed
            if (controls := self._controls()) is not None:
                controls.set_speed(speed)

    def set_live(self, values: dict[str, Any]) -> None:
        """New values for the program's live settings (its constants' names)."""
        with self._lock:
            self._live.update(values)
            if (controls := self._controls()) is not None:
                controls.write_live(self._live)

    def hold_workers(self, n: int) -> bool:
        """Room for `n` workers, when a lesson's live settings make its
        program start more: the budget for those past what the run holds
        (False, and nothing taken, at the cap), and a process limit to
        match. A lower count keeps what is held until the run ends: the
        workers asked to leave may still be finishing their item."""
        with self._lock:
            if not self._share.grow(n):
                return False
            self.limits = replace(self.limits, processes=max(self.limits.processes, n + 1))
            return True

    def kill(self, pid: int) -> bool:
        """SIGKILL one process of the program (a consumer the class wants to
        see die mid-item). False unless `pid` is a live process of this
        run's session; a pidfd makes sure the signal reaches that process,
        not one that took its pid since."""
        with self._lock:
            if self._proc is None or self._stop_reason is not None:
                return False
            return kill_member(self._pid, pid)

    def send(self, command: Any) -> bool:
        """Hand the program a call (concviz_live.next_call); False when it
        has not taken the last `CALLS_WAITING` yet."""
        with self._lock:
            controls = self._controls()
            return controls is not None and controls.send(command)

    def _controls(self) -> Controls | None:
        """The files that steer the program while it runs (under the lock)."""
        return None if self._dir is None or self._stop_reason is not None else self._dir.controls

    @property
    def held_workers(self) -> int:
        """Places under max_workers this run holds: one for a user's
        program (its own children count against its limits instead); a
        lesson's, one for each worker its program starts."""
        return self._share.held

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the supervisor, then the reader; False if either still runs."""
        self._supervisor.join(timeout)
        if self._supervisor.is_alive():
            return False
        self._reader.join(timeout)
        return not self._reader.is_alive()

    @property
    def done(self) -> bool:
        return not self._supervisor.is_alive() and not self._reader.is_alive()

    # The two threads.

    def _read(self) -> None:
        assert self._dir is not None
        self._merge.read(self._dir.fifo)

    def _supervise(self) -> None:
        proc = self._proc
        assert proc is not None
        try:
            checked = time.monotonic()
            while proc.poll() is None:
                if self._stop_reason is not None:
                    break
                if not self._paused:
                    found = procfs.members(self._pid)
                    self._check_limits(found)
                    self._check_quiet(found)
                self._say_output()
                if time.monotonic() - checked >= OUTSIDE_CHECK_S:
                    self._check_outside()
                    checked = time.monotonic()
                time.sleep(TICK_S)
            if self._stop_reason is None and proc.returncode:
                # A program that failed may have failed because what it
                # used from outside went away: then that is the run's reason.
                self._check_outside()
            # Stopped: the whole program is asked to end. Else the first
            # process ended; its orphans (if any) go too.
            stopping = self._stop_reason is not None
            grace = TERM_GRACE_S if stopping else ORPHAN_GRACE_S
            self._ending_ns = time.monotonic_ns()
            end_session(self._pid, proc, grace, term_first=stopping, workdir=self._workdir)
            code = self._exit_code = proc.wait()
            self._merge.emit(K.EXIT, {"exitcode": code}, pid=self._pid)
        except Exception as exc:
            log.exception("program supervisor failed")
            self.stop(reasons.INTERNAL_ERROR % {"error": exc}, outcome="failed")
            end_session(self._pid, self._proc, 0.0, term_first=False, workdir=self._workdir)
        finally:
            self._close()

    def _check_quiet(self, found: procfs.Members) -> None:
        """Idleness, and who waits in the kernel. In step mode all wait for
        the class's go-ahead: no limit on idleness, and no stalls; `quiet`
        still lets the page name a lock cycle made step by step."""
        idle = time.monotonic() - self._merge.last_batch
        if not self._stepping and 0 < self._idle_limit_s < idle:
            self.stop(reasons.idle_reason(self._idle_limit_s), outcome="stopped")
        self._lookout.quiet(idle)
        if not self._stepping:
            self._lookout.stalls(found)

    def _check_limits(self, found: procfs.Members) -> None:
        elapsed = time.monotonic() - self.started_ns / 1e9 - self._paused_total
        for dead in self._deaths.check(found):
            self._merge.emit(K.REAPED, dead)
        stats = procfs.session_stats(self._pid, found)
        passed = first_passed(
            self.limits,
            seconds=elapsed,
            processes=stats.processes,
            threads=stats.threads,
            memory_mb=stats.max_rss_mb,
            output_kb=(self._merge.printed + file_bytes(self._workdir)) / 1024,
            events=self._merge.events,
        )
        if passed is not None:
            with self._lock:  # the run's reason, unless another came first
                if self._stop_reason is None:
                    self._limit = {"limit": passed.name, "value": passed.value, "max": passed.limit}
            self.stop(passed.reason, outcome="stopped")

    def _close(self) -> None:
        # Whatever the last processes wrote is in the FIFO: the reader reads
        # on until it has been empty for a moment, then ends.
        self._merge.reading = False
        self._reader.join(timeout=5.0)
        self._say_output(final=True)
        with self._lock:
            reason = self._stop_reason
            outcome = self._outcome if reason is not None else "finished"
        if self._limit is not None:  # what the server counts trails the program
            merge = self._merge
            code, term = merge.main_code_ended, merge.main_handles_term
            if ended_by_itself(code, self._ending_ns, self._exit_code, term):
                reason, outcome = None, "finished"
            else:
                self._merge.emit(LIMIT, self._limit)
        if self._life_w >= 0:
            os.close(self._life_w)
            self._life_w = -1
        if self._dir is not None:
            self._dir.remove()
        self.outside.give_back()
        self._share.release()
        # Said last: a run shown ended has given everything back, so a
        # Start right after it finds its workers' slots free.
        # Ended by itself: a crash is the program's own business (it still
        # finished), said in its reason.
        reason = reason or reasons.program_ended(self._exit_code)
        self._merge.emit(
            events.RUN_END,
            {
                "outcome": outcome,
                "reason": reason or self.experiment.notes.get("finished", "the program ended"),
            },
        )

    def _say_output(self, final: bool = False) -> None:
        """What the program wrote past Python's streams (`app.programs.output`)."""
        if self._dir is None:
            return
        self._merge.written_past_python(self._dir.output.lines(final), final)

    def _check_outside(self) -> None:
        why = self.outside.gone()
        if why:
            self.stop(why, outcome="failed")
