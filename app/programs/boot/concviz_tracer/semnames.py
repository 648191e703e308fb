"""multiprocessing's named semaphores, marked in the run's directory while
their names exist (`segments`).

Every lock, semaphore, event, condition and barrier of `multiprocessing`
(and every `multiprocessing.Queue`, which holds two) is a POSIX named
semaphore, the file ``/dev/shm/sem.<name>``. Under spawn and forkserver
its name stays until the object is collected, and the resource tracker
unlinks what is left as the program ends. A program killed then (Stop, a
limit, its watchdog when the server is gone) does neither, and the file
would stay for good. So such a name is marked before the semaphore is made
and unmarked once it is unlinked; whoever ends the run unlinks what is
still marked. Under fork its name is unlinked the moment it is made, in
the same C call: not marked (a mark and its removal cost about 90 us, which
a program making a queue per task would feel), and a process killed inside
that call is `app.programs.semtemps`'s.
"""

from __future__ import annotations

import threading
from types import ModuleType

from . import outlet, segments

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any


def file_name(name: str) -> str:
    """The semaphore's file in /dev/shm (glibc's layout): ``sem.`` and its
    name without the slash. `segments.unlink_marked` unlinks it as any
    other file there."""
    return "sem." + name.lstrip("/")


def install(module: ModuleType) -> None:
    run_dir = outlet.run_dir()
    if not run_dir:
        return
    cls: Any = module.SemLock
    real_init, real_make_name, real_cleanup = cls.__init__, cls._make_name, cls._cleanup
    making = threading.local()  # the names tried by the SemLock being made

    def _make_name() -> str:
        name: str = real_make_name()
        tried = getattr(making, "names", None)
        if tried is not None:
            segments.mark(run_dir, file_name(name))
            tried.append(name)
        return name

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        ctx = kwargs.get("ctx") or module.context._default_context.get_context()
        if ctx.get_start_method() == "fork":  # its name is gone as it is made
            real_init(self, *args, **kwargs)
            return
        tried: list[str] = []
        making.names = tried
        try:
            real_init(self, *args, **kwargs)
        finally:
            making.names = None
            # Taken by someone else (a name that existed), or not made at
            # all: only a name it keeps stays marked.
            kept = getattr(getattr(self, "_semlock", None), "name", None)
            for name in tried:
                if name != kept:
                    segments.unmark(run_dir, file_name(name))

    def _cleanup(name: str) -> None:
        real_cleanup(name)
        segments.unmark(run_dir, file_name(name))

    cls.__init__ = __init__
    cls._make_name = staticmethod(_make_name)
    cls._cleanup = staticmethod(_cleanup)
