"""The FIFO a traced program's processes write their event batches into.

Every Python process of the program opens it itself (write only, at its
first flush) and writes frames of at most `select.PIPE_BUF` bytes (the
format of `app.programs.boot.concviz_tracer.wire`, the same as the lessons'
`app.eventpipe`), so frames from any number of processes arrive whole and
in each writer's order. The server reads it here.

The FIFO itself keeps one write end open as long as it lives: without it the
reader would see end-of-file whenever no process of the program held the
FIFO open (before the first one opens it, between a child's exit and the
next one's first flush), and a reader at end-of-file cannot wait. With it,
a reader waits for the next frame; the program's end is the supervisor's to
notice (its processes are gone), not the reader's.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from app.programs.boot.concviz_tracer.wire import Reassembler, read_batch

log = logging.getLogger(__name__)

# The pipe's buffer (the system caps it, see /proc/sys/fs/pipe-max-size):
# how far the program may run ahead of the reader before its writes wait.
BUFFER_BYTES = 1 << 20


class EventFifo:
    def __init__(self, directory: str | os.PathLike[str], name: str = "events.fifo") -> None:
        """Make the FIFO `name` in `directory` and open its read end."""
        self.path = Path(directory) / name
        os.mkfifo(self.path, 0o600)
        # O_NONBLOCK: opening the read end of a FIFO otherwise waits for a
        # writer. Reads block (with a timeout through poll) once it is open.
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            os.set_blocking(fd, True)
            self._keep = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
        except OSError:
            os.close(fd)
            raise
        with contextlib.suppress(OSError):  # above the system's limit the default stays
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, BUFFER_BYTES)
        self._reader = Connection(fd, writable=False)
        self._reassembler = Reassembler(log.error)

    def get(self, timeout: float) -> Any:
        """The next whole batch; `queue.Empty` if none came within `timeout`.
        A message that is no frame raises (`ValueError`, `struct.error`,
        `OSError`)."""
        return read_batch(self._reader, self._reassembler, timeout)

    def close(self) -> None:
        """Close both ends and remove the FIFO. Writers still holding it get
        `EPIPE` at their next write (their tracer then ends their program)."""
        if self._keep < 0:
            return
        self._reassembler.close()
        self._reader.close()
        os.close(self._keep)
        self._keep = -1
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
