"""A joined worker's events as the run's own (pure).

A worker on another machine runs the lesson's program under its own
tracer, which knows nothing of the run it joins: its first process is
`main`, its clock is its machine's, its Redis keys name the server as it
reached it. Translated, its events fit the run's:

- labels go under the worker's prefix (its host's name, unique in the
  run): ``Thread-2`` becomes ``alice/Thread-2``, and its first process,
  ``main`` on its own machine, takes its label on the stage
  (``alice/consumer``), which is also its Redis consumer's name; that
  process is no longer the program's first (``proc``'s ``main``);
- times are shifted by the clock offset the worker measured (the server's
  ``monotonic_ns`` minus its own), and kept between the run's start and
  now: a wrong offset cannot put an event before the run or in the future;
- a Redis key on the run's server and database is the run's own key
  (``redis:192.168.1.20:6379/3/orders`` is the run's
  ``redis:127.0.0.1:6379/3/orders``), so both sides' ``orders`` are one
  stream on the stage; its other object keys go under the prefix.

Pids and thread ids stay the real ones of the worker's machine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from app.events import RawEvent
from app.programs.boot.concviz_tracer import kinds as K

REDIS = "redis:"
FIRST = "main"  # a tracer's label of its program's first process


@dataclass(frozen=True)
class Translation:
    """How one joined worker's events become the run's."""

    prefix: str  # its labels' and keys' first part: "alice", "alice #2"
    label: str  # its first process on the stage: "alice/consumer"
    redis_prefix: str  # the run's Redis database as its tracer names it
    offset_ns: int  # the server's clock minus the worker's


def redis_prefix(url: str) -> str:
    """``redis:<addr>/<db>/``, the start of the keys a tracer gives a Redis
    client of `url` (as `concviz_tracer.redis_values.key_prefix` does:
    ``host:port`` or the socket's path, and the database)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    if parts.scheme == "unix":
        addr = parts.path
        db = query.get("db", "0")
    else:
        addr = f"{parts.hostname or 'localhost'}:{parts.port or 6379}"
        db = parts.path.strip("/") or query.get("db", "0")
    return f"{REDIS}{addr}/{int(db) if db.isdigit() else 0}/"


def label(name: str, tr: Translation) -> str:
    """A label of the worker's program as the run shows it."""
    return tr.label if name == FIRST else f"{tr.prefix}/{name}"


def key(item: str, tr: Translation) -> str:
    """An item of the worker's program (a worker's label or an object's
    key) as the run knows it."""
    if item.startswith(REDIS):
        return redis_key(item, tr.redis_prefix)
    return label(item, tr)


def redis_key(item: str, run_prefix: str) -> str:
    """A Redis key's object key on the run's side: the same server (by its
    port) and database as the run's is the run's; any other stays as it is."""
    if not run_prefix or item.startswith(run_prefix):
        return item
    addr, db, name = _split(item)
    run_addr, run_db, _ = _split(run_prefix)
    if db != run_db or "/" in addr or "/" in run_addr:  # another database, a socket
        return item
    if addr.rpartition(":")[2] != run_addr.rpartition(":")[2]:  # another server
        return item
    return run_prefix + name


def _split(item: str) -> tuple[str, str, str]:
    """``redis:<addr>/<db>/<name>`` as (addr, db, name); addr may be a path."""
    body = item[len(REDIS) :]
    if body.startswith("/"):  # a unix socket's path: its last two parts are db and name
        head, _, name = body.rpartition("/")
        addr, _, db = head.rpartition("/")
        return addr, db, name
    addr, _, rest = body.partition("/")
    db, _, name = rest.partition("/")
    return addr, db, name


def translate(
    batch: Iterable[RawEvent], tr: Translation, *, start_ns: int, now_ns: int
) -> list[RawEvent]:
    """`batch`, a joined worker's raw events, as the run's raw events."""
    out: list[RawEvent] = []
    for t, worker, pid, tid, kind, item, data in batch:
        t = min(max(t + tr.offset_ns, start_ns), now_ns)
        if item is not None:
            item = key(item, tr)
        if data:
            if kind == K.PROC and data.get("main"):
                data = {**data, "main": False, "ppid": 0}  # its parent is not the run's
            elif kind == K.NEW and isinstance(data.get("peer"), str):
                data = {**data, "peer": key(data["peer"], tr)}
        out.append((t, label(worker, tr), pid, tid, kind, item, data))
    return out


def ended(tr: Translation, pids: Iterable[int], now_ns: int) -> list[RawEvent]:
    """The events that end a joined worker's processes still alive on the
    stage, when it can no longer say so itself (revoked, or silent)."""
    return [(now_ns, tr.label, pid, pid, K.EXIT, None, {"exitcode": None}) for pid in sorted(pids)]
