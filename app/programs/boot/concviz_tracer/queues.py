"""Queues: ``queue.Queue``, ``LifoQueue``, ``PriorityQueue``, ``SimpleQueue``
and multiprocessing's ``Queue``, ``JoinableQueue``, ``SimpleQueue``.

A call that may block tries the non-blocking form first: if it goes, it is
one event (`put`, `get`); if it would block and the caller asked to block,
`put_wait`/`get_wait` is recorded (and flushed once the wait lasts, see
`waits`), then the real call runs with the caller's timeout and its outcome
is recorded (`put`/`get`, or `full`/`empty`). A `put` is stamped before the
item went in, so that the `get` of the same item, in any process, is
stamped after it.
"""

from __future__ import annotations

import contextlib
import queue

from . import gate, recorder, registry, waits, where
from . import kinds as K

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any

# Bound once: the per-call path is short (each global and attribute costs).
_now = recorder._monotonic_ns
_emit = recorder.emit
_emit_item = recorder.emit_item
_site = where.site
_site_data = where.site_data
_short_repr = where.short_repr
_PLAIN = where.PLAIN_TYPES
_PUT, _GET = K.PUT, K.GET
_Full, _Empty = queue.Full, queue.Empty


class QueueTracing:
    """The traced calls of a queue; `_cv_key` is None for an untraced one.

    A traced class calls its library's own ``put`` and ``get`` (the next
    ones after this class in its MRO, found once when the class is made:
    `_cv_put`, `_cv_get`) without a ``super()`` per call."""

    _cv_key: str | None = None
    _cv_put: Any = None
    _cv_get: Any = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        mro = cls.__mro__
        for base in mro[mro.index(QueueTracing) + 1 :]:
            if cls._cv_put is None and "put" in base.__dict__:
                cls._cv_put = base.__dict__["put"]
            if cls._cv_get is None and "get" in base.__dict__:
                cls._cv_get = base.__dict__["get"]

    def _cv_size(self) -> int | None:
        try:
            return int(self.qsize())  # type: ignore[attr-defined]
        except NotImplementedError:  # multiprocessing's, on macOS
            return None

    def _cv_try_get(self) -> tuple[bool, Any]:
        """Take an item if one is there, without waiting: (True, item), else
        (False, None)."""
        try:
            return True, self._cv_get(False)
        except _Empty:
            return False, None

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        key = self._cv_key
        if key is None or (block and timeout is not None and timeout < 0):
            return self._cv_put(item, block, timeout)  # type: ignore[no-any-return]
        site = _site(1)
        if gate.view[0]:
            gate.hold("put", key, _site_data(site))
        t = _now()
        try:
            self._cv_put(item, False)
        except _Full:
            data = _site_data(site)
            if not block:
                data["timeout"] = 0
                _emit(K.FULL, key, data)
                raise
            self._cv_put_waiting(key, data, item, timeout)
            t = 0
        v = item if type(item) in _PLAIN else _short_repr(item)
        _emit_item(_PUT, key, site, v, self._cv_size(), t)
        return None

    def _cv_put_waiting(self, key: str, data: Any, item: Any, timeout: float | None) -> None:
        """A put that found the queue full and is to wait: `put_wait`, then
        the real wait (`full` when it times out)."""
        _emit(K.PUT_WAIT, key, dict(data, timeout=timeout, size=self._cv_size()))
        real_put = self._cv_put
        try:
            waits.until_raises(lambda t: real_put(item, True, t), timeout, _Full)
        except _Full:
            data["timeout"] = timeout
            _emit(K.FULL, key, data)
            raise

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        key = self._cv_key
        if key is None or (block and timeout is not None and timeout < 0):
            return self._cv_get(block, timeout)
        site = _site(1)
        if gate.view[0]:
            gate.hold("get", key, _site_data(site))
        if not block:
            try:
                item = self._cv_get(False)
            except _Empty:
                data = _site_data(site)
                data["timeout"] = 0
                _emit(K.EMPTY, key, data)
                raise
        else:
            got, item = self._cv_try_get()
            if not got:
                item = self._cv_get_waiting(key, _site_data(site), timeout)
        v = item if type(item) in _PLAIN else _short_repr(item)
        _emit_item(_GET, key, site, v, self._cv_size())
        return item

    def _cv_get_waiting(self, key: str, data: Any, timeout: float | None) -> Any:
        """A get that found the queue empty and is to wait: `get_wait`, then
        the real wait (`empty` when it times out)."""
        _emit(K.GET_WAIT, key, dict(data, timeout=timeout, size=self._cv_size()))
        real_get = self._cv_get
        try:
            return waits.until_raises(lambda t: real_get(True, t), timeout, _Empty)
        except _Empty:
            data["timeout"] = timeout
            _emit(K.EMPTY, key, data)
            raise

    def put_nowait(self, item: Any) -> None:
        return self.put(item, False)

    def get_nowait(self) -> Any:
        return self.get(False)


class TaskTracing:
    """`task_done` and `join` of a queue that counts unfinished tasks."""

    _cv_key: str | None = None

    def _cv_unfinished(self) -> int:
        return int(self.unfinished_tasks)  # type: ignore[attr-defined]

    def _cv_counting(self) -> contextlib.AbstractContextManager[Any]:
        """Held from reading the count to the real call, where the queue's
        own lock allows it (re-entrant): the count said is then the one this
        call leaves, not one that another worker's task_done changed
        meanwhile."""
        return contextlib.nullcontext()

    def task_done(self) -> None:
        # Recorded and flushed before it takes effect: the join it ends may
        # end the program, and this process with it (a daemon consumer is
        # terminated with SIGTERM, which leaves no time to flush).
        key = self._cv_key
        if key is None or self._cv_unfinished() <= 0:  # then the real call raises ValueError
            return super().task_done()  # type: ignore[misc,no-any-return]
        data = where.at(1)
        gate.before("task_done", key, data)
        with self._cv_counting():
            unfinished = self._cv_unfinished()
            if unfinished > 0:
                data["unfinished"] = unfinished - 1
                recorder.emit(K.TASK_DONE, key, data)
                recorder.flush()
            super().task_done()  # type: ignore[misc]
        return None

    def join(self) -> None:
        key = self._cv_key
        if key is None:
            return super().join()  # type: ignore[misc]
        data = where.at(1)
        gate.before("join", key, data)
        recorder.emit(K.QJOIN, key, dict(data, unfinished=self._cv_unfinished()))
        recorder.flush()
        super().join()  # type: ignore[misc]
        recorder.emit(K.QJOINED, key, data)
        return None


# The queue module's.


def _traced_init(type_name: str) -> Any:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        _base_init[type_name](self, *args, **kwargs)
        frame = where.called_by_user(1)
        if frame is not None and not recorder.is_silent():
            maxsize = getattr(self, "maxsize", None)
            self._cv_key = registry.new(type_name, "queue", frame, maxsize=maxsize)

    return __init__


_base_init: dict[str, Any] = {}


def install(q: Any) -> None:
    """Replace the queue module's classes with traced subclasses."""
    made: dict[str, type] = {}
    for name, mixins in (
        ("Queue", (TaskTracing, QueueTracing)),
        ("LifoQueue", (TaskTracing, QueueTracing)),
        ("PriorityQueue", (TaskTracing, QueueTracing)),
        ("SimpleQueue", (QueueTracing,)),
    ):
        original = getattr(q, name)
        _base_init[name] = original.__init__
        cls = type(
            name,
            (*mixins, original),
            {
                "__module__": original.__module__,
                "__qualname__": original.__qualname__,
                "__doc__": original.__doc__,
                "_cv_diverts": True,
                "__new__": registry.diverting_new(original),
                "__init__": _traced_init(name),
            },
        )
        made[name] = cls
    for name, cls in made.items():
        setattr(q, name, cls)
