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

Encoding: `marshal`, which for the plain tuples of events writes in half
and reads in about 0.7 of `pickle`'s time (a fast run sends hundreds of
thousands of events a second, and on a small machine the server's reading
competes with the workers for the CPU). Both ends are the same interpreter.
A batch `marshal` cannot write (an object of another type in an event's
data) goes as a pickle; a tag byte says which.

Frames: a write of at most `select.PIPE_BUF` bytes reaches a pipe whole or
not at all, even when its writer is killed while it waits for room, and
never mixed with another write; a longer one may be cut short or mixed. So
a batch goes in frames of that size, each written at once, each naming its
writer (pid and thread) and whether it starts or ends its batch, and the
reader puts each writer's batch back together. Nothing needs a lock: the
frames of several writers may interleave, and a writer killed in the middle
of a batch leaves whole frames, whose batch the reader drops (it says so)
while it reads on. (A lock shared by the writers would stay taken by a
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
import marshal
import math
import os
import pickle
import queue
import select
import struct
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

BUFFER_BYTES = 1 << 20
_MARSHAL, _PICKLE = b"m", b"p"
# A frame: flags, the writer's pid and thread id, then a piece of the encoded
# batch; with the length `Connection.send_bytes` puts first, one atomic write.
_HEAD = struct.Struct("!Bii")
FIRST, LAST = 1, 2
FRAME_BYTES = select.PIPE_BUF - 4 - _HEAD.size


def encode(batch: Any) -> bytes:
    try:
        return _MARSHAL + marshal.dumps(batch)
    except ValueError:  # an unmarshallable object
        return _PICKLE + pickle.dumps(batch, pickle.HIGHEST_PROTOCOL)


def decode(data: bytes | memoryview) -> Any:
    tag, body = bytes(data[:1]), memoryview(data)[1:]
    if tag == _MARSHAL:
        return marshal.loads(body)
    if tag == _PICKLE:
        return pickle.loads(body)
    raise ValueError(f"unknown batch tag {tag!r}")


def frames(data: bytes, pid: int, tid: int) -> list[bytes]:
    """The frames that carry one encoded batch, in order."""
    n = max(1, math.ceil(len(data) / FRAME_BYTES))
    out = []
    for k in range(n):
        flags = (FIRST if k == 0 else 0) | (LAST if k == n - 1 else 0)
        piece = data[k * FRAME_BYTES : (k + 1) * FRAME_BYTES]
        out.append(_HEAD.pack(flags, pid, tid) + piece)
    return out


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
        self._partial: dict[tuple[int, int], list[memoryview]] = {}  # the reader's

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
        raises (`ValueError`, `struct.error`)."""
        deadline = time.monotonic() + timeout
        partial = self._partial
        while True:
            if not self._reader.poll(max(0.0, deadline - time.monotonic())):
                raise queue.Empty
            frame = self._reader.recv_bytes()
            flags, pid, tid = _HEAD.unpack_from(frame)
            if flags & ~(FIRST | LAST):
                raise ValueError(f"not a frame of events (flags {flags:#x})")
            writer, piece = (pid, tid), memoryview(frame)[_HEAD.size :]
            if flags & FIRST:
                if partial.pop(writer, None) is not None:
                    log.error("events of pid %d: the rest of a batch never came; it is lost", pid)
                if flags & LAST:
                    return decode(piece)
                partial[writer] = [piece]
                continue
            parts = partial.get(writer)
            if parts is None:
                raise ValueError(f"events of pid {pid}: a frame without the start of its batch")
            parts.append(piece)
            if flags & LAST:
                del partial[writer]
                return decode(b"".join(parts))

    def cancel_join_thread(self) -> None:
        """Nothing to cancel: there is no feeder thread (the queues' interface)."""

    def close(self) -> None:
        for pid, _ in self._partial:
            log.error("events of pid %d: a batch was cut short (its writer was killed)", pid)
        self._partial.clear()
        self._reader.close()
        self._writer.close()
