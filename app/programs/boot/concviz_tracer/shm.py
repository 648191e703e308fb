"""Shared memory segments (``multiprocessing.shared_memory``): their lives.

What a process writes into a segment is memory: the tracer cannot see it.
It sees a segment's life: the process that creates it, each process that
opens it by its name, each ``close()`` and the ``unlink()`` that takes the
name away. The segment's key is its name, the same in every process; a
``ShareableList`` is shown as itself (it keeps its items in a segment).
A segment the program makes is marked in the run's directory until it is
unlinked (`segments`). A segment that library code creates (a manager's
server) is not shown; one it opens (a segment unpickled in a spawned child)
is. A forked child has its parent's segments mapped without opening them:
the fold knows (`app.programs.folds.shm`).
"""

from __future__ import annotations

import contextlib
import sys
from types import ModuleType

from . import kinds as K
from . import outlet, recorder, registry, segments, where

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any

PREFIX = "shm:"  # the key of every segment, and of nothing else


def install(module: ModuleType) -> None:
    cls: Any = module.SharedMemory
    real_init, real_close, real_unlink = cls.__init__, cls.close, cls.unlink
    run_dir = outlet.run_dir()

    def __init__(
        self: Any, name: Any = None, create: bool = False, size: int = 0, **kwargs: Any
    ) -> None:
        real_init(self, name, create, size, **kwargs)
        if create and run_dir:
            segments.mark(run_dir, self.name)
        if recorder.is_silent():
            return
        frame = where.user_frame(1)
        if frame is None and create:
            return
        made_for = sys._getframe(1).f_locals.get("self")
        kind = "ShareableList" if type(made_for).__name__ == "ShareableList" else "SharedMemory"
        data = where.frame_data(frame)
        data.update(
            type=kind,
            lib="shared_memory",
            name=registry.names_for(frame, kind)[0] if frame is not None else f"<{kind}>",
            segment=self.name,
            size=self.size,
            created=bool(create),
        )
        self._cv_key = PREFIX + self.name
        recorder.emit(K.SHM_OPEN, self._cv_key, data)

    def close(self: Any) -> None:
        real_close(self)
        key = getattr(self, "_cv_key", None)
        if key is not None and not getattr(self, "_cv_closed", False):
            self._cv_closed = True
            with contextlib.suppress(Exception):  # also from __del__, at the very end
                recorder.emit(K.SHM_CLOSE, key, where.at(1))

    def unlink(self: Any) -> None:
        real_unlink(self)
        if run_dir:
            segments.unmark(run_dir, self.name)
        key = getattr(self, "_cv_key", None)
        if key is not None:
            recorder.emit(K.SHM_UNLINK, key, where.at(1))

    for real, traced in ((real_init, __init__), (real_close, close), (real_unlink, unlink)):
        traced.__doc__ = real.__doc__
    cls.__init__, cls.close, cls.unlink = __init__, close, unlink
