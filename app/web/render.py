"""The one Jinja environment, and the frame a run's stream carries."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any, Protocol

from fastapi import Request
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel

from app import i18n, reasons, timeline
from app.experiments import Experiment
from app.programs.calls import written
from app.programs.state import item_text
from app.web.presenter import audience_url, presenting

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def shipped_dir(name: str, package: Path = PACKAGE_DIR) -> Path:
    """Where `templates/` or `static/` is: inside the installed package (a
    wheel carries them there, see setup.py), else at the top of the checkout
    the package is in (an editable install)."""
    candidates = (package / name, package.parent / name)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise RuntimeError(
        f"concviz is incomplete: no {name}/ folder in {candidates[0]} or {candidates[1]};"
        " reinstall it from a wheel or a checkout"
    )


TEMPLATES_DIR = shipped_dir("templates")
STATIC_DIR = shipped_dir("static")


def _classroom(request: Request) -> dict[str, Any]:
    """For every page: is this the presenter, and where does the audience go."""
    settings = getattr(request.app.state, "settings", None)
    lan = settings is not None and settings.lan
    return {
        "is_presenter": presenting(request),
        "lan": lan,
        "audience": audience_url(settings) if settings is not None and lan else "",
        "lang": i18n.current(),
        "languages": i18n.LANGUAGES,
        "path": request.url.path,
    }


templates = Jinja2Templates(directory=TEMPLATES_DIR, context_processors=[_classroom])
env = templates.env
# The templates are part of the installed app: not looked at on disk again
# for each frame (a run draws twenty a second for each language).
env.auto_reload = False
env.add_extension("jinja2.ext.i18n")
env.install_gettext_callables(  # type: ignore[attr-defined]
    gettext=i18n._, ngettext=i18n.ngettext, newstyle=True
)
assert env.autoescape, "every fragment must be escaped"


def _item_label(item: str | None) -> str:
    if not item:
        return ""
    producer, _, n = item.partition("#")
    return f"{producer} #{n}" if n else item


# What a terminal would act on rather than show: colours and cursor moves
# (ANSI escape sequences), and the other control characters.
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _terminal_text(text: str) -> str:
    """A printed line as a terminal leaves it: without colour codes, and of
    a line rewritten with carriage returns (a progress bar) its last form."""
    text = _ESCAPES.sub("", text)
    if "\r" in text:
        text = next((part for part in reversed(text.split("\r")) if part), "")
    return _CONTROLS.sub("", text)


def _counted(names: list[str]) -> str:
    """Names in the order first seen, each once: "P1 ×2, C1"."""
    counts = Counter(names)
    return ", ".join(f"{n} ×{counts[n]}" if counts[n] > 1 else n for n in counts)


def _dom_id(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text)


def _rate(per_s: float) -> str:
    """A rate for a counter box: one decimal while it is small, whole above
    (at full speed "18651.2" no longer fits its box on a projector)."""
    return f"{per_s:.1f}" if per_s < 100 else f"{per_s:.0f}"


env.filters["item"] = _item_label
env.filters["item_text"] = item_text  # an item as the program wrote it, from its repr
env.filters["rate"] = _rate
env.filters["dom_id"] = _dom_id
env.filters["counted"] = _counted
env.filters["terminal_text"] = _terminal_text
env.filters["reason"] = reasons.shown
env.filters["written"] = written  # a call as the program writes it: 'put' | written('q')
# A worker state in words (the timeline's legend), for a card no words of its own fit.
env.filters["state_words"] = timeline.state_words


class Staged(Protocol):
    """What a stage is drawn from: a live `Run`, or a recorded one replayed
    (`app.web.replays.ReplayView`)."""

    id: str
    experiment: Experiment
    params: BaseModel
    state: Any
    result_hidden: bool


def _timeline(run: Staged) -> timeline.Timeline:
    """The run's timeline; while its result is hidden, without the states
    that would tell it."""
    hide = run.experiment.outcome_states if run.result_hidden else frozenset()
    return timeline.build(run.state, hide=hide)


def stage_context(
    run: Staged, *, with_timeline: bool = True, watchers: int | None = None
) -> dict[str, Any]:
    """What a stage's templates read; `watchers`: how many watch it live
    (none for a replay)."""
    state = run.state
    params = run.params.model_dump()
    exp = run.experiment
    return {
        "run": run,
        "state": state,
        "counters": state.counters(),
        "log": list(reversed(state.log)),
        "result_hidden": bool(run.result_hidden),
        "watchers": watchers,
        "timeline": _timeline(run) if with_timeline else None,
        "timeline_window": f"{timeline.WINDOW_S:g}",
        # The run's live settings now (a class's read-only form follows them).
        "live_values": {name: params[name] for name in sorted(exp.live_params())},
        **exp.view(state, params),
    }


def render_timeline(run: Staged) -> str:
    return env.get_template("partials/_timeline.html").render(timeline=_timeline(run))


def render_frame(run: Staged, watchers: int | None = None) -> str:
    # A live frame does not draw the timeline (it has a stream of its own):
    # building it took 2-4 ms of every frame (bench/fanout.py, cProfile).
    context = stage_context(run, with_timeline=False, watchers=watchers)
    return env.get_template(run.experiment.frame_template).render(context)
