"""The event queue of a run with worker processes: a pipe that each worker
writes its batches into itself.

A `multiprocessing.Queue` hands each put to a feeder thread, which pickles
and writes it. In a worker process that thread competes with the worker for
the GIL, and at full speed the hand-over costs more than the events do:
in `bench/pipeline.py`, the least tracing written inline moved about 0.6
as many items as a bare queue when it sent its batches through such a
queue, and about 0.75 when it wrote them straight into a pipe. Here `put`
pickles the batch and writes it at once, under a lock that all writers
share (a batch longer than the pipe's atomic write size could otherwise
interleave with another).

Back-pressure is the pipe's own buffer (asked to be `BUFFER_BYTES`): a
writer waits while the server is that far behind.

A signal handler that reports an event (joinable's SIGTERM) may run in the
middle of a `put` of the same thread, which holds the lock: that batch waits
in `_pending` and the outer `put` writes it next, instead of deadlocking on
its own lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import pickle
import queue
import select
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

BUFFER_BYTES = 1 << 20


class EventPipe:
    def __init__(self, ctx: Any, put_timeout: float | None = None) -> None:
        """`put_timeout`: how long this process's puts wait for the lock, and
        for room in the pipe, before they drop their batch: the server's, so
        that neither a worker killed while it held the lock nor a reader gone
        can hang the run's end. The workers' copies wait as long as it takes
        (that is the back-pressure)."""
        self._reader, self._writer = ctx.Pipe(duplex=False)
        self._lock = ctx.Lock()
        self._put_timeout = put_timeout
        # Above the system's limit, the default buffer (64 KiB) stays.
        with contextlib.suppress(OSError):
            fcntl.fcntl(self._writer.fileno(), fcntl.F_SETPIPE_SZ, BUFFER_BYTES)
        self._init_local()

    def _init_local(self) -> None:
        self._writing = threading.local()
        self._pending: list[bytes] = []

    def __getstate__(self) -> dict[str, Any]:
        return {"reader": self._reader, "writer": self._writer, "lock": self._lock}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._reader, self._writer, self._lock = state["reader"], state["writer"], state["lock"]
        self._put_timeout = None
        self._init_local()

    def put(self, batch: Any) -> None:
        """Write one batch (see `put_timeout`)."""
        data = pickle.dumps(batch, pickle.HIGHEST_PROTOCOL)
        if getattr(self._writing, "now", False):  # a signal handler, inside our own put
            self._pending.append(data)
            return
        timeout = self._put_timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._lock.acquire(timeout=timeout):
            log.error("a writer of the run's events died holding their lock; a batch is lost")
            return
        self._writing.now = True
        try:
            # A handler's batch, added while one is written, goes out next.
            self._pending.insert(0, data)
            while self._pending:
                if deadline is not None and not self._room(deadline):
                    log.error("nobody reads the run's events; %d batches lost", len(self._pending))
                    self._pending.clear()
                    return
                self._writer.send_bytes(self._pending[0])
                del self._pending[0]
        finally:
            self._writing.now = False
            self._lock.release()

    def _room(self, deadline: float) -> bool:
        """Wait until the pipe takes a write (at least its atomic size: the
        server's batches are small), or the deadline passes."""
        poller = select.poll()
        poller.register(self._writer.fileno(), select.POLLOUT)
        wait_ms = max(0, int((deadline - time.monotonic()) * 1000))
        return bool(poller.poll(wait_ms))

    def get(self, timeout: float) -> Any:
        """The next batch; `queue.Empty` if none came within `timeout`.
        Only the server's reader thread reads."""
        if not self._reader.poll(timeout):
            raise queue.Empty
        return pickle.loads(self._reader.recv_bytes())

    def cancel_join_thread(self) -> None:
        """Nothing to cancel: there is no feeder thread (the queues' interface)."""

    def close(self) -> None:
        self._reader.close()
        self._writer.close()
