"""What an experiment is made of, as the runtime and the web layer see it.

Every experiment runs as a program under the tracer (`app.programs`): a
lesson's own file (`app.experiments.lesson`) or a user's (`program`). The
server starts its first process, the run's `main`, in a session of its own;
the program starts its own threads and processes, and a stop ends the
session, whatever the program waits in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from app.model import RunState


class Unavailable(Exception):
    """The experiment cannot run now; str(exc) says why, in plain words
    (the broker lesson with no Redis server to run on)."""


def _no_view(state: Any, params: dict[str, Any]) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Experiment:
    slug: str
    title: str
    summary: str
    lecture_part: str
    params: type[BaseModel] | None = None
    program: str = ""
    # The plain program for given parameters (shown, and downloadable).
    script: Callable[[dict[str, Any]], str] | None = None
    # Parameters for a quick run (tests, and the scripts' own check).
    quick_params: dict[str, Any] = field(default_factory=dict)
    # The view: a fresh state, the fold, and the templates that draw it.
    new_state: Callable[[], RunState] = RunState
    fold: Callable[[Any, Any], Any] | None = None
    frame_template: str = "partials/program/_frame.html"  # the stage of any program
    controls_template: str = ""  # extra controls after the parameter form
    stylesheet: str = ""  # extra CSS under static/, e.g. "experiments/lock.css"
    view: Callable[[Any, dict[str, Any]], dict[str, Any]] = _no_view
    # Live workers a run holds budget for; default: one, the program's main.
    workers_needed: Callable[[BaseModel], int] | None = None
    # Whether the run takes calls (POST /api/runs/{id}/calls).
    takes_calls: bool = False
    call_model: type[BaseModel] | None = None
    notes: dict[str, str] = field(default_factory=dict)
    # Worker states that tell the run's outcome (a call that raised, a daemon
    # stopped early): while the result is hidden the timeline draws them as
    # hidden too.
    outcome_states: frozenset[str] = frozenset()
    # What starts and stops the run's program (`app.programs.runtime`);
    # None for an experiment not built yet.
    runtime: Callable[..., Any] | None = None
    # What the audience's page (/watch) shows of it: heading, read-only
    # controls and the stage, unless the experiment has a page of its own.
    watch_template: str = "partials/_experiment_body.html"
    # A lesson whose program is its own file (app/experiments/lesson.py): it
    # runs under the tracer like a user's program, with a run's time limit.
    lesson: bool = False
    # The program's file name, if not the slug's (see `script_name`).
    filename: str = ""
    # What a run needs from outside its program (the broker lesson's own
    # Redis database): called as the run starts, it returns an object with
    # `env` (more environment for the program) and `close()` (called once
    # the run has ended), or raises `Unavailable`.
    prepare: Callable[[], Any] | None = None
    # Why the experiment cannot run now, or None: its page says so and
    # Start is refused (503).
    unavailable: Callable[[], str | None] | None = None
    # The roles in which a worker on another machine may join a running
    # run (`concviz worker --join`, app/joining): it runs the program as
    # ``python FILE ROLE NAME``, NAME being its label on the stage.
    joins: tuple[str, ...] = ()

    def why_unavailable(self) -> str | None:
        return self.unavailable() if self.unavailable is not None else None

    @property
    def built(self) -> bool:
        return self.params is not None

    def live_params(self) -> frozenset[str]:
        if self.params is None:
            return frozenset()
        return frozenset(
            name
            for name, f in self.params.model_fields.items()
            if isinstance(f.json_schema_extra, dict) and f.json_schema_extra.get("live")
        )

    def schema(self) -> dict[str, Any]:
        return self.params.model_json_schema() if self.params is not None else {}

    def live_settings(self, params: BaseModel) -> dict[str, Any]:
        """A lesson program's live settings: its live fields by the names of
        their constants (``producers`` -> ``PRODUCERS``), for `concviz_live`.
        `speed` is not one: it scales the program's sleeps."""
        if not self.lesson:
            return {}
        return {n.upper(): getattr(params, n) for n in sorted(self.live_params()) if n != "speed"}

    def script_name(self, params: dict[str, Any]) -> str:
        """The program's file name: a user's own, else after the lesson."""
        return str(params.get("filename") or self.filename or self.slug.replace("-", "_") + ".py")

    def fold_all(self, evs: Iterable[Any], params: dict[str, Any] | None = None) -> Any:
        """A fresh state with `evs` folded in, in order (`params`: the run's,
        where no `run_start` among them says them)."""
        state = self.new_state()
        state.params = dict(params or {})
        for e in evs:
            if self.fold is not None:
                self.fold(state, e)
        return state

    def worker_count(self, params: BaseModel) -> int:
        if self.workers_needed is not None:
            return self.workers_needed(params)
        return 1
