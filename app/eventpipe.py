"""The event queue of a run with worker processes: a pipe that each worker
writes its batches into itself.

A `multiprocessing.Queue` hands each put to a feeder thread, which pickles
and writes it. In a worker process that thread competes with the worker for
the GIL, and at full speed the hand-over costs more than the events do:
in `bench/pipeline.py`, the least tracing written inline moved about 0.6
as many items as a bare queue when it sent its batches through such a
queue, and about 0.75 when it wrote them straight into a pipe. Here `put`
encodes the batch and writes it at once: when `put` returns, the batch is
in the pipe, so a batch flushed after another one was flushed (in any
process) arrives after it.

Encoding and frames (`app.programs.boot.concviz_tracer.wire`, shared with
the traced programs' event FIFO): each batch in `marshal` (a pickle when
`marshal` cannot), cut in frames of at most `select.PIPE_BUF` bytes that
name their writer, each written at once, so that frames of several writers
may interleave and a writer killed in the middle of a batch leaves whole
frames, whose batch the reader drops (it says so) while it reads on.
Nothing needs a lock. (A lock shared by the writers would stay taken by a
writer killed while it held it, and every other writer, the server's own
end-of-run event included, would wait on it for good.)

Back-pressure is the pipe's own buffer (asked to be `BUFFER_BYTES`): a
writer waits while the server is that far behind.

A signal handler that reports an event (joinable's SIGTERM) may run in the
middle of a `put` of the same thread: its batch waits in that thread's
`pending` frames and the outer `put` writes it next, after the frames of the
batch it interrupted.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import select
import threading
import time
from typing import Any

from app.programs.boot.concviz_tracer.wire import (
    FRAME_BYTES,
    Reassembler,
    decode,
    encode,
    frames,
    read_batch,
)

__all__ = ["BUFFER_BYTES", "FRAME_BYTES", "EventPipe", "decode", "encode", "frames"]

log = logging.getLogger(__name__)

BUFFER_BYTES = 1 << 20


class EventPipe:
    def __init__(self, ctx: Any, put_timeout: float | None = None) -> None:
        """`put_timeout`: how long this process's puts wait for room in the
        pipe before they drop the rest of their batch: the server's, so that
        a reader gone cannot hang the run's end. The workers' copies wait as
        long as it takes (that is the back-pressure)."""
        self._reader, self._writer = ctx.Pipe(duplex=False)
        self._put_timeout = put_timeout
        # Above the system's limit, the default buffer (64 KiB) stays.
        with contextlib.suppress(OSError):
            fcntl.fcntl(self._writer.fileno(), fcntl.F_SETPIPE_SZ, BUFFER_BYTES)
        self._init_local()

    def _init_local(self) -> None:
        self._thread = threading.local()  # .writing, .pending: frames to write
        self._reassembler = Reassembler(log.error)  # the reader's

    def __getstate__(self) -> dict[str, Any]:
        return {"reader": self._reader, "writer": self._writer}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._reader, self._writer = state["reader"], state["writer"]
        self._put_timeout = None
        self._init_local()

    def put(self, batch: Any) -> None:
        """Write one batch (see `put_timeout`)."""
        local = self._thread
        pieces = frames(encode(batch), os.getpid(), threading.get_native_id())
        if getattr(local, "writing", False):  # a signal handler, inside our own put
            local.pending += pieces  # after the frames of the batch it interrupted
            return
        timeout = self._put_timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        local.pending = pending = pieces
        local.writing = True
        try:
            while pending:
                if deadline is not None and not self._room(deadline):
                    log.error("nobody reads the run's events; a batch or more is lost")
                    pending.clear()
                    return
                self._writer.send_bytes(pending[0])
                del pending[0]
        finally:
            local.writing = False

    def _room(self, deadline: float) -> bool:
        """Wait until the pipe takes a frame (it has room for an atomic
        write), or the deadline passes."""
        poller = select.poll()
        poller.register(self._writer.fileno(), select.POLLOUT)
        wait_ms = max(0, int((deadline - time.monotonic()) * 1000))
        return bool(poller.poll(wait_ms))

    def get(self, timeout: float) -> Any:
        """The next whole batch; `queue.Empty` if none came within `timeout`.
        Only the server's reader thread reads. A message that is no frame
        raises (`ValueError`, `struct.error`, `OSError`)."""
        return read_batch(self._reader, self._reassembler, timeout)

    def cancel_join_thread(self) -> None:
        """Nothing to cancel: there is no feeder thread (the queues' interface)."""

    def close(self) -> None:
        self._reassembler.close()
        self._reader.close()
        self._writer.close()
