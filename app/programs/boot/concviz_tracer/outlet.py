"""Where a process's batches go: the run's FIFO, written a frame at a time.

Each message of `wire.messages` is at most PIPE_BUF bytes, which the kernel
writes whole, never mixed with another process's write. A forked child's
first write waits on its gate (`set_gate`) until its parent's `spawn` is
out. With nobody reading any more (the server died) a write fails, and the
program's whole process group is ended (`kill_group`).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal

from . import segments, wire

# How long a forked child's first flush waits for its parent's `spawn` event.
GATE_S = 2.0

_fifo_path = ""
_fd = -1
_gate = -1


def configure(fifo_path: str) -> None:
    global _fifo_path
    _fifo_path = fifo_path


def run_dir() -> str:
    """The run's directory, where its FIFO is ("" when not configured)."""
    return os.path.dirname(_fifo_path)


def forked() -> None:
    """In a forked child: its gate is its own (the FIFO stays open)."""
    global _gate
    _gate = -1


def set_gate(fd: int) -> None:
    """Hold this process's first flush until `fd` is readable (its parent
    has flushed the `spawn` event that must come first) or at EOF."""
    global _gate
    _gate = fd


def write(data: bytes, pid: int, tid: int) -> bool:
    """Write one encoded batch; False when nobody reads the FIFO any more."""
    global _gate
    if _gate >= 0:
        gate, _gate = _gate, -1
        try:
            select.select([gate], [], [], GATE_S)
        finally:
            os.close(gate)
    fd = _fd if _fd >= 0 else _open()
    if fd < 0:
        return False
    try:
        for message in wire.messages(data, pid, tid):
            os.write(fd, message)
    except OSError:  # EPIPE
        return False
    return True


def _open() -> int:
    global _fd
    try:
        # Not blocking: with no reader left the open fails (ENXIO) at once.
        fd = os.open(_fifo_path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        os.set_blocking(fd, True)
    except OSError:
        return -1
    _fd = fd
    return fd


def kill_group() -> None:
    # The resource tracker dies with the program: what it would have
    # unlinked, this does (`segments`).
    if _fifo_path:
        segments.unlink_marked(run_dir())
    pgid = os.getpgid(0)
    if pgid == os.getsid(0):  # the program's own session (launch starts one)
        os.killpg(pgid, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def hide_from_signals() -> None:
    """For a hidden thread: signals sent to the process go to the program's
    own threads (its main thread first), as they would without the tracer."""
    with contextlib.suppress(OSError, ValueError):
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
