"""The presenter's own last choices on a lesson's form, kept in their browser.

A lesson's form starts from the lesson's defaults, or from what this browser
last chose on that page (a start from the form, a live slider moved on the
run it started): never from whatever another client last started through the
API (`items_per_producer=0` from a script made the next run endless).

One cookie per lesson page (`Path=/experiments/<slug>`), its value the
choices as JSON in URL-safe base64. It comes from outside, so it is read
like any other input: validated by the lesson's parameter model; a value
that no longer fits (bounds changed, a field gone) falls back to its default.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from fastapi import Response

from app.experiments import Experiment
from app.params import ParamsError, validate

COOKIE = "concviz_form"
HIDDEN = "result_hidden"  # the form's "Hide the result", kept beside the parameters
MAX_AGE_S = 365 * 24 * 3600
# Far more than any lesson's parameters take (about 300 bytes); a longer
# value is not ours.
MAX_COOKIE_CHARS = 2048


def path(exp: Experiment) -> str:
    return f"/experiments/{exp.slug}"


def encode(values: dict[str, Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode(exp: Experiment, cookie: str | None) -> dict[str, Any]:
    """The choices in `cookie`, validated; {} when there are none to use."""
    if exp.params is None or not cookie or len(cookie) > MAX_COOKIE_CHARS:
        return {}
    try:
        data = json.loads(base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4)))
    except (binascii.Error, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    # Whether the run started with its result hidden (the form's checkbox).
    hidden = {HIDDEN: True} if data.get(HIDDEN) is True else {}
    data = {k: v for k, v in data.items() if k in exp.params.model_fields}
    for _attempt in range(2):  # once more without the fields that no longer fit
        try:
            return validate(exp.params, data).model_dump() | hidden
        except ParamsError as exc:
            bad = {e.field for e in exc.errors}
            data = {k: v for k, v in data.items() if k not in bad}
    return {}


def remember(response: Response, exp: Experiment, values: dict[str, Any]) -> None:
    response.set_cookie(
        COOKIE,
        encode(values),
        max_age=MAX_AGE_S,
        path=path(exp),
        httponly=True,
        samesite="strict",
    )
