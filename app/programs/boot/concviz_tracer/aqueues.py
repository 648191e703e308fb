"""asyncio's queues (``asyncio.Queue``, ``LifoQueue``, ``PriorityQueue``):
what goes in and what comes out.

A loop's coroutines take turns in the one thread that runs it: a put or a
get is that thread's, and says which task made it (``task``: its name, as
``asyncio.current_task().get_name()`` gives it). A coroutine that awaits a
full or empty queue does not block its thread, so no wait is said: the
loop runs its other tasks, or says `loop_wait` when none can run
(`loops`). Every put and get ends in ``put_nowait`` or ``get_nowait``
(the coroutines call them once there is room, or an item), which this
module wraps; a queue that library code makes is left alone.
"""

from __future__ import annotations

import sys

from . import kinds as K
from . import recorder, registry, where

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any


def install(module: ModuleType) -> None:
    cls: Any = module.Queue
    real_init, real_put, real_get = cls.__init__, cls.put_nowait, cls.get_nowait

    def said(kind: str, key: str, item: Any, size: int) -> None:
        data = where.at(2)
        data["v"] = item if type(item) in where.PLAIN_TYPES else where.short_repr(item)
        data["size"] = size
        tasks = sys.modules.get("asyncio.tasks")  # imported with asyncio
        task = tasks.current_task() if tasks is not None else None
        if task is not None:
            data["task"] = task.get_name()
        recorder.emit(kind, key, data)

    def __init__(self: Any, maxsize: int = 0, **kwargs: Any) -> None:
        real_init(self, maxsize, **kwargs)
        frame = where.called_by_user(1)
        if frame is not None and not recorder.is_silent():
            name = type(self).__name__
            self._cv_key = registry.new(name, "asyncio", frame, maxsize=maxsize)

    def put_nowait(self: Any, item: Any) -> None:
        real_put(self, item)
        if self._cv_key is not None:
            said(K.PUT, self._cv_key, item, self.qsize())

    def get_nowait(self: Any) -> Any:
        item = real_get(self)
        if self._cv_key is not None:
            said(K.GET, self._cv_key, item, self.qsize())
        return item

    for real, traced in ((real_init, __init__), (real_put, put_nowait), (real_get, get_nowait)):
        traced.__doc__ = real.__doc__
    cls._cv_key = None
    cls.__init__, cls.put_nowait, cls.get_nowait = __init__, put_nowait, get_nowait
