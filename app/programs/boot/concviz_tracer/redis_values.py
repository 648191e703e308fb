"""Redis keys and values as the tracer reports them (`redisq`).

A Redis key is one object for every process of the program: its key is
``"redis:<addr>/<db>/<redis key>"`` (addr: ``host:port`` as the client was
given it, or the unix socket's path), and each process says ``new`` the
first time it meets it.

Values are shown as Redis holds them: what the client sends is bytes, so
``rpush("q", 5)`` and the ``b"5"`` a consumer pops are both ``'5'``, and a
stream entry's fields are a dict of text (``{'item': 'P1#1'}``) for the
producer and for a consumer with or without ``decode_responses``.
"""

from __future__ import annotations

import contextlib
import os
import sys

from . import gate, recorder, where
from . import kinds as K

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

LIST, STREAM = "RedisList", "RedisStream"

_emit = recorder.emit
_site_data = where.site_data
_short_repr = where.short_repr

_seen: set[str] = set()  # the keys this process has said `new` of
_said: set[str] = set()  # what `failed` has said


def _forked() -> None:
    _seen.clear()


os.register_at_fork(after_in_child=_forked)


def text(x: Any) -> str:
    """What Redis holds for `x`, as text (redis-py's encoder: numbers by
    their repr, text as UTF-8)."""
    t = type(x)
    if t is str:
        return x  # type: ignore[no-any-return]
    if t is bytes or t is bytearray or t is memoryview:
        b = bytes(x)
        try:
            return b.decode()
        except UnicodeDecodeError:
            return repr(b)
    if t is int or t is float:
        return repr(x)
    return str(x)


def shown(x: Any) -> str:
    """The short repr of a value as Redis holds it (bytes that are not
    UTF-8 as bytes)."""
    if type(x) is bytes:
        try:
            x = x.decode()
        except UnicodeDecodeError:
            return _short_repr(x)
    return _short_repr(text(x))


def fields(entry: Any) -> str:
    """A stream entry's fields, short: a dict or a flat list of pairs."""
    pairs: Iterable[tuple[Any, Any]]
    if isinstance(entry, dict):
        pairs = entry.items()
    elif isinstance(entry, (list, tuple)):
        pairs = zip(entry[::2], entry[1::2], strict=False)
    else:
        return _short_repr(entry)
    return _short_repr({text(k): text(v) for k, v in pairs})


def upper(x: Any) -> str:
    return text(x).upper() if type(x) in (str, bytes) else ""


def key_prefix(client: Any) -> str:
    pool = client.connection_pool
    prefix = getattr(pool, "_cv_redis", None)
    if prefix is None:
        kw = pool.connection_kwargs
        path = kw.get("path")
        addr = path if path else f"{kw.get('host', 'localhost')}:{kw.get('port', 6379)}"
        prefix = f"redis:{addr}/{kw.get('db', 0) or 0}/"
        with contextlib.suppress(AttributeError):  # a pool with slots: made each time
            pool._cv_redis = prefix
    return prefix  # type: ignore[no-any-return]


def object_key(client: Any, name: Any, type_name: str, site: Any) -> str:
    """The object key of the Redis key `name`; its `new` the first time."""
    name = text(name)
    key = key_prefix(client) + name
    if key not in _seen:
        _seen.add(key)
        data = _site_data(site)
        data.update(type=type_name, lib="redis", name=name)
        _emit(K.NEW, key, data)
    return key


def opened(client: Any, name: Any, type_name: str, op: str) -> tuple[Any, str]:
    """Where the user's code calls a command on the Redis key `name` from,
    and that key's object key; in step mode, once the class let `op` on it
    go."""
    site = where.site(3)
    key = object_key(client, name, type_name, site)
    if gate.view[0]:
        gate.hold(op, key, where.site_data(site))
    return site, key


def seconds(x: Any) -> float | None:
    """A blocking list command's timeout (seconds; 0: for good)."""
    s = float(text(x))
    return None if s == 0 else s


def failed(what: str, e: Exception) -> None:
    """The reply did not have the shape expected: the program goes on, the
    call untraced; said once a process."""
    if what not in _said:
        _said.add(what)
        sys.stderr.write(f"concviz: could not trace a Redis {what}: {e!r}\n")
