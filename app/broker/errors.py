"""Why the broker cannot serve, in plain words: the one exception, and
redis-py's errors told as a sentence that names the server."""

from __future__ import annotations

import re

from app.broker.client import TIMEOUT_S


class BrokerUnavailable(Exception):
    """The broker cannot serve a run; str(exc) says why, in plain words."""


def reason(exc: BaseException, where: str) -> str:
    """`exc`, raised talking to the Redis server at `where`, as a sentence
    for a page: no class names, no traceback."""
    from redis import exceptions as E

    text = str(exc).strip().rstrip(".")
    server = f"the Redis server at {where}"
    if isinstance(exc, E.AuthenticationError | E.AuthorizationError):
        # Redis answers NOAUTH to a command without AUTH; redis-py 5+ first
        # sends HELLO, which it refuses in its own words.
        if "NOAUTH" in text or "HELLO must be called" in text:
            return f"{server} wants a password: give it in the URL, redis://:PASSWORD@HOST:PORT"
        return f"{server} refused the password ({text})"
    if isinstance(exc, E.TimeoutError):
        return f"{server} did not answer within {TIMEOUT_S:g} s"
    if isinstance(exc, E.ConnectionError | OSError):
        # "Error 111 connecting to HOST:PORT. Connection refused."
        said = re.search(r"connecting to .*?\. ([A-Z].*)$", text)
        if said:
            return f"cannot connect to {server}: {said.group(1).lower()}"
        return f"lost the connection to {server} ({text})"
    if isinstance(exc, E.InvalidResponse):
        return f"what answers at {where} is not a Redis server"
    return f"{server} answered: {text}"
