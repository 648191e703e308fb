"""Signal handlers the user's code installs (``signal.signal``): a thread
that waits with no timeout in a process that has one is not stuck for sure,
since a signal may wake it (an alarm that sets an event, a Ctrl-C handler).
The hang diagnosis says so (`app.programs.diagnosis`)."""

from __future__ import annotations

import signal as _signal

from . import kinds as K
from . import recorder, where

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any


def install() -> None:
    real = _signal.signal

    def signal(signalnum: Any, handler: Any) -> Any:
        old = real(signalnum, handler)
        frame = where.called_by_user(1)
        if frame is not None and not recorder.is_silent():
            try:
                name = _signal.Signals(signalnum).name
            except ValueError:
                name = str(signalnum)
            data = where.frame_data(frame)
            data.update(signal=name, handled=callable(handler))
            recorder.emit(K.SIGNAL, None, data)
        return old

    signal.__doc__ = real.__doc__
    _signal.signal = signal
