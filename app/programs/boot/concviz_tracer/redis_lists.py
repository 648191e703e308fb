"""Redis lists (`redisq`): a push is a `put` at the head or the tail, a pop
a `get`, a blocking pop records its `get_wait` before it is sent, and a
move is a `get` on its source and a `put` on its destination. The end
(``end``: "head" or "tail") is in each event."""

from __future__ import annotations

from . import gate, recorder, where
from . import kinds as K
from .redis_values import (
    LIST,
    failed,
    key_prefix,
    object_key,
    opened,
    seconds,
    shown,
    text,
    upper,
)

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any

HEAD, TAIL = "head", "tail"

_now = recorder._monotonic_ns
_emit = recorder.emit
_site = where.site
_site_data = where.site_data

# The end of the list a command pushes to or pops from, by its name.
_ENDS_OF = {name: HEAD for name in ("LPUSH", "LPUSHX", "LPOP", "BLPOP")}
_ENDS_OF.update({name: TAIL for name in ("RPUSH", "RPUSHX", "RPOP", "BRPOP")})


def _end(command: Any) -> str:
    return _ENDS_OF.get(command) or _ENDS_OF.get(upper(command), TAIL)


def push(client: Any, real: Any, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
    """LPUSH, RPUSH, LPUSHX, RPUSHX: one `put` per value (the size after
    each, from the reply)."""
    if len(args) < 3:
        return real(client, *args, **options)
    site, key = opened(client, args[1], LIST, "put")
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
        data.update(v=shown(value), size=None if size is None else size - (n - 1 - i), end=end)
        _emit(K.PUT, key, data, t)
    return reply


def pop(client: Any, real: Any, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
    """LPOP, RPOP (with a count: a `get` per value); `empty` on nil."""
    if len(args) < 2:
        return real(client, *args, **options)
    site, key = opened(client, args[1], LIST, "get")
    reply = real(client, *args, **options)
    end = _end(args[0])
    if reply is None:
        data = _site_data(site)
        data["timeout"] = 0
        _emit(K.EMPTY, key, data)
        return reply
    for value in reply if len(args) > 2 and isinstance(reply, list) else (reply,):
        data = _site_data(site)
        data.update(v=shown(value), size=None, end=end)
        _emit(K.GET, key, data)
    return reply


def bpop(client: Any, real: Any, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
    """BLPOP, BRPOP keys... timeout: `get_wait` on each key, then `get` on
    the key that answered, or `empty` on each when the time was up."""
    try:
        timeout = seconds(args[-1])
    except (IndexError, ValueError):
        return real(client, *args, **options)
    site = _site(2)
    prefix = key_prefix(client)
    keys = [object_key(client, name, LIST, site) for name in args[1:-1]]
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
        failed("BLPOP reply", e)
        return reply
    data = _site_data(site)
    data.update(v=shown(value), size=None, end=end)
    _emit(K.GET, prefix + text(name), data)
    return reply


_SIDES = {"LEFT": HEAD, "RIGHT": TAIL}  # LMOVE's words for the ends


def move(client: Any, real: Any, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
    """LMOVE, BLMOVE, RPOPLPUSH, BRPOPLPUSH: a `get` on the source and a
    `put` on the destination (a blocking one: `get_wait` first)."""
    command = upper(args[0])
    try:
        src, dst = args[1], args[2]
        if command.endswith("RPOPLPUSH"):
            frm, to, rest = TAIL, HEAD, args[3:]
        else:
            frm, to, rest = _SIDES[upper(args[3])], _SIDES[upper(args[4])], args[5:]
        blocking = command.startswith("B")
        timeout = seconds(rest[0]) if blocking else 0
    except (IndexError, KeyError, ValueError):
        return real(client, *args, **options)
    site = _site(2)
    source = object_key(client, src, LIST, site)
    target = object_key(client, dst, LIST, site)
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
    v = shown(reply)
    t = _now()
    data = _site_data(site)
    data.update(v=v, size=None, end=frm)
    _emit(K.GET, source, data, t)
    data = _site_data(site)
    data.update(v=v, size=None, end=to)
    _emit(K.PUT, target, data, t)
    return reply
