"""What the OS says about a live server: its processes, descriptors,
threads and shared-memory names, and how full a pipe is, for the fault and
load tests."""

from __future__ import annotations

import fcntl
import os
import struct
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import psutil

ENDED = ("finished", "stopped", "failed")


@dataclass(frozen=True)
class Proc:
    """A process, told apart from a later one with the same pid."""

    pid: int
    created: float

    def running(self) -> bool:
        try:
            p = psutil.Process(self.pid)
            return p.create_time() == self.created and p.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False


def alive(pid: int) -> bool:
    """A process `pid` runs (a zombie is over, only not reaped yet)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def family(pid: int) -> list[Proc]:
    """Every descendant of the server: the processes of its runs' programs."""
    out = []
    for p in psutil.Process(pid).children(recursive=True):
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                out.append(Proc(p.pid, p.create_time()))
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return out


def zombies(pid: int) -> list[int]:
    out = []
    for p in psutil.Process(pid).children(recursive=True):
        try:
            if p.status() == psutil.STATUS_ZOMBIE:
                out.append(p.pid)
        except psutil.NoSuchProcess:
            continue
    return out


def shm_names(pids: list[int]) -> set[str]:
    """Named POSIX semaphores and shared memory the processes have mapped
    (/dev/shm is shared with every other process on the machine)."""
    names = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/maps") as f:
                for line in f:
                    if "/dev/shm/" in line and not line.rstrip().endswith("(deleted)"):
                        names.add(line.split("/dev/shm/", 1)[1].strip())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return names


def left_in_shm(names: set[str]) -> set[str]:
    return {n for n in names if os.path.exists(f"/dev/shm/{n}")}


def fds_and_threads(pid: int) -> tuple[int, int]:
    p = psutil.Process(pid)
    return p.num_fds(), p.num_threads()


def queued_bytes(fd: int) -> int:
    """How many bytes wait in the pipe whose read end is `fd`."""
    return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0])


def settle(
    probe: Callable[[], Any], ok: Callable[[Any], bool], timeout: float = 5.0, every: float = 0.02
) -> Any:
    """Poll `probe` until `ok` says yes (returns the value) or the time is up
    (returns the last value, for the assertion's message)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if ok(value) or time.monotonic() > deadline:
            return value
        time.sleep(every)


def start(client: httpx.Client, slug: str = "producer-consumer", **params: Any) -> dict[str, Any]:
    r = client.post("/api/runs", json={"experiment": slug, "params": params})
    assert r.status_code == 201, r.text
    run: dict[str, Any] = r.json()
    return run


def wait_for(
    client: httpx.Client, run_id: str, check: Callable[[dict[str, Any]], bool], timeout: float = 10
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = client.get(f"/api/runs/{run_id}").json()
        if check(run):
            return run
        assert time.monotonic() < deadline, f"gave up waiting; last state: {run}"
        time.sleep(0.02)


def worker(run: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(w for w in run["workers"] if w["name"] == name)
    return found


def with_pids(n: int) -> Callable[[dict[str, Any]], bool]:
    return lambda run: sum(1 for w in run["workers"] if w["pid"] and w["alive"]) >= n
