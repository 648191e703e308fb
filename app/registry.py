"""The server's runs: starting them within the limits, steering them,
and keeping the ended ones for a while (`RunRegistry`).

One `RunRegistry` is created in the app's lifespan and kept on `app.state`;
a run itself is `app.runs.Run`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

from app import i18n
from app.budget import WorkerBudget
from app.experiments import EXPERIMENTS, Experiment
from app.experiments.spec import Unavailable
from app.params import FieldError, ParamsError, validate
from app.recording import Recorder
from app.runs import ENDED, LimitReached, NotFound, NotLive, Run
from app.settings import Settings

log = logging.getLogger(__name__)


def _named(runs: list[Run]) -> str:
    return "; ".join(r.describe() for r in runs) or "no run (they are ending)"


class RunRegistry:
    def __init__(self, settings: Settings, recorder: Recorder | None = None) -> None:
        self.settings = settings
        self.recorder = recorder
        self.current: tuple[str, str | None] = ("", None)
        self._current_changed = asyncio.Event()
        self.budget = WorkerBudget(settings.max_workers)
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
        why = exp.why_unavailable()
        if why:
            raise Unavailable(why)
        going = self.active()
        if len(going) >= self.settings.max_runs:
            most = self.settings.max_runs
            raise LimitReached(
                f"at most {most} {'run' if most == 1 else 'runs'} may go at once (max_runs);"
                f" stop one first (POST /api/runs/{{id}}/stop). Going now: {_named(going)}",
                "max_runs",
                going,
            )
        workers = exp.worker_count(params)
        if workers > self.settings.max_workers:  # however many runs end
            raise LimitReached(
                f"this run needs {workers} workers, more than the {self.settings.max_workers}"
                " live workers this server allows (max_workers): choose fewer, or start the"
                " server with a higher --max-workers",
                "max_workers",
                [],
                workers,
            )
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
        run = Run(run_id, exp, params, self.settings, self.recorder)
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

    def kill(self, run_id: str, worker: str) -> Run:
        """Kill one process of a run with SIGKILL (what happens to a queue
        when a consumer dies mid-item)."""
        run = self.get(run_id)
        if run.status in ENDED or run.runtime is None or run.ended.is_set():
            raise NotLive(f"run {run_id} has ended ({run.status}); start a new one")
        if not run.kill(worker):
            raise ParamsError(
                [
                    FieldError(
                        "worker",
                        f"worker must be a live process of run {run_id}: {worker!r} is not",
                    )
                ]
            )
        return run

    async def stop(self, run_id: str, reason: str = "stopped by the teacher") -> Run:
        run = self.get(run_id)
        runtime = run.runtime
        if runtime is not None:
            run.resume()  # a paused run's clock goes on, its processes get SIGCONT
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

    def forget(self, run_id: str) -> None:
        """An ended run whose recording was deleted: it leaves the runs
        this server lists too (one that goes on stays)."""
        run = self._runs.get(run_id)
        if run is not None and run.status in ENDED:
            del self._runs[run_id]

    def _forget_old(self) -> None:
        ended = [r for r in self._runs.values() if r.status in ENDED]
        for run in ended[: max(0, len(ended) - self.settings.keep_runs)]:
            del self._runs[run.id]
