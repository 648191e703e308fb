"""Reading a Redis list's or stream's state off the fold and off the stage
(`app.programs.folds.redisq`, `app.programs.redis_view`)."""

from __future__ import annotations

import html
import re

from app import i18n
from app.events import Event
from app.programs import view
from app.programs.redis_state import GroupView
from app.programs.state import ProgramState
from app.web.render import env


def group(state: ProgramState, key: str, name: str = "workers") -> GroupView:
    redis_view = state.objs[key].redis
    assert redis_view is not None
    return redis_view.groups[name]


def shown(state: ProgramState, lang: str = "en") -> str:
    """The text of the stage's objects, as a reader sees it."""
    with i18n.speaking(lang):
        page = env.get_template("partials/program/_objects.html").render(view.view(state, {}))
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def said(state: ProgramState, evs: list[Event], lang: str = "en") -> list[str]:
    """What the log says of each event."""
    template = env.get_template("partials/program/_event_words.html")
    with i18n.speaking(lang):
        return [html.unescape(template.render(e=e, state=state)).strip() for e in evs]
