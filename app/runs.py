"""Runs as the server sees them: registry, limits, lifecycle and streams.

One `RunRegistry` is created in the app's lifespan and kept on `app.state`.
Everything here runs on the event loop, except the runtime's own threads,
whose batches arrive through `loop.call_soon_threadsafe` (the only bridge
from threads to the loop).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from app import events, i18n
from app.broadcast import Broadcaster, Frame
from app.budget import WorkerBudget
from app.experiments import EXPERIMENTS, Experiment
from app.model import fold
from app.params import FieldError, ParamsError, validate
from app.programs.runtime import ProgramRuntime
from app.recording import Recorder
from app.settings import Settings

log = logging.getLogger(__name__)

ENDED = frozenset({"finished", "stopped", "failed"})
# Batches handed to the loop and not yet folded, per run (see Run.start).
INFLIGHT_BATCHES = 8
# Events an ended, wholly recorded run keeps in memory (a live one keeps
# settings.event_buffer): 50,000 events take about 12 MB (tracemalloc), and
# the server keeps up to settings.keep_runs ended runs.
ENDED_RING = 1000
# An idle run's frame is sent again after this long (see Run._tick).
FRAME_KEEPALIVE_S = 15.0
# Batches of events the recorder may have waiting before a run's reader waits
# for it (see _wait_for_recorder); a batch holds about a tracer's MAX_BATCH
# events, so this is at most about 20 MB. Smaller slows a full-speed run for
# nothing; larger is memory.
RECORDER_BACKLOG = 256
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


Renderer = Callable[["Run"], str]


class Run:
    def __init__(
        self,
        run_id: str,
        experiment: Experiment,
        params: BaseModel,
        settings: Settings,
        render: Renderer,
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
        # One fan-out per language: a frame is rendered once per tick for each
        # language someone watches in, and the same bytes go to all of them.
        self.broadcasters = {lang: Broadcaster() for lang in i18n.LANGUAGES}
        self._render = render
        self.settings = settings
        self._fps = settings.fps
        self._events: deque[events.Event] = deque(maxlen=settings.event_buffer)
        self._seq = 0
        self._start_ns = 0
        self._changed = asyncio.Event()
        self._dirty = True
        self._frames = itertools.count(1)
        self._ticker: asyncio.Task[None] | None = None
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
        self._ticker = loop.create_task(self._tick(), name=f"run-{self.id}-frames")

    def _ingest_handed_over(self, batch: list[events.RawEvent]) -> None:
        try:
            self.ingest(batch)
        finally:
            self._inflight.release()

    def pause(self) -> bool:
        """Pause for real: worker processes are stopped by the OS, threads
        wait at a gate; the run's clock stops too."""
        if self.runtime is None or self.ended.is_set():
            return False
        if not self.runtime.pause(self._worker_pids()):
            return False
        self._pauses.append([time.monotonic_ns(), 0])
        self._main_event(events.PAUSE)
        return True

    def resume(self) -> bool:
        if self.runtime is None or not self.runtime.resume(self._worker_pids()):
            return False
        self._pauses[-1][1] = time.monotonic_ns()
        self._main_event(events.RESUME)
        return True

    def set_hidden(self, hidden: bool) -> None:
        self.result_hidden = hidden
        self._dirty = True  # the next frame shows it (or not)
        if self.ended.is_set():
            self.publish_frame(last=self.final)
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

    def _worker_pids(self) -> list[int]:
        return [w.pid for w in self.state.workers.values() if w.alive and w.pid]

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
        new = []
        for raw in batch:
            self._seq += 1
            start_ns = self._start_ns + (self._paused_before(raw[0]) if self._pauses else 0)
            event = events.from_raw(raw, self._seq, start_ns)
            self._fold(self.state, event)
            new.append(event)
        self._events.extend(new)
        if self.recorder is not None:
            self._record(new)
        self._dirty = True
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        if self.state.status in ENDED and not self.ended.is_set():
            self.ended.set()
            if self.recorder is not None:
                s = self.state
                self.recorder.end(self.id, s.status, s.reason, s.last_t, self.recorded, self._seq)
                if not self.recording_cut:
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

    async def _tick(self) -> None:
        period = 1.0 / self._fps
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        published = next_at
        try:
            while True:
                # An idle run (paused, say) sends its frame again now and then,
                # so that proxies keep the viewers' streams open.
                if self._dirty or loop.time() - published > FRAME_KEEPALIVE_S:
                    self._dirty = False
                    self.publish_frame(last=self.final)
                    published = loop.time()
                if self.ended.is_set() and not self._dirty:
                    self.publish_frame(last=self.final)
                    break
                # Ticks on a fixed cadence: sleeping a whole period after each
                # render made 18 frames a second at fps=20 (bench/fanout.py).
                # A loop that fell behind skips the ticks it missed, no burst.
                next_at += period
                now = loop.time()
                if next_at < now:
                    next_at = now + period
                await asyncio.sleep(next_at - now)
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

    def publish_frame(self, *, last: bool = False) -> None:
        """Render the frame for every language in use; a language nobody
        watches in is rendered when someone first asks for it."""
        number = next(self._frames)
        for lang, broadcaster in self.broadcasters.items():
            if broadcaster.count:
                with i18n.speaking(lang):
                    broadcaster.publish(Frame(number, self._render(self), last))
            else:
                broadcaster.latest = None

    def latest_frame(self, lang: str = i18n.DEFAULT) -> Frame:
        broadcaster = self.broadcasters[lang]
        if broadcaster.latest is None:
            with i18n.speaking(lang):
                frame = Frame(next(self._frames), self._render(self), self.final)
            broadcaster.publish(frame)
            return frame
        return broadcaster.latest

    @property
    def watchers(self) -> int:
        return sum(b.count for b in self.broadcasters.values())

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


def _named(runs: list[Run]) -> str:
    return "; ".join(r.describe() for r in runs) or "no run (they are ending)"


class RunRegistry:
    def __init__(
        self, settings: Settings, render: Renderer, recorder: Recorder | None = None
    ) -> None:
        self.settings = settings
        self.recorder = recorder
        self.current: tuple[str, str | None] = ("", None)
        self._current_changed = asyncio.Event()
        self.budget = WorkerBudget(settings.max_workers)
        self._render = render
        self._runs: dict[str, Run] = {}

    def experiment(self, slug: str) -> Experiment:
        exp = EXPERIMENTS.get(slug)
        if exp is None or not exp.built:
            known = ", ".join(e.slug for e in EXPERIMENTS.values() if e.built)
            raise NotFound(f"no experiment '{slug}' (built so far: {known})")
        return exp

    def get(self, run_id: str) -> Run:
        run = self._runs.get(run_id)
        if run is None:
            raise NotFound(f"no run '{run_id}'")
        return run

    def all(self) -> list[Run]:
        return list(self._runs.values())

    def active(self) -> list[Run]:
        return [r for r in self._runs.values() if r.status not in ENDED]

    def going(self, slug: str | None = None) -> list[Run]:
        """The runs not yet ended (of one experiment, if given), oldest first."""
        return [r for r in self.active() if slug is None or r.experiment.slug == slug]

    def latest(self, slug: str) -> Run | None:
        runs = [r for r in self._runs.values() if r.experiment.slug == slug]
        return runs[-1] if runs else None

    # What the presenter shows now, for the audience to follow.

    def follow(self, slug: str, run_id: str | None) -> None:
        if self.current != (slug, run_id):
            self.current = (slug, run_id)
            changed, self._current_changed = self._current_changed, asyncio.Event()
            changed.set()

    async def current_changed(self) -> None:
        await self._current_changed.wait()

    def start(self, slug: str, raw_params: Any) -> Run:
        exp = self.experiment(slug)
        assert exp.params is not None
        params = validate(exp.params, raw_params if raw_params is not None else {})
        going = self.active()
        if len(going) >= self.settings.max_runs:
            raise LimitReached(
                f"at most {self.settings.max_runs} runs may go at once (max_runs); stop one"
                f" first (POST /api/runs/{{id}}/stop). Going now: {_named(going)}",
                "max_runs",
                going,
            )
        workers = exp.worker_count(params)
        if not self.budget.acquire(workers):
            holders = [r for r in going if r.held_workers]
            raise LimitReached(
                f"starting {workers} workers would pass the limit of"
                f" {self.settings.max_workers} live workers (max_workers);"
                f" {self.budget.held} are alive or starting. Held by: {_named(holders)}",
                "max_workers",
                holders,
                workers,
            )
        run_id = secrets.token_hex(4)
        run = Run(run_id, exp, params, self.settings, self._render, self.recorder)
        self._runs[run_id] = run
        try:
            run.start(self.budget, self.settings.run_time_limit, self.settings.idle_limit)
        except BaseException:
            del self._runs[run_id]
            self.budget.release(workers)
            raise
        self._forget_old()
        self.follow(slug, run_id)
        return run

    def patch(self, run_id: str, raw_changes: Any) -> Run:
        run = self.get(run_id)
        exp = run.experiment
        assert exp.params is not None
        if not isinstance(raw_changes, dict):
            raise ParamsError([FieldError("params", "params must be an object of name: value")])
        live = exp.live_params()
        fields = set(exp.params.model_fields)
        unknown = sorted(set(raw_changes) - fields)
        if unknown:
            raise ParamsError(
                [
                    FieldError(u, f"unknown field '{u}'; known fields: {', '.join(fields)}")
                    for u in unknown
                ]
            )
        merged = validate(exp.params, {**run.params.model_dump(), **raw_changes})
        if run.status in ENDED or run.runtime is None or run.ended.is_set():
            # Nothing changes on an ended run, live or not: say so first.
            raise NotLive(
                i18n._("run %(id)s has ended (%(status)s); start a new one")
                % {"id": run_id, "status": i18n._(run.status)}
            )
        fixed = sorted(
            k for k in raw_changes if k not in live and getattr(merged, k) != getattr(run.params, k)
        )
        if fixed:
            raise NotLive(
                f"{', '.join(fixed)} cannot change while a run goes on; it applies on the next"
                f" start (live: {', '.join(sorted(live))})"
            )
        if "speed" in raw_changes:
            run.runtime.set_speed(float(merged.model_dump()["speed"]))
        if exp.lesson:  # a lesson's program reads its live settings itself (concviz_live)
            # More workers wanted: the run holds budget for them first.
            hold = getattr(run.runtime, "hold_workers", None)
            if hold is not None and not hold(exp.worker_count(merged)):
                raise LimitReached(
                    f"{', '.join(sorted(raw_changes))}: {exp.worker_count(merged)} workers would"
                    f" pass the limit of {self.settings.max_workers} live workers (max_workers)"
                )
            run.runtime.set_live(exp.live_settings(merged))
        run.params = merged
        return run

    def call(self, run_id: str, call: Any) -> Run:
        """Hand a call (validated by the experiment's call model) to a run."""
        run = self.get(run_id)
        exp = run.experiment
        if not exp.takes_calls or exp.call_model is None:
            raise NotLive(f"{exp.slug} runs take no calls")
        validated = validate(exp.call_model, call)
        if run.status in ENDED or run.runtime is None or run.ended.is_set():
            raise NotLive(f"run {run_id} has ended ({run.status}); start a new one")
        if not run.runtime.send(validated.model_dump()):
            raise LimitReached("too many calls are waiting for this run; try again shortly")
        return run

    def pause(self, run_id: str) -> Run:
        run = self.get(run_id)
        if run.ended.is_set():
            raise NotLive(f"run {run_id} has ended ({run.status})")
        run.pause()
        return run

    def resume(self, run_id: str) -> Run:
        run = self.get(run_id)
        if run.ended.is_set():
            raise NotLive(f"run {run_id} has ended ({run.status})")
        run.resume()
        return run

    def set_stepping(self, run_id: str, on: bool) -> Run:
        run = self.get(run_id)
        if run.ended.is_set():
            raise NotLive(f"run {run_id} has ended ({run.status})")
        run.set_stepping(on)
        return run

    def hide(self, run_id: str, hidden: bool) -> Run:
        run = self.get(run_id)
        run.set_hidden(hidden)
        return run

    def permit(self, run_id: str, worker: str) -> Run:
        run = self.get(run_id)
        if not run.state.stepping:
            raise NotLive(f"run {run_id} is not in step mode")
        if not run.permit(worker):
            raise NotLive(f"{worker} is not waiting for a permit")
        return run

    async def stop(self, run_id: str, reason: str = "stopped by the teacher") -> Run:
        run = self.get(run_id)
        runtime = run.runtime
        if runtime is not None:
            run.resume()  # a stopped process sees no stop flag
            runtime.stop(reason)
            if not await asyncio.to_thread(runtime.join, 10.0):
                log.error("run %s did not stop within 10 s", run_id)
            await asyncio.wait_for(run.ended.wait(), timeout=5.0)
        return run

    async def stop_all(self) -> None:
        await asyncio.gather(
            *(self.stop(r.id, "the server is shutting down") for r in self.active()),
            return_exceptions=True,
        )
        for run in self._runs.values():
            await run.release_runtime()

    def _forget_old(self) -> None:
        ended = [r for r in self._runs.values() if r.status in ENDED]
        for run in ended[: max(0, len(ended) - self.settings.keep_runs)]:
            del self._runs[run.id]
