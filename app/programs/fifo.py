"""The FIFO a traced program's processes write their event batches into.

Every Python process of the program opens it itself (write only, at its
first flush) and writes frames of at most `select.PIPE_BUF` bytes (the
format of `app.programs.boot.concviz_tracer.wire`), so frames from any
number of processes arrive whole and in each writer's order. The server
reads it here.

The FIFO itself keeps one write end open as long as it lives: without it the
reader would see end-of-file whenever no process of the program held the
FIFO open (before the first one opens it, between a child's exit and the
next one's first flush), and a reader at end-of-file cannot wait. With it,
a reader waits for the next frame; the program's end is the supervisor's to
notice (its processes are gone), not the reader's.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import logging
import math
import os
import queue
import select
import time
from pathlib import Path
from typing import Any

from app.programs.boot.concviz_tracer.wire import Reassembler, Unframer

log = logging.getLogger(__name__)

# The pipe's buffer (the system caps it, see /proc/sys/fs/pipe-max-size):
# how far the program may run ahead of the reader before its writes wait.
BUFFER_BYTES = 1 << 20
# The most one read takes: all there is, up to this (a reader behind by a
# whole buffer catches up in sixteen reads).
READ_BYTES = 1 << 16


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
        self._fd = fd
        self._poller = select.poll()
        self._poller.register(fd, select.POLLIN)
        self._unframer = Unframer()
        self._reassembler = Reassembler(log.error)
        self._batches: collections.deque[Any] = collections.deque()

    def get(self, timeout: float) -> Any:
        """The next whole batch; `queue.Empty` if none came within `timeout`.
        A message that is no frame raises (`ValueError`, `struct.error`,
        `OSError`). Each read takes all the FIFO holds (up to `READ_BYTES`):
        the batches it completes wait here for the next calls."""
        batches = self._batches
        if batches:
            return batches.popleft()
        deadline = time.monotonic() + timeout
        wait = timeout
        while True:
            if not self._poller.poll(math.ceil(max(0.0, wait) * 1000)):
                wait = deadline - time.monotonic()
                if wait <= 0:
                    raise queue.Empty
                continue
            feed = self._reassembler.feed
            for frame in self._unframer.split(os.read(self._fd, READ_BYTES)):
                done, batch = feed(frame)
                if done:
                    batches.append(batch)
            if batches:
                return batches.popleft()
            wait = deadline - time.monotonic()

    def close(self) -> None:
        """Close both ends and remove the FIFO. Writers still holding it get
        `EPIPE` at their next write (their tracer then ends their program)."""
        if self._keep < 0:
            return
        self._reassembler.close()
        os.close(self._fd)
        os.close(self._keep)
        self._keep = -1
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
