"""Objects a multiprocessing manager holds: ``Manager().Queue()``,
``JoinableQueue``, ``Lock``, ``RLock``, ``Semaphore``, ``BoundedSemaphore``,
``Condition``, ``Event``, ``Barrier``, ``dict``, ``list``, ``Value``,
``Array`` and ``Namespace``.

The object lives in the manager's server process; the program's processes
hold proxies, and every call of theirs goes through one method,
``BaseProxy._callmethod``, which this module wraps. A call is reported by
the process and thread that made it, as the same call on a queue or lock of
multiprocessing's own is, by the same code (`queues.QueueTracing`,
`locks.acquire`): a put or get that would block is tried without blocking
first, then ``put_wait``/``get_wait`` is recorded before the real call.

An object's key is its manager's address and the id its server gave it,
``"mgr:<address>/<id>"``: the same in every process that holds a proxy of
it (a proxy is pickled as its token, which carries both). The process that
asks the manager for the object says `new` with the name the user's line
gives it; another that meets a key first says `new` too (the fold keeps the
first). A dict, list, Value, Array or Namespace says `changed`
after each call that changes it, with what it holds then
(`managed_values`).
"""

from __future__ import annotations

import os

from . import kinds as K
from . import recorder, where
from .locks import acquire
from .managed_values import CHANGES, CONTAINERS, change, made
from .proxies import bound, key_of, key_of_proxy, opened, said_new
from .queues import QueueTracing

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any

QUEUES = ("Queue", "JoinableQueue")
SYNCS = ("Lock", "RLock", "Semaphore", "BoundedSemaphore", "Condition", "Event", "Barrier")
TRACED = (*QUEUES, *SYNCS, *CONTAINERS)

_depth: dict[tuple[str, int], int] = {}  # an RLock's depth, per thread


def _forked() -> None:
    # An RLock's depth is the parent thread's. The keys the parent said
    # `new` of (`proxies`) the fold knows: a forked child says no `new` of
    # them again (a spawned one does, with no name to give).
    _depth.clear()


os.register_at_fork(after_in_child=_forked)


def _extra(typeid: str, args: Any, kwds: Any) -> dict[str, Any]:
    """What its `new` says besides its name: a queue's maxsize, a
    semaphore's value and a barrier's parties as the call gave them, what
    a container holds."""
    extra: dict[str, Any] = {}
    first = args[0] if args else None
    if typeid in QUEUES:
        size = first if first is not None else kwds.get("maxsize", 0)
        if type(size) is int and size > 0:
            extra["maxsize"] = size
    elif typeid in ("Semaphore", "BoundedSemaphore"):
        value = first if first is not None else kwds.get("value", 1)
        extra["value"] = value if type(value) is int else 1
    elif typeid == "Barrier":
        parties = first if first is not None else kwds.get("parties", 0)
        extra["parties"] = parties if type(parties) is int else 0
    shows = made(typeid, args, kwds)
    if shows is not None:
        extra["shows"] = shows
    return extra


def install(managers: Any) -> None:
    BaseManager, BaseProxy = managers.BaseManager, managers.BaseProxy
    real_create, real_call = BaseManager._create, BaseProxy._callmethod

    def _create(self: Any, typeid: str, /, *args: Any, **kwds: Any) -> Any:
        token, exposed = real_create(self, typeid, *args, **kwds)
        if typeid in TRACED and not recorder.is_silent():
            # The user's line that asked for it: m.Queue(3) called
            # SyncManager's generated method, which called this.
            frame = where.called_by_user(2)
            if frame is not None:
                said_new(key_of(token), typeid, frame, None, _extra(typeid, args, kwds))
        return token, exposed

    def _callmethod(self: Any, methodname: str, args: Any = (), kwds: Any = None) -> Any:
        traced = _CALLS.get((self._token.typeid, methodname))
        if traced is None or recorder.is_silent() or where.user_frame(1) is None:
            return real_call(self, methodname, args, kwds or {})
        return traced(self, real_call, args, kwds or {})

    BaseManager._create = _create
    BaseProxy._callmethod = _callmethod


# Queues.


class _RemoteQueue(QueueTracing):
    """A proxied queue as `queues.QueueTracing` drives one: its put and get
    are the server's, called through the proxy."""

    __slots__ = ("proxy", "call", "_cv_key")

    def __init__(self, proxy: Any, call: Any, key: str) -> None:
        self.proxy, self.call, self._cv_key = proxy, call, key

    def _cv_put(self, item: Any, block: bool = True, timeout: float | None = None) -> Any:
        return self.call(self.proxy, "put", (item, block, timeout), {})

    def _cv_get(self, block: bool = True, timeout: float | None = None) -> Any:
        return self.call(self.proxy, "get", (block, timeout), {})

    def _cv_size(self) -> int | None:
        try:
            return int(self.call(self.proxy, "qsize", (), {}))
        except Exception:  # a size the server cannot give is no size
            return None


def _queue_call(method: str) -> Any:
    """The traced `method` (put, get, put_nowait, get_nowait) of a proxied queue."""

    def call(proxy: Any, real: Any, args: Any, kwds: Any) -> Any:
        return getattr(_RemoteQueue(proxy, real, key_of_proxy(proxy)), method)(*args, **kwds)

    return call


def _task_done(proxy: Any, call: Any, args: Any, kwds: Any) -> Any:
    # Recorded and flushed before it takes effect, as a queue of the
    # process's own (`queues.TaskTracing`): the join it ends may end the
    # program. The server does not say how many tasks are unfinished.
    key, data = opened(proxy, "task_done")
    recorder.emit(K.TASK_DONE, key, data)
    recorder.flush()
    return call(proxy, "task_done", args, kwds)


def _join(proxy: Any, call: Any, args: Any, kwds: Any) -> Any:
    key, data = opened(proxy, "join")
    recorder.emit(K.QJOIN, key, data)
    recorder.flush()
    result = call(proxy, "join", args, kwds)
    recorder.emit(K.QJOINED, key, data)
    return result


# Locks and events.


class _Remote:
    """A proxied lock as `locks.acquire` takes one: acquire(blocking, t),
    t None for good."""

    __slots__ = ("proxy", "call")

    def __init__(self, proxy: Any, call: Any) -> None:
        self.proxy, self.call = proxy, call

    def acquire(self, blocking: bool, timeout: float | None = None) -> bool:
        args = (blocking,) if timeout is None else (blocking, timeout)
        return bool(self.call(self.proxy, "acquire", args, {}))


def _acquire(proxy: Any, call: Any, args: Any, kwds: Any) -> Any:
    blocking, timeout = bound(args, kwds, ("blocking", "timeout"), (True, None))
    if timeout is not None and timeout < 0:
        timeout = None  # threading's "for good", the lock on the server is threading's
    key = key_of_proxy(proxy)
    after = None
    if proxy._token.typeid == "RLock":
        mine = (key, recorder._get_ident())

        def after() -> dict[str, int]:
            _depth[mine] = depth = _depth.get(mine, 0) + 1
            return {"depth": depth}

    return acquire(_Remote(proxy, call), key, blocking, timeout, after, None)


def _release(proxy: Any, call: Any, args: Any, kwds: Any) -> Any:
    # Recorded before the server lets it go: a waiter that takes it next
    # is stamped after it.
    key, data = opened(proxy, "release")
    if proxy._token.typeid == "RLock":
        mine = (key, recorder._get_ident())
        data["depth"] = depth = max(0, _depth.get(mine, 1) - 1)
        _depth[mine] = depth
    recorder.emit(K.RELEASED, key, data)
    return call(proxy, "release", args, kwds)


def _set(proxy: Any, call: Any, args: Any, kwds: Any) -> Any:
    key, data = opened(proxy, "set")
    recorder.emit(K.SET, key, data)
    return call(proxy, "set", args, kwds)


def _clear(proxy: Any, call: Any, args: Any, kwds: Any) -> Any:
    key, data = opened(proxy, "clear")
    result = call(proxy, "clear", args, kwds)
    recorder.emit(K.CLEAR, key, data)
    return result


def _wait(proxy: Any, call: Any, args: Any, kwds: Any) -> Any:
    (timeout,) = bound(args, kwds, ("timeout",), (None,))
    key, data = opened(proxy, "wait")
    if not call(proxy, "is_set", (), {}):
        recorder.emit(K.WAIT, key, dict(data, timeout=timeout))
        recorder.flush()
    result = bool(call(proxy, "wait", args, kwds))
    data["result"] = result
    recorder.emit(K.WAITED, key, data)
    return result


def _cwait(proxy: Any, call: Any, args: Any, kwds: Any) -> Any:
    (timeout,) = bound(args, kwds, ("timeout",), (None,))
    key, data = opened(proxy, "wait")
    recorder.emit(K.CWAIT, key, dict(data, timeout=timeout))
    recorder.flush()
    result = call(proxy, "wait", args, kwds)
    recorder.emit(K.CWOKE, key, data)
    return result


def _notify(method: str) -> Any:
    def notify(proxy: Any, call: Any, args: Any, kwds: Any) -> Any:
        key, data = opened(proxy, method)
        (n,) = bound(args, kwds, ("n",), (1,)) if method == "notify" else ("all",)
        recorder.emit(K.NOTIFY, key, dict(data, n=n))
        return call(proxy, method, args, kwds)

    return notify


def _bwait(proxy: Any, call: Any, args: Any, kwds: Any) -> Any:
    from .syncs import barrier_wait

    (timeout,) = bound(args, kwds, ("timeout",), (None,))
    key, data = opened(proxy, "wait")

    def attribute(name: str) -> Any:
        return call(proxy, "__getattribute__", (name,), {})

    try:  # Barrier(n, timeout=...): a wait that will end by itself is no hang
        waiting = dict(data, waiting=attribute("n_waiting"), parties=attribute("parties"))
        waiting["timeout"] = timeout if timeout is not None else attribute("_timeout")
    except Exception:  # the server has gone: the wait says so itself
        waiting = dict(data, timeout=timeout)
    return barrier_wait(key, data, waiting, lambda: call(proxy, "wait", args, kwds))


def _abort(proxy: Any, call: Any, args: Any, kwds: Any) -> Any:
    key, data = opened(proxy, "abort")
    result = call(proxy, "abort", args, kwds)
    recorder.emit(K.BROKEN, key, data)
    return result


_CALLS: dict[tuple[str, str], Any] = {}
for _typeid in QUEUES:
    _CALLS.update(
        {
            **{(_typeid, m): _queue_call(m) for m in ("put", "get", "put_nowait", "get_nowait")},
            (_typeid, "task_done"): _task_done,
            (_typeid, "join"): _join,
        }
    )
for _typeid in ("Lock", "RLock", "Semaphore", "BoundedSemaphore", "Condition"):
    _CALLS.update({(_typeid, "acquire"): _acquire, (_typeid, "release"): _release})
_CALLS.update({("Event", "set"): _set, ("Event", "clear"): _clear, ("Event", "wait"): _wait})
_CALLS.update({("Condition", "wait"): _cwait})
_CALLS.update({("Condition", m): _notify(m) for m in ("notify", "notify_all")})
_CALLS.update({("Barrier", "wait"): _bwait, ("Barrier", "abort"): _abort})
for _typeid, _methods in CHANGES.items():
    _CALLS.update({(_typeid, m): change(m) for m in _methods})
