"""A program's processes, as Linux's /proc tells them.

The program runs in a session of its own (its first process is the session
leader), so its processes are those whose session id is that pid, however
they were started (multiprocessing with any start method, subprocess, a
fork of a fork), unless one made a session of its own.
"""

from __future__ import annotations

import os
import stat
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


Members = dict[int, list[str]]


def members(sid: int) -> Members:
    """The processes of the session `sid`, zombies too (a zombie is over,
    only not yet reaped), each with its /proc stat fields."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat(int(entry))
        # state, ppid, pgrp, session
        if fields is not None and fields[3] == str(sid):
            out[int(entry)] = fields
    return out


def _live(sid: int) -> list[tuple[int, list[str]]]:
    return [(pid, f) for pid, f in members(sid).items() if f[0] != "Z"]


def session(sid: int) -> list[int]:
    """The live processes of the session `sid`."""
    return [pid for pid, _ in _live(sid)]


def marked(name: str, prefix: str) -> list[int]:
    """The live processes whose environment sets `name` to a value that
    starts with `prefix`: those of a program that left its session (a
    daemon made with setsid) still carry the run's own variables."""
    needle = f"\0{name}={prefix}".encode()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = b"\0" + f.read()
        except OSError:  # gone, or another user's
            continue
        if needle in env and alive(int(entry)):
            out.append(int(entry))
    return out


def is_zombie(fields: list[str]) -> bool:
    return fields[0] == "Z"


def exit_status(fields: list[str]) -> tuple[int, int]:
    """A zombie's exit code and the signal that killed it (0 if none), as
    its parent's wait would tell (field 52 of /proc/PID/stat, Linux 3.5+)."""
    status = int(fields[49])
    if status & 0x7F:
        return -(status & 0x7F), status & 0x7F
    return status >> 8, 0


@dataclass(frozen=True)
class Stats:
    processes: int
    threads: int
    max_rss_mb: float


def session_stats(sid: int, found: Members | None = None) -> Stats:
    """Its live processes, their threads, and the largest resident size;
    `found`: the session's `members`, if already read."""
    live = [f for f in (members(sid) if found is None else found).values() if f[0] != "Z"]
    threads = sum(int(f[17]) for f in live)
    rss = max((int(f[21]) for f in live), default=0)
    return Stats(len(live), threads, rss * _PAGE_MB)


def syscall_lines(pid: int) -> dict[int, tuple[str, str]]:
    """Each thread of `pid` by its id: the line /proc shows of the system
    call it is in (`app.programs.syscalls`), and how much it has run so far
    (its schedstat: a thread that ran between two looks is not waiting)."""
    out: dict[int, tuple[str, str]] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        task = f"/proc/{pid}/task/{tid}"
        try:
            with open(f"{task}/syscall") as f:
                line = f.read().strip()
            try:
                with open(f"{task}/schedstat") as f:
                    ran = f.read().strip()
            except FileNotFoundError:  # a kernel without it: its CPU time in ticks
                with open(f"{task}/stat") as f:
                    ran = " ".join(f.read().rsplit(")", 1)[-1].split()[11:13])
        except OSError:  # gone, or not ours to read
            continue
        out[int(tid)] = (line, ran)
    return out


def open_files(pid: int) -> dict[int, tuple[str, int]]:
    """The file descriptors of `pid`: what each names (its link in
    /proc/PID/fd: "pipe:[1234]", a path), and the flags it was opened with."""
    out: dict[int, tuple[str, int]] = {}
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return out
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                info = f.read()
        except OSError:  # closed meanwhile
            continue
        flags = next((ln.split()[1] for ln in info.splitlines() if ln.startswith("flags:")), "0")
        out[int(fd)] = (link, int(flags, 8))
    return out


def is_fifo(pid: int, fd: int) -> bool:
    """Whether `pid`'s `fd` is a named pipe (a FIFO on a path)."""
    try:
        return stat.S_ISFIFO(os.stat(f"/proc/{pid}/fd/{fd}").st_mode)
    except OSError:
        return False


def command_name(pid: int) -> str:
    """The name of the program `pid` runs (its comm: "seq"), or ""."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""
