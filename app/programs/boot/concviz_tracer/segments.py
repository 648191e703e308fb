"""The shared memory segments and named semaphores a run's program made
and has not unlinked, kept as empty files named after their files in
/dev/shm, in the run's directory (`shm`, `semnames`).

Python's resource tracker unlinks what a program forgot as it ends, but
not when it is killed with the program: when the server is gone (the
program's watchdog kills it) or ends a run, whoever ends it unlinks what
is left here. Plain functions of the standard library, for the tracer and
the server alike.
"""

from __future__ import annotations

import contextlib
import os

DIR = "segments"


def mark(run_dir: str, name: str) -> None:
    path = os.path.join(run_dir, DIR, name)
    for _ in range(2):  # the folder is made by the first mark
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
            return
        except FileNotFoundError:
            with contextlib.suppress(OSError):
                os.makedirs(os.path.join(run_dir, DIR), exist_ok=True)
        except OSError:
            return


def unmark(run_dir: str, name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(run_dir, DIR, name))


def unlink_marked(run_dir: str) -> None:
    """Unlink the segments and semaphores still marked in `run_dir` (those
    gone already are no matter). A semaphore's file is unlinked as a
    segment's: both are files in /dev/shm."""
    folder = os.path.join(run_dir, DIR)
    try:
        names = os.listdir(folder)
    except OSError:
        return
    import _posixshmem

    for name in names:
        with contextlib.suppress(OSError):
            _posixshmem.shm_unlink("/" + name)
        unmark(run_dir, name)
