"""The two threads of a run's runtime, as the Run waits for them."""

from __future__ import annotations

import threading


class RunThreads:
    """The two threads of a run's runtime: the reader of its events and the
    supervisor of its program (`app.programs.runtime.ProgramRuntime`)."""

    _reader: threading.Thread
    _supervisor: threading.Thread

    def join(self, timeout: float | None = None) -> bool:
        self._supervisor.join(timeout)
        if self._supervisor.is_alive():
            return False
        self._reader.join(timeout)
        return not self._reader.is_alive()

    @property
    def done(self) -> bool:
        return not self._supervisor.is_alive() and not self._reader.is_alive()
