"""The join protocol, as both ends see it: the join address, a joined
worker's batch of events (checked strictly on the server: a wrong body is
refused naming what is wrong, and nothing of it reaches the run), and the
Redis URL a worker on another machine uses.

A batch is JSON::

    {"worker": "<its own random id>", "host": "alice-laptop", "role": "consumer",
     "offset_ns": <the server's monotonic clock minus the worker's>,
     "events": [[t_ns, label, pid, tid, kind, item, data], ...], "last": false}

each event a raw event of the worker's own tracer (`concviz_tracer.kinds`),
stamped by the worker's clock. `last`: the worker leaves after this batch.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from app.events import RawEvent
from app.params import FieldError, ParamsError
from app.programs.boot.concviz_tracer.kinds import KINDS

# A body's bytes, and a batch's events, at most. A tracer flushes at most
# 256 events at once (concviz_tracer.recorder.MAX_BATCH); the worker sends
# what it has read since its last POST, so a batch may hold several.
MAX_BODY_BYTES = 1 << 20
MAX_EVENTS = 2000
MAX_TEXT = 16 * 1024  # a string in an event's data (a printed line, a traceback)
MAX_NAME = 256  # a label, an item's key
MAX_LIST = 256  # a list's or a dict's entries in an event's data
MAX_ERRORS = 5  # wrong events named in one answer
MAX_HOST = 40
INT_MAX = 2**63 - 1
PID_MAX = 2**31 - 1

# The join address: /join/<run id>/<token> (run ids: app.registry; tokens:
# secrets.token_urlsafe).
JOIN_PATH = re.compile(r"^/join/(?P<run>[0-9a-f]{1,32})/(?P<token>[A-Za-z0-9_-]{16,64})/?$")
WORKER_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_NOT_HOST = re.compile(r"[^A-Za-z0-9._-]+")
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})

# The data fields the stage reads as numbers (`int(...)`, `float(...)`).
NUMBERS = frozenset(
    {
        "pid",
        "ppid",
        "tid",
        "exitcode",
        "maxsize",
        "parties",
        "waiting",
        "depth",
        "acked",
        "size",
        "line",
        "timeout",
        "s",
        "index",
        "unfinished",
        "min_idle_ms",
        "events",
        "workers",
    }
)


@dataclass(frozen=True)
class JoinAddress:
    """Where a worker joins: the server (``http://host:port``), the run and
    its join token."""

    base: str
    run: str
    token: str

    @property
    def host(self) -> str:
        return urlsplit(self.base).hostname or ""

    @property
    def url(self) -> str:
        return f"{self.base}/join/{self.run}/{self.token}"

    @property
    def events_url(self) -> str:
        return f"{self.url}/events"


def parse_address(url: str) -> JoinAddress:
    """The join address in `url`; ValueError saying what is wrong with it."""
    try:
        parts = urlsplit(url.strip())
        _ = parts.port
    except ValueError as exc:
        raise ValueError(f"{url!r} is no URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is no http:// address of a concviz server")
    m = JOIN_PATH.match(parts.path)
    if m is None:
        raise ValueError(
            f"{url!r} is no join address: it looks like http://HOST:PORT/join/RUN/TOKEN,"
            " as the presenter's page shows it"
        )
    base = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
    return JoinAddress(base, m.group("run"), m.group("token"))


def host_label(name: str) -> str:
    """A machine's name as a label's first part: letters, digits, dots,
    dashes and underscores, at most MAX_HOST characters."""
    cleaned = _NOT_HOST.sub("-", name).strip("-.")[:MAX_HOST].strip("-.")
    return cleaned or "worker"


def redis_url_for(url: str, reached: str) -> str:
    """The run's Redis URL as a worker that reached concviz at the host
    `reached` uses it: a loopback host there is the server's machine, which
    is `reached` from here."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or parts.hostname not in LOOPBACK:
        return url
    if reached in LOOPBACK:
        return url
    user = parts.netloc.rpartition("@")[0]
    host = f"[{reached}]" if ":" in reached else reached
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{user}@{host}{port}" if user else f"{host}{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def redis_problem(url: str, reached: str) -> str | None:
    """Why a worker that reached concviz at `reached` cannot use the run's
    Redis server at `url` (None: it can)."""
    if urlsplit(url).scheme == "unix" and reached not in LOOPBACK:
        return (
            "the run's Redis server answers only on the server's own machine (a unix"
            " socket): the presenter starts concviz with --lan for other machines to join"
        )
    return None


@dataclass(frozen=True)
class Batch:
    """A joined worker's batch of events, checked."""

    worker: str
    host: str
    role: str
    offset_ns: int
    events: list[RawEvent]
    last: bool


def parse_batch(body: Any, roles: tuple[str, ...]) -> Batch:
    """`body` (decoded JSON) as a batch of a worker joined in one of `roles`;
    ParamsError naming each field that is wrong (up to MAX_ERRORS events)."""
    if not isinstance(body, dict):
        raise ParamsError([FieldError("body", "the body must be a JSON object")])
    errors: list[FieldError] = []
    known = {"worker", "host", "role", "offset_ns", "events", "last"}
    for name in sorted(set(body) - known):
        errors.append(FieldError(str(name)[:40], f"unknown field {str(name)[:40]!r}"))
    worker = body.get("worker")
    if not isinstance(worker, str) or not WORKER_ID.match(worker):
        errors.append(FieldError("worker", "worker must be 8 to 64 letters, digits, - or _"))
    host = body.get("host")
    if not isinstance(host, str) or host_label(host) != host:
        errors.append(
            FieldError(
                "host", f"host must be a machine's name: letters, digits, . - _, {MAX_HOST} at most"
            )
        )
    role = body.get("role")
    if role not in roles:
        errors.append(FieldError("role", f"role must be one of {', '.join(roles)}"))
    offset = body.get("offset_ns", 0)
    if not _is_int(offset):
        errors.append(FieldError("offset_ns", "offset_ns must be an integer (nanoseconds)"))
    last = body.get("last", False)
    if not isinstance(last, bool):
        errors.append(FieldError("last", "last must be true or false"))
    raw = body.get("events", [])
    evs: list[RawEvent] = []
    if not isinstance(raw, list):
        errors.append(FieldError("events", "events must be a list"))
    elif len(raw) > MAX_EVENTS:
        errors.append(FieldError("events", f"events: at most {MAX_EVENTS} in one batch"))
    else:
        wrong = 0
        for i, e in enumerate(raw):
            problem = event_problem(e)
            if problem is None:
                evs.append(tuple(e))  # type: ignore[arg-type]
                continue
            errors.append(FieldError(f"events.{i}", f"events[{i}]: {problem}"))
            wrong += 1
            if wrong >= MAX_ERRORS:
                break
    if errors:
        raise ParamsError(errors)
    return Batch(str(worker), str(host), str(role), int(offset), evs, bool(last))


def event_problem(e: Any) -> str | None:
    """What is wrong with `e` as a raw event of a tracer (None: nothing)."""
    if not isinstance(e, list) or len(e) != 7:
        return "an event is a list of 7: [t_ns, worker, pid, tid, kind, item, data]"
    t, label, pid, tid, kind, item, data = e
    if not _is_int(t) or t < 0:
        return "t_ns must be an integer, 0 or more"
    if not isinstance(label, str) or not 0 < len(label) <= MAX_NAME:
        return f"worker must be a label of 1 to {MAX_NAME} characters"
    if not _is_int(pid) or not 0 < pid <= PID_MAX:
        return "pid must be a process id (a positive integer)"
    if not _is_int(tid) or not 0 <= tid <= PID_MAX:
        return "tid must be a thread id (an integer, 0 or more)"
    if kind not in KINDS:
        return f"kind {str(kind)[:40]!r} is not one a tracer sends"
    if item is not None and (not isinstance(item, str) or len(item) > MAX_NAME):
        return f"item must be null or a string of at most {MAX_NAME} characters"
    if data is None:
        return None
    if not isinstance(data, dict) or len(data) > MAX_LIST:
        return f"data must be null or an object of at most {MAX_LIST} fields"
    for key, value in data.items():
        if len(key) > MAX_NAME:
            return "data: a field's name is too long"
        if key in NUMBERS:
            if value is not None and not _is_number(value):
                return f"data.{key} must be a number or null"
        elif not _plain(value, nested=True):
            return (
                f"data.{key[:40]} must be a string (at most {MAX_TEXT} characters), a"
                f" number, true, false, null, or a list or an object of those"
            )
    return None


def clean_event(raw: RawEvent) -> list[Any]:
    """A tracer's raw event as a batch sends it: what the server would
    refuse (a float that is no number, a string or a list too long, a value
    JSON has not) made plain, so that one odd value never costs a batch."""
    t, label, pid, tid, kind, item, data = raw
    out = None
    if data is not None:
        out = {}
        for k, v in list(data.items())[:MAX_LIST]:
            k = str(k)[:MAX_NAME]
            if k in NUMBERS:
                out[k] = v if v is None or _is_number(v) else None
            else:
                out[k] = _cleaned(v, nested=True)
    return [t, label[:MAX_NAME], pid, tid, kind, item[:MAX_NAME] if item else item, out]


def _cleaned(x: Any, nested: bool) -> Any:
    if x is None or _is_number(x):
        return x
    if type(x) is float:  # infinite, or not a number
        return None
    if isinstance(x, str):
        return x[:MAX_TEXT]
    if nested and isinstance(x, list | tuple):
        return [_cleaned(v, nested=False) for v in x[:MAX_LIST]]
    if nested and isinstance(x, dict):
        return {str(k)[:MAX_NAME]: _cleaned(v, nested=False) for k, v in list(x.items())[:MAX_LIST]}
    return str(x)[:MAX_TEXT]


def _is_int(x: Any) -> bool:
    return type(x) is int and -INT_MAX <= x <= INT_MAX


def _is_number(x: Any) -> bool:
    return _is_int(x) or (type(x) is float and math.isfinite(x)) or type(x) is bool


def _plain(x: Any, nested: bool) -> bool:
    if x is None or _is_number(x):
        return True
    if isinstance(x, str):
        return len(x) <= MAX_TEXT
    if not nested:
        return False
    if isinstance(x, list):
        return len(x) <= MAX_LIST and all(_plain(v, nested=False) for v in x)
    if isinstance(x, dict):
        return len(x) <= MAX_LIST and all(
            isinstance(k, str) and len(k) <= MAX_NAME and _plain(v, nested=False)
            for k, v in x.items()
        )
    return False
