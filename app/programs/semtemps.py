"""What a process killed inside ``sem_open`` leaves in /dev/shm.

glibc makes a named semaphore in a temporary file, ``/dev/shm/sem.XXXXXX``
(six letters or digits), and links it to its name once it is set up. A
program killed between the two (Stop while it makes a lock) leaves that
file behind, under no name a mark could know (`semnames` marks the names).
After a run, the files of that shape made since it started, by this user,
that no process holds open, are such leftovers: a process making one holds
it open until it has its name.
"""

from __future__ import annotations

import contextlib
import os
import re

SHM_DIR = "/dev/shm"
TEMP = re.compile(r"sem\.[A-Za-z0-9]{6}")
# File times run on the kernel's coarse clock, a little behind time.time().
SLACK_S = 1.0


def left_since(since_s: float) -> list[str]:
    """The paths of such leftovers made at `since_s` (time.time()) or later."""
    uid = os.getuid()
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(SHM_DIR):
            if TEMP.fullmatch(entry.name):
                with contextlib.suppress(OSError):
                    st = entry.stat(follow_symlinks=False)
                    if st.st_uid == uid and st.st_mtime >= since_s - SLACK_S:
                        found.append(entry.path)
    if not found:
        return found
    held = _held_open()
    return [path for path in found if path not in held]


def unlink_left_since(since_s: float) -> None:
    for path in left_since(since_s):
        with contextlib.suppress(OSError):
            os.unlink(path)


def _held_open() -> set[str]:
    """The files in /dev/shm that a process this user can look at has open."""
    held = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if link.startswith(SHM_DIR + "/"):
                        held.add(link)
    return held
