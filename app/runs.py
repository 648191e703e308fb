"""A run as the server sees it: its lifecycle, its events folded into its
state, and its recording (`app.registry` starts and steers the runs; the
web layer draws them, `app.web.frames`).

Everything here runs on the event loop, except the runtime's own threads,
whose batches arrive through `loop.call_soon_threadsafe` (the only bridge
from threads to the loop).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from app import events, recording
from app.budget import WorkerBudget
from app.experiments import Experiment
from app.model import ENDED, fold
from app.programs.runtime import ProgramRuntime
from app.recording import Recorder
from app.settings import Settings

log = logging.getLogger(__name__)

# Batches handed to the loop and not yet folded, per run (see Run.start).
INFLIGHT_BATCHES = 8
# Events an ended, wholly recorded run keeps in memory (a live one keeps
# settings.event_buffer): 50,000 events take about 12 MB (tracemalloc), and
# the server keeps up to settings.keep_runs ended runs.
ENDED_RING = 1000
# Events the recorder may have waiting before a run's reader waits for it
# (see _wait_for_recorder): about 20 MB. Smaller slows a full-speed run for
# nothing; larger is memory.
RECORDER_BACKLOG = 65_536
RECORDER_WAIT_S = 2.0


def _wait_for_recorder(recorder: Recorder) -> None:
    """Block the calling reader thread while the recorder is behind.

    The recorder's queue has no bound: at full speed (16x16 workers, about
    65,000 events/s here) SQLite fell hundreds of thousands of events behind
    and the server grew by 100 MB a minute (bench/memory.py). Waiting here
    stops the reader, the run's bounded event queue fills, and the workers
    wait on it: the run slows down to what can be recorded. Never longer
    than RECORDER_WAIT_S per batch, so that a writer that died cannot stall
    a run."""
    if recorder.backlog <= RECORDER_BACKLOG:
        return
    deadline = time.monotonic() + RECORDER_WAIT_S
    while recorder.backlog > RECORDER_BACKLOG and time.monotonic() < deadline:
        time.sleep(0.005)


class NotFound(Exception):
    pass


class LimitReached(Exception):
    """A start or a change would pass a limit; the message says which. A
    refused start also says which setting (`limit`), how many workers it
    wanted, and which runs hold the limit (for a page to offer to stop them)."""

    def __init__(
        self, message: str, limit: str = "", holders: list[Run] | None = None, wanted: int = 0
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.holders = holders or []
        self.wanted = wanted


class NotLive(Exception):
    """A parameter that cannot change while the run goes on."""


class Run:
    def __init__(
        self,
        run_id: str,
        experiment: Experiment,
        params: BaseModel,
        settings: Settings,
        recorder: Recorder | None = None,
    ) -> None:
        self.id = run_id
        self.experiment = experiment
        self.params = params
        self.created = datetime.now(UTC)
        self.state = experiment.new_state()
        self.state.params = params.model_dump()
        self._fold = experiment.fold or fold
        self.runtime: ProgramRuntime | None = None
        # Asks another machine to kill a process of the run that runs there
        # (a worker joined from it, `app.joining`); None: none can join.
        self.kill_elsewhere: Callable[[int], bool] | None = None
        self.settings = settings
        self._events: deque[events.Event] = deque(maxlen=settings.event_buffer)
        self._seq = 0
        self._start_ns = 0
        self._changed = asyncio.Event()
        # Goes up with every change a page shows (events, the hidden result).
        self.revision = 0
        self._releaser: asyncio.Task[None] | None = None
        self.ended = asyncio.Event()
        self._pauses: list[list[int]] = []  # [start_ns, end_ns or 0]
        # "Predict, then reveal": the presenter hides the result until asked.
        self.result_hidden = False
        self._inflight = threading.BoundedSemaphore(INFLIGHT_BATCHES)
        self.recorder: Recorder | None = recorder
        # Events handed to the recording, and how many it takes (0: all).
        self.recorded = 0
        self.record_limit = settings.record_limit
        if recorder is not None:
            recorder.begin(run_id, experiment.slug, params.model_dump(), self.created.isoformat())

    # Life.

    def start(self, budget: WorkerBudget, time_limit_s: float, idle_limit_s: float = 0.0) -> None:
        """Start the workers. The caller holds budget slots for all of them."""
        loop = asyncio.get_running_loop()

        recorder = self.recorder

        def hand_over(batch: list[events.RawEvent]) -> None:
            # Runs on the reader thread. Waiting for a free slot here passes
            # back-pressure on to the workers when the loop falls behind, and
            # waiting for the recorder, when the recording does.
            self._inflight.acquire()
            if recorder is not None:
                _wait_for_recorder(recorder)
            try:
                loop.call_soon_threadsafe(self._ingest_handed_over, batch)
            except RuntimeError:  # the loop is closed: nobody will ingest it
                self._inflight.release()

        limits = {"time_limit_s": time_limit_s, "idle_limit_s": idle_limit_s}
        assert self.experiment.runtime is not None, "a built experiment has a runtime"
        runtime = self.experiment.runtime(
            self.experiment, self.params, hand_over, budget, settings=self.settings, **limits
        )
        self.runtime = runtime
        self._start_ns = runtime.started_ns
        runtime.start()
        self._releaser = loop.create_task(self._release_when_ended(), name=f"run-{self.id}")

    def _ingest_handed_over(self, batch: list[events.RawEvent]) -> None:
        try:
            self.ingest(batch)
        finally:
            self._inflight.release()

    def pause(self) -> bool:
        """Pause for real: every process of the program is stopped by the
        OS (SIGSTOP); the run's clock stops too."""
        if self.runtime is None or self.ended.is_set():
            return False
        if not self.runtime.pause():
            return False
        self._pauses.append([time.monotonic_ns(), 0])
        self._main_event(events.PAUSE)
        return True

    def resume(self) -> bool:
        if self.runtime is None or not self.runtime.resume():
            return False
        self._pauses[-1][1] = time.monotonic_ns()
        self._main_event(events.RESUME)
        return True

    def set_hidden(self, hidden: bool) -> None:
        self.result_hidden = hidden
        self._changed_now()

    def _changed_now(self) -> None:
        self.revision += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    @property
    def final(self) -> bool:
        """No frame will follow: the run has ended and its result is shown.
        An ended run whose result is hidden keeps its viewers' streams open,
        so that the reveal reaches every screen."""
        return self.ended.is_set() and not self.result_hidden

    def set_stepping(self, on: bool) -> bool:
        """Step mode: the class chooses, action by action, who goes next."""
        if self.runtime is None or self.ended.is_set() or self.state.stepping == on:
            return False
        self.runtime.set_stepping(on)
        self._main_event(events.STEP_ON if on else events.STEP_OFF)
        return True

    def permit(self, worker: str) -> bool:
        """Let one worker do the action it waits to do."""
        w = self.state.workers.get(worker)
        if self.runtime is None or w is None or w.wants is None:
            return False
        if not self.runtime.permit(w.slot):
            return False
        self._main_event(events.PERMIT, {"worker": worker})
        return True

    def kill(self, worker: str) -> bool:
        """SIGKILL the process whose main thread is `worker` (as the stage
        names it); False if it is not a live process of this run."""
        w = self.state.workers.get(worker)
        if self.runtime is None or w is None or not getattr(w, "main_thread", False):
            return False
        elsewhere = self.kill_elsewhere
        if not self.runtime.kill(w.pid) and not (elsewhere is not None and elsewhere(w.pid)):
            return False
        self._main_event(events.KILL, {"worker": worker, "pid": w.pid})
        return True

    def _main_event(self, kind: str, data: dict[str, Any] | None = None) -> None:
        # Straight to the fold, on the loop: never through the event queue,
        # which the loop must not wait on.
        now = time.monotonic_ns()
        self.ingest([(now, "main", os.getpid(), threading.get_native_id(), kind, None, data)])

    def _paused_before(self, t_ns: int) -> int:
        """How long the run had been paused before `t_ns`: its clock stops
        while paused."""
        total = 0
        for start, end in self._pauses:
            if start < t_ns:
                total += min(end or t_ns, t_ns) - start
        return total

    def ingest(self, batch: list[events.RawEvent]) -> None:
        """Number a batch of events, fold them, keep them and record them."""
        if self._pauses:  # the run's clock stopped while it was paused
            new = [
                events.from_raw(raw, seq, self._start_ns + self._paused_before(raw[0]))
                for seq, raw in enumerate(batch, self._seq + 1)
            ]
        else:
            new = events.numbered(batch, self._seq + 1, self._start_ns)
        self._seq += len(new)
        fold, state = self._fold, self.state
        for event in new:
            fold(state, event)
        self._events.extend(new)
        if self.recorder is not None:
            self._record(new)
        self._changed_now()
        if self.state.status in ENDED and not self.ended.is_set():
            self.ended.set()
            if self.recorder is not None:
                s = self.state
                self.recorder.end(self.id, s.status, s.reason, s.last_t, self.recorded, self._seq)
                if not self.recording_cut:
                    # Its replay opens at the end at once (app.replay).
                    self.recorder.keep_state(
                        self.id, self._seq, s, recording.shape(self.experiment.new_state)
                    )
                    # The recording has them all: an ended run (the server
                    # keeps dozens) holds only its latest events in memory,
                    # and a stream that resumes further back reads the rest
                    # from the recording.
                    self._events = deque(self._events, maxlen=ENDED_RING)

    def _record(self, new: list[events.Event]) -> None:
        """Hand the new events to the recording, up to its limit."""
        assert self.recorder is not None
        if self.record_limit:
            new = new[: max(0, self.record_limit - self.recorded)]
        if new:
            self.recorder.append(self.id, new)
            self.recorded += len(new)

    @property
    def recording_cut(self) -> bool:
        """The run has gone on past its recording's limit."""
        return self.recorder is not None and self._seq > self.recorded

    async def _release_when_ended(self) -> None:
        try:
            await self.ended.wait()
        finally:
            await self.release_runtime()

    async def release_runtime(self) -> None:
        """Drop the runtime once its threads are done, so that its queues and
        their semaphores are freed with it."""
        runtime = self.runtime
        if runtime is not None:
            if not runtime.done:
                await asyncio.to_thread(runtime.join, 10.0)
            self.runtime = None

    # Reading.

    @property
    def status(self) -> str:
        return self.state.status

    @property
    def last_seq(self) -> int:
        return self._seq

    @property
    def clock_s(self) -> float:
        """How long the run has gone, on its own clock (pauses left out):
        now while it goes, its last event's time once it has ended."""
        if self.ended.is_set() or not self._start_ns:
            return self.state.last_t
        now = time.monotonic_ns()
        return max(0.0, (now - self._start_ns - self._paused_before(now)) / 1e9)

    @property
    def held_workers(self) -> int:
        """Places under max_workers the run holds now."""
        runtime = self.runtime
        return runtime.held_workers if runtime is not None and not self.ended.is_set() else 0

    def describe(self) -> str:
        """The run in a few words, for a message that names it."""
        return (
            f"{self.experiment.slug} run {self.id} ({self.status}"
            f"{', paused' if self.state.paused else ''} for {self.clock_s:.0f} s,"
            f" {self.held_workers} worker{'' if self.held_workers == 1 else 's'})"
        )

    def events_after(self, seq: int) -> list[events.Event]:
        out: list[events.Event] = []
        for event in reversed(self._events):
            if event.seq <= seq:
                break
            out.append(event)
        out.reverse()
        return out

    async def changed(self) -> None:
        await self._changed.wait()

    def to_dict(self) -> dict[str, Any]:
        s = self.state
        return {
            "id": self.id,
            "experiment": self.experiment.slug,
            "params": self.params.model_dump(),
            "status": s.status,
            "paused": s.paused,
            "result_hidden": self.result_hidden,
            "stepping": s.stepping,
            "reason": s.reason,
            "created": self.created.isoformat(),
            "counters": s.counters(),
            **s.extras(),
            # Events recorded so far, and whether the run went on past the
            # recording's limit (none when the server records nothing).
            "recording": (
                {"events": self.recorded, "limit": self.record_limit, "cut": self.recording_cut}
                if self.recorder is not None
                else None
            ),
            "workers": [
                {
                    "name": w.name,
                    "role": w.role,
                    "pid": w.pid,
                    "tid": w.tid,
                    "state": w.state,
                    "item": w.item,
                    "items": w.items,
                    "alive": w.alive,
                    "reason": w.reason,
                    "exitcode": w.exitcode,
                    "error": w.error,
                    "wants": list(w.wants) if w.wants else None,
                }
                for w in s.workers.values()
            ],
            "live_params": sorted(self.experiment.live_params()),
            "events": self._seq,
        }
