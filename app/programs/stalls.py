"""Threads of a program that wait in the kernel, in calls the tracer does not
wrap (`app.programs.syscalls`), sampled from /proc by the runtime.

A thread is said to wait only when two samples in a row find it in the
same call with the same arguments, and it has not run at all in between
(its schedstat): a thread that passes through a read now and then, or
loops over short reads, is not "waiting". Each sample that finds one says
them all (the `stalls` event, every `lookout.STALL_S`); the first that
finds none says so once.

For a wait on an anonymous pipe the sample also says which of the
program's processes hold the pipe's other end (`ends`): a write to a full
pipe can go on only once one of them reads (`app.programs.channels`).
"""

from __future__ import annotations

import platform
from collections import Counter
from typing import Any

from app.programs import procfs, syscalls

_STD = ("stdin", "stdout", "stderr")
_ACCESS = 3  # O_ACCMODE: 0 read-only, 1 write-only


def stall(pid: int, tid: int, call: syscalls.Call) -> dict[str, Any]:
    """A thread's wait, as the `stalls` event says it: also `threads` (how
    many its process has) and `name` (what it runs), and `file`, `std`,
    `ends`, `child`, `children` where they apply."""
    return {"pid": pid, "tid": tid, "wait": call.wait, "call": call.name, "fd": call.fd}


def other_ends(
    inode: int, reading: bool, files: dict[int, dict[int, tuple[str, int]]]
) -> list[int]:
    """The processes that hold the end of pipe `inode` opposite a reader's
    (its write end), or a writer's (its read end)."""
    want = 1 if reading else 0
    link = f"pipe:[{inode}]"
    return sorted(
        pid
        for pid, fds in files.items()
        if any(target == link and flags & _ACCESS == want for target, flags in fds.values())
    )


class Sampler:
    def __init__(self, machine: str | None = None) -> None:
        self._machine = machine or platform.machine()
        self._last: dict[tuple[int, int], tuple[str, str]] = {}
        self._said = False  # the last sample found a wait
        self._parents: dict[int, int] = {}
        self._key: tuple[Any, ...] = ()
        self._waits: list[dict[str, Any]] = []
        self._threads: Counter[int] = Counter()

    def sample(self, found: procfs.Members) -> list[dict[str, Any]] | None:
        """The waits of the threads of the live processes among `found` (a
        session's `procfs.members`) that this sample and the last both
        found; None when there is nothing new to say."""
        pids = [pid for pid, fields in found.items() if not procfs.is_zombie(fields)]
        self._parents = {pid: int(fields[1]) for pid, fields in found.items()}
        lines = {
            (pid, tid): line for pid in pids for tid, line in procfs.syscall_lines(pid).items()
        }
        # In the same call with the same arguments, and not run at all since
        # the last sample: a loop of short reads passes the first test only.
        steady = [(key, line) for key, line in lines.items() if self._last.get(key) == line]
        self._last = lines
        calls = [
            (pid, tid, call)
            for (pid, tid), (line, _ran) in steady
            if (call := syscalls.parse(line, self._machine)) is not None
        ]
        self._threads = Counter(pid for pid, _tid in lines)
        # Nothing moved since the last sample (no process came or went, no
        # thread left its call): what it found stands, and the processes'
        # files need no second reading.
        key = (tuple(pids), tuple(steady))
        if key != self._key:
            files: dict[int, dict[int, tuple[str, int]]] = {}
            if any(call.fd >= 0 for _pid, _tid, call in calls):
                files = {pid: procfs.open_files(pid) for pid in pids}
            described = [self._described(pid, tid, call, files) for pid, tid, call in calls]
            self._key, self._waits = key, [s for s in described if s is not None]
        waits = self._waits
        if not waits and not self._said:
            return None
        self._said = bool(waits)
        return waits

    def _described(
        self, pid: int, tid: int, call: syscalls.Call, files: dict[int, dict[int, tuple[str, int]]]
    ) -> dict[str, Any] | None:
        out = stall(pid, tid, call)
        out["threads"] = self._threads[pid]  # of its process: all may wait
        out["name"] = procfs.command_name(pid)  # for one the stage does not show
        if call.wait == syscalls.CHILD:
            # the children it may be waiting for, known to the stage or not
            out["child"] = call.child
            out["children"] = sorted(
                c
                for c, parent in self._parents.items()
                if parent == pid and call.child in (-1, 0, c)
            )
            return out
        if call.fd < 0:
            return out  # a poll
        link = files.get(pid, {}).get(call.fd, ("", 0))[0]
        kind = syscalls.file_kind(link)
        if kind == "file" and procfs.is_fifo(pid, call.fd):
            kind = "fifo"
        if kind == "file":
            return None  # a disk file: it does not keep anyone waiting long
        out["file"] = kind
        if call.fd < len(_STD):
            out["std"] = _STD[call.fd]
        inode = syscalls.pipe_inode(link)
        if inode:
            out["ends"] = other_ends(inode, call.wait == syscalls.READ, files)
        return out
