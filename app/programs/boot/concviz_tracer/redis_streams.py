"""Redis streams and their consumer groups (`redisq`): XADD is a `put`
with the entry's id, XREADGROUP a `get` per entry (with BLOCK, a
`get_wait` first), and XGROUP CREATE, XACK, XAUTOCLAIM and XCLAIM say
`xgroup`, `ack` and `claim`."""

from __future__ import annotations

from . import gate, recorder, where
from . import kinds as K
from .redis_values import STREAM, failed, fields, key_prefix, object_key, opened, text, upper

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

_now = recorder._monotonic_ns
_emit = recorder.emit
_site = where.site
_site_data = where.site_data


def xgroup(client: Any, real: Any, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
    """XGROUP CREATE key group id: `xgroup` once the server made it."""
    words = upper(args[0]).split()  # "XGROUP CREATE", as redis-py sends it, or "XGROUP"
    if len(words) == 1:
        words += [upper(args[1])] if len(args) > 1 else []
        rest = args[2:]
    else:
        rest = args[1:]
    if words[1:2] != ["CREATE"] or len(rest) < 3:
        return real(client, *args, **options)
    site, key = opened(client, rest[0], STREAM, "xgroup")
    reply = real(client, *args, **options)
    data = _site_data(site)
    data.update(group=text(rest[1]), start=text(rest[2]))
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
        word = upper(args[i])
        if word in ("MAXLEN", "MINID"):
            i += 3 if upper(args[i + 1]) in ("=", "~") else 2
        elif word in _XADD_OPTIONS:
            i += 1 + _XADD_OPTIONS[word]
        else:
            break
    return args[i + 1 :]


def xadd(client: Any, real: Any, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
    """XADD: a `put` with the id the server gave."""
    if len(args) < 2:
        return real(client, *args, **options)
    site, key = opened(client, args[1], STREAM, "put")
    t = _now()
    reply = real(client, *args, **options)
    if reply is None:  # NOMKSTREAM, and no stream
        return reply
    data = _site_data(site)
    try:
        data.update(v=fields(_xadd_fields(args)), id=text(reply), size=None)
    except IndexError as e:
        failed("XADD", e)
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
        word = upper(args[i])
        if word == "GROUP":
            group, consumer = text(args[i + 1]), text(args[i + 2])
            i += 3
        elif word == "BLOCK":
            block = int(text(args[i + 1]))
            i += 2
        elif word == "STREAMS":
            rest = args[i + 1 :]
            half = len(rest) // 2
            streams = [(name, text(at)) for name, at in zip(rest[:half], rest[half:], strict=True)]
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


def xreadgroup(client: Any, real: Any, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
    """XREADGROUP: with BLOCK, `get_wait` on each stream read with ">"
    first; then a `get` per entry, or `empty` when BLOCK's time was up."""
    try:
        group, consumer, block, streams = _xreadgroup_args(args)
    except (IndexError, ValueError):
        return real(client, *args, **options)
    site = _site(2)
    prefix = key_prefix(client)
    asked = {object_key(client, name, STREAM, site): at for name, at in streams}
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
            key = prefix + text(name)
            again = asked.get(key, ">") != ">"
            for entry in entries:
                if entry is None or entry[0] is None:  # an entry deleted while pending
                    continue
                data = _site_data(site)
                data.update(v=fields(entry[1]), id=text(entry[0]), again=again, **who)
                _emit(K.GET, key, data)
                got = True
    except (TypeError, IndexError, KeyError) as e:
        failed("XREADGROUP reply", e)
        return reply
    if not got:
        for key in waited:
            data = _site_data(site)
            data.update(timeout=timeout, **who)
            _emit(K.EMPTY, key, data)
    return reply


def xack(client: Any, real: Any, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
    """XACK key group ids...: `ack`, with how many were pending (the reply)."""
    if len(args) < 4:
        return real(client, *args, **options)
    site, key = opened(client, args[1], STREAM, "ack")
    reply = real(client, *args, **options)
    data = _site_data(site)
    data.update(ids=[text(i) for i in args[3:]], group=text(args[2]), acked=reply)
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
            out.append(text(at))
    return out


def claim(client: Any, real: Any, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
    """XAUTOCLAIM, XCLAIM key group consumer min-idle ...: `claim` of the
    entries the consumer now owns (none: no event)."""
    try:
        group, consumer, idle = text(args[2]), text(args[3]), int(text(args[4]))
    except (IndexError, ValueError):
        return real(client, *args, **options)
    site, key = opened(client, args[1], STREAM, "claim")
    reply = real(client, *args, **options)
    try:
        ids = _claimed_ids(reply)
    except (TypeError, IndexError) as e:
        failed("claim's reply", e)
        return reply
    if ids:
        data = _site_data(site)
        data.update(ids=ids, group=group, consumer=consumer, min_idle_ms=idle)
        _emit(K.CLAIM, key, data)
    return reply
