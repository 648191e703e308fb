"""asyncio's event loops. A loop's coroutines take turns inside the one
thread that runs it, and are not drawn one by one; the stage says so where
a process runs a loop, from the user's line that started it (said once per
process: its first loop)."""

from __future__ import annotations

import os

from . import hooks, recorder, where
from . import kinds as K

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any


def install() -> None:
    hooks.when_imported("asyncio.base_events", _patch)


def _patch(module: ModuleType) -> None:
    loop_class = module.BaseEventLoop
    real = loop_class.run_forever
    said: set[int] = set()  # the processes that said theirs (a fork inherits this)

    def run_forever(self: Any) -> Any:
        pid = os.getpid()
        if pid not in said and not recorder.is_silent():
            frame = where.user_frame(1)
            if frame is not None:
                said.add(pid)
                recorder.emit(K.EVENT_LOOP, None, where.frame_data(frame))
        return real(self)

    run_forever.__doc__ = real.__doc__
    loop_class.run_forever = run_forever
