"""Why the broker cannot serve, in plain words: the one exception, and
redis-py's errors told as a sentence that names the server."""

from __future__ import annotations

import re

from app import reasons as R
from app.broker.client import TIMEOUT_S


class BrokerUnavailable(Exception):
    """The broker cannot serve a run; str(exc) says why, in plain words."""


def reason(exc: BaseException, where: str) -> str:
    """`exc`, raised talking to the Redis server at `where`, as a sentence
    for a page: no class names, no traceback."""
    from redis import exceptions as E

    text = str(exc).strip().rstrip(".")
    if isinstance(exc, E.AuthenticationError | E.AuthorizationError):
        # Redis answers NOAUTH to a command without AUTH; redis-py 5+ first
        # sends HELLO, which it refuses in its own words.
        if "NOAUTH" in text or "HELLO must be called" in text:
            return R.BROKER_WANTS_PASSWORD % {"where": where}
        return R.BROKER_REFUSED_PASSWORD % {"where": where, "said": text}
    if isinstance(exc, E.TimeoutError):
        return R.BROKER_SILENT % {"where": where, "s": f"{TIMEOUT_S:g}"}
    if isinstance(exc, E.ConnectionError | OSError):
        # "Error 111 connecting to HOST:PORT. Connection refused."
        said = re.search(r"connecting to .*?\. ([A-Z].*)$", text)
        if said:
            return R.BROKER_UNREACHABLE % {"where": where, "said": said.group(1).lower()}
        return R.BROKER_LOST % {"where": where, "said": text}
    if isinstance(exc, E.InvalidResponse):
        return R.BROKER_NOT_REDIS % {"where": where}
    return R.BROKER_ANSWERED % {"where": where, "said": text}
