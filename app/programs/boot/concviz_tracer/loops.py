"""asyncio's event loops. A loop's coroutines take turns inside the one
thread that runs it, and are not drawn one by one; the stage says so where
a process runs a loop, from the user's line that started it (said once per
process: its first loop).

A loop with nothing ready waits in its selector: that wait is `loop_wait`
(with how many files besides its own wake-up pipe it watches: input or
output may still wake it) and `loop_woke` after. With no timer due it waits
with no timeout, and with no file to watch only another thread can wake it:
when every coroutine awaits something no other coroutine will do, the
program hangs. A wait until its next timer (``asyncio.sleep``, a timeout)
says how long (`timer`), from TIMER_S on: shorter ones are a busy loop's.
"""

from __future__ import annotations

import os

from . import hooks, recorder, where
from . import kinds as K

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

TIMER_S = 0.05


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
        selector = getattr(self, "_selector", None)
        if selector is not None and not hasattr(selector, "_cv_select"):
            _trace_waits(selector)
        return real(self)

    run_forever.__doc__ = real.__doc__
    loop_class.run_forever = run_forever


def _trace_waits(selector: Any) -> None:
    real_select = selector.select

    def select(timeout: Any = None) -> Any:
        if (timeout is not None and timeout < TIMER_S) or recorder.is_silent():
            return real_select(timeout)
        data = where.frame_data(where.user_frame(1))  # the line that runs the loop
        data["io"] = max(0, len(selector.get_map()) - 1)  # besides its wake-up pipe
        if timeout is not None:
            data["timer"] = round(timeout, 3)
        recorder.emit(K.LOOP_WAIT, None, data)
        recorder.flush()
        try:
            return real_select(timeout)
        finally:
            recorder.emit(K.LOOP_WOKE, None, {})

    try:
        selector._cv_select = real_select
        selector.select = select
    except AttributeError:  # a selector with slots: its waits untraced
        pass
