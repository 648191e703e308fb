"""A program's processes, as Linux's /proc tells them.

The program runs in a session of its own (its first process is the session
leader), so its processes are those whose session id is that pid, however
they were started (multiprocessing with any start method, subprocess, a
fork of a fork), unless one made a session of its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name: field 3 (state)
    is index 0."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return raw[raw.rfind(b")") + 2 :].decode().split()


def alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def _members(sid: int) -> list[tuple[int, list[str]]]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat(int(entry))
        # state, ppid, pgrp, session: a zombie is over, only not yet reaped.
        if fields is not None and fields[3] == str(sid) and fields[0] != "Z":
            out.append((int(entry), fields))
    return out


def session(sid: int) -> list[int]:
    """The live processes of the session `sid`."""
    return [pid for pid, _ in _members(sid)]


@dataclass(frozen=True)
class Stats:
    processes: int
    threads: int
    max_rss_mb: float


def session_stats(sid: int) -> Stats:
    members = _members(sid)
    threads = sum(int(f[17]) for _, f in members)
    rss = max((int(f[21]) for _, f in members), default=0)
    return Stats(len(members), threads, rss * _PAGE_MB)
