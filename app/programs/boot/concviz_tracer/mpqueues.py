"""multiprocessing's queues, traced: subclasses that keep their key when
pickled into a child process (``Process(args=(q,))`` under spawn or
forkserver), so a child's calls report on the same queue."""

from __future__ import annotations

import contextlib
from multiprocessing import queues as _queues
from types import FrameType

from . import gate, recorder, registry, where
from . import kinds as K
from .queues import QueueTracing, TaskTracing

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any

_now = recorder._monotonic_ns
_loads = _queues._ForkingPickler.loads  # type: ignore[attr-defined]


class MPQueueTracing(QueueTracing):
    def _cv_size(self) -> int | None:
        q: Any = self
        try:
            return q._maxsize - q._sem._semlock._get_value()  # type: ignore[no-any-return]
        except NotImplementedError:  # sem_getvalue, on macOS
            return None

    def _cv_try_get(self) -> tuple[bool, Any]:
        """What ``get()`` does, when an item was put and no other reader is
        in a get: no wait to report. (A non-blocking ``get`` would poll the
        pipe first, a system call a bare ``get()`` does not make.)"""
        q: Any = self
        if q._closed:
            raise ValueError(f"Queue {q!r} is closed")
        rlock = q._rlock
        if not rlock.acquire(False):
            return False, None
        try:
            try:  # an item was put that no get took (it may still be on its way)
                ready = q._maxsize - q._sem._semlock._get_value() > 0
            except NotImplementedError:  # sem_getvalue, on macOS: data in the pipe?
                ready = q._poll()
            if not ready:
                return False, None
            res = q._recv_bytes()
            q._sem.release()
        finally:
            rlock.release()
        return True, _loads(res)


class Queue(registry.Keyed, MPQueueTracing, _queues.Queue):  # type: ignore[misc]
    pass


class JoinableQueue(registry.Keyed, TaskTracing, MPQueueTracing, _queues.JoinableQueue):  # type: ignore[misc]
    def _cv_unfinished(self) -> int:
        return int(self._unfinished_tasks._semlock._get_value())  # type: ignore[attr-defined]

    def _cv_counting(self) -> contextlib.AbstractContextManager[Any]:
        # The condition its task_done takes, shared by every process (an RLock).
        return self._cond  # type: ignore[attr-defined,no-any-return]


class SimpleQueue(registry.Keyed, _queues.SimpleQueue):  # type: ignore[misc]
    """Its calls have no timeout and it cannot tell its size."""

    def put(self, obj: Any) -> None:
        key = self._cv_key
        if key is None:
            return super().put(obj)
        data = where.at(1)
        gate.before("put", key, data)
        t = _now()
        super().put(obj)
        data["v"] = where.short_repr(obj)
        data["size"] = None
        recorder.emit(K.PUT, key, data, t)
        return None

    def get(self) -> Any:
        key = self._cv_key
        if key is None:
            return super().get()
        data = where.at(1)
        gate.before("get", key, data)
        if self.empty():
            recorder.emit(K.GET_WAIT, key, dict(data, timeout=None, size=None))
            recorder.flush()
        item = super().get()
        data["v"] = where.short_repr(item)
        data["size"] = None
        recorder.emit(K.GET, key, data)
        return item


def make_queue(ctx: Any, frame: FrameType, real: Any, maxsize: int = 0) -> Any:
    q = Queue(maxsize, ctx=ctx.get_context())
    q._cv_key = registry.new("Queue", "multiprocessing", frame, maxsize=maxsize)
    return q


def make_joinable(ctx: Any, frame: FrameType, real: Any, maxsize: int = 0) -> Any:
    q = JoinableQueue(maxsize, ctx=ctx.get_context())
    q._cv_key = registry.new("JoinableQueue", "multiprocessing", frame, maxsize=maxsize)
    return q


def make_simple(ctx: Any, frame: FrameType, real: Any) -> Any:
    q = SimpleQueue(ctx=ctx.get_context())
    q._cv_key = registry.new("SimpleQueue", "multiprocessing", frame)
    return q
