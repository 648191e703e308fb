"""The program's session: every process it started (they share the first
one's session), signalled together and ended together."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from app.programs import procfs
from app.programs.launch import FIFO

# After SIGTERM, how long the session gets to end before SIGKILL. The
# resource tracker ignores SIGTERM and unlinks what the program leaked
# (shared memory, semaphores) once its last client is gone.
TERM_GRACE_S = 1.0
# After the first process ends, how long its orphans get before SIGKILL.
ORPHAN_GRACE_S = 0.3


def signal_all(sid: int, sig: int) -> None:
    """Send `sig` to every process of the session `sid` (0: none)."""
    for pid in procfs.session(sid) if sid else []:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def end_session(
    sid: int,
    first: subprocess.Popen[bytes] | None,
    grace: float,
    *,
    term_first: bool,
    workdir: Path | None = None,
) -> None:
    """End every process of the session `sid`: SIGTERM (if asked), a grace
    to end on their own, then SIGKILL for what is left. `first`, the
    session's first process, is reaped on the way, so it leaves the list.
    Then those that left the session (`end_escaped`) of the run whose
    directory is `workdir`."""
    if not sid:
        return
    try:
        _end_members(sid, first, grace, term_first=term_first)
    finally:
        if workdir is not None:
            end_escaped(workdir)


def end_escaped(workdir: Path) -> None:
    """SIGKILL the processes of the run whose directory is `workdir` that
    are in no session of its own: a program's daemon (fork, setsid, fork)
    is the init process's child, but it still has the run's variables."""
    prefix = os.path.join(os.fspath(workdir), "")
    for _ in range(50):
        left = procfs.marked(FIFO, prefix)
        if not left:
            return
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


def _end_members(
    sid: int, first: subprocess.Popen[bytes] | None, grace: float, *, term_first: bool
) -> None:
    signal_all(sid, signal.SIGCONT)  # a stopped process cannot die of SIGTERM
    if term_first:
        signal_all(sid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not procfs.session(sid):
            break
        if first is not None:
            first.poll()  # reap the first one, so it leaves the list
        time.sleep(0.02)
    for _ in range(50):
        left = procfs.session(sid)
        if not left:
            break
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if first is not None:
            first.poll()
        time.sleep(0.02)


def kill_member(sid: int, pid: int) -> bool:
    """SIGKILL `pid` if it is a live process of the session `sid`; a pidfd
    makes sure the signal reaches that process, not one that took its pid
    since it was checked."""
    if pid <= 0:
        return False
    try:
        fd = os.pidfd_open(pid)
    except OSError:  # gone (ProcessLookupError is one)
        return False
    try:
        if os.getsid(pid) != sid:
            return False
        signal.pidfd_send_signal(fd, signal.SIGKILL)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True
