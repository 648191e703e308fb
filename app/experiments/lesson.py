"""A lesson that is a program: what the page shows is what runs.

A lesson's folder holds `program.py`, a plain Python program that runs with
``python`` alone. Its settings are the literal constants at its top; the
form's values are put into them (`app.experiments.constants`), and the
result is both the download and what runs under the tracer when the lesson
starts (`app.programs`): the same processes, threads, queues and locks as
any user's program, on the same stage.

What the tracer cannot see (a tally, a verdict), the program prints; the
lesson's *overlay* reads it from the trace. An overlay is a state that
extends the program's (`ProgramState`) and a fold step that runs after the
program's own on each event: `state.printed` holds the lines the event
completed. Its view adds what the lesson's frame template draws beside the
stage. The run's `speed` (a live slider) scales the program's sleeps.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from app.events import Event
from app.experiments.constants import substitute
from app.experiments.spec import Experiment
from app.programs.model import fold as program_fold
from app.programs.runtime import ProgramRuntime
from app.programs.state import ConsoleLine, ProgramState
from app.programs.view import view as program_view

PROGRAM_FILE = "program.py"
# Parameters that are the run's, not the program's constants.
RUN_PARAMS = frozenset({"speed"})

Overlay = Callable[[Any, Event], None]
# (state, params) -> fields; a lesson's view takes its own kind of state.
View = Callable[..., dict[str, Any]]


def program_text(folder: Path) -> str:
    return (folder / PROGRAM_FILE).read_text(encoding="utf-8")


def settings(params: dict[str, Any]) -> dict[str, Any]:
    """The program's constants for these parameters: each parameter is the
    constant of its name in capitals (``repeat`` -> ``REPEAT``)."""
    return {name.upper(): value for name, value in params.items() if name not in RUN_PARAMS}


def make_script(folder: Path) -> Callable[[dict[str, Any]], str]:
    @functools.lru_cache(maxsize=32)
    def _script(params_json: str) -> str:
        return substitute(program_text(folder), settings(json.loads(params_json)))

    def script(params: dict[str, Any]) -> str:
        """The lesson's program with these parameters in its constants."""
        return _script(json.dumps(params, sort_keys=True))

    return script


def make_fold(overlay: Overlay | None) -> Callable[[Any, Event], Any]:
    def fold(state: Any, event: Event) -> Any:
        program_fold(state, event)
        if overlay is not None:
            overlay(state, event)
        return state

    return fold


def make_view(script: Callable[[dict[str, Any]], str], name: str, lesson: View | None) -> View:
    def view(state: Any, params: dict[str, Any]) -> dict[str, Any]:
        out = program_view(state, {"source": script(params), "filename": name})
        if lesson is not None:
            out.update(lesson(state, params))
        return out

    return view


def last_printed(
    state: ProgramState, shown: int, outcome: re.Pattern[str]
) -> list[tuple[ConsoleLine, bool]]:
    """The program's last `shown` printed lines (concviz's notes left out),
    each with whether it tells the outcome (`outcome` matches it): a
    lesson's console draws those only once the result is revealed."""
    lines = [c for c in state.console if c.stream != "note"][-shown:]
    return [(c, bool(outcome.match(c.text))) for c in lines]


def program_lesson(
    *,
    slug: str,
    title: str,
    summary: str,
    lecture_part: str,
    folder: Path,
    params: type[BaseModel],
    frame_template: str = "",
    new_state: Callable[[], ProgramState] = ProgramState,
    overlay: Overlay | None = None,
    view: View | None = None,
    quick_params: dict[str, Any] | None = None,
    stylesheet: str = "",
    controls_template: str = "",
    notes: dict[str, str] | None = None,
    outcome_states: frozenset[str] = frozenset(),
    workers_needed: Callable[[BaseModel], int] | None = None,
    call_model: type[BaseModel] | None = None,
    filename: str = "",
    prepare: Callable[[], Any] | None = None,
    unavailable: Callable[[], str | None] | None = None,
    joins: tuple[str, ...] = (),
) -> Experiment:
    """The Experiment of a lesson whose program is `folder`/program.py.

    `frame_template`, `stylesheet`: where its stage and CSS are, if not
    after its slug (``partials/<slug>/_frame.html``, ``experiments/<slug>.css``).
    `call_model`: the presenter's calls it takes (`concviz_live.next_call`).
    `filename`: the program's name when run or downloaded, where the slug's
    would shadow a module it imports (``queue.py`` and ``import queue``).
    `prepare`, `unavailable`: what a run needs from outside its program,
    and why it cannot run now; `joins`, the roles in which another
    machine's worker may join a run (`Experiment`)."""
    script = make_script(folder)
    name = filename or slug.replace("-", "_") + ".py"
    return Experiment(
        slug=slug,
        title=title,
        summary=summary,
        lecture_part=lecture_part,
        params=params,
        program=script(params().model_dump()),
        script=script,
        quick_params=quick_params or {},
        new_state=new_state,
        fold=make_fold(overlay),
        frame_template=frame_template or f"partials/{slug}/_frame.html",
        controls_template=controls_template,
        stylesheet=stylesheet or f"experiments/{slug}.css",
        view=make_view(script, name, view),
        # The program, unless the lesson says how many processes it starts
        # (its run holds budget for them, and its limits make room for them).
        workers_needed=workers_needed or (lambda _params: 1),
        notes=notes or {},
        outcome_states=outcome_states,
        runtime=ProgramRuntime,
        lesson=True,
        takes_calls=call_model is not None,
        call_model=call_model,
        filename=name,
        prepare=prepare,
        unavailable=unavailable,
        joins=joins,
    )
