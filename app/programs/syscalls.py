"""What a thread blocked in the kernel waits for, from the line Linux shows
in /proc/PID/task/TID/syscall: the call's number and its arguments. Pure.

The tracer says what a thread waits for in the calls it wraps (a queue's
get, a socket's recv). A call made in C code is not one of them: a
Popen pipe's ``readline()``, ``communicate()``'s poll, a command's write to
its stdout. There the kernel still knows: this tells the waits that
matter to a program's picture (reading or writing a pipe, a socket or a
terminal; waiting for a child; polling; accepting or making a connection;
opening a named pipe; a sleep in C) and leaves the rest (a lock's futex,
the GIL's) to the tracer.
"""

from __future__ import annotations

from dataclasses import dataclass

# The calls by number, per machine (the numbers differ).
_NUMBERS = {
    "x86_64": {
        0: "read",
        1: "write",
        2: "open",
        7: "poll",
        17: "pread64",
        18: "pwrite64",
        19: "readv",
        20: "writev",
        23: "select",
        35: "nanosleep",
        42: "connect",
        43: "accept",
        44: "sendto",
        45: "recvfrom",
        46: "sendmsg",
        47: "recvmsg",
        61: "wait4",
        230: "clock_nanosleep",
        232: "epoll_wait",
        247: "waitid",
        257: "openat",
        270: "pselect6",
        271: "ppoll",
        281: "epoll_pwait",
        288: "accept4",
        441: "epoll_pwait2",
    },
    "aarch64": {
        22: "epoll_pwait",
        56: "openat",
        63: "read",
        64: "write",
        65: "readv",
        66: "writev",
        67: "pread64",
        68: "pwrite64",
        72: "pselect6",
        73: "ppoll",
        95: "waitid",
        101: "nanosleep",
        115: "clock_nanosleep",
        202: "accept",
        203: "connect",
        206: "sendto",
        207: "recvfrom",
        211: "sendmsg",
        212: "recvmsg",
        242: "accept4",
        260: "wait4",
        441: "epoll_pwait2",
    },
}

# What a call waits for.
READ = "read"
WRITE = "write"
CHILD = "child"  # a child process to end
POLL = "poll"  # any of several files
ACCEPT = "accept"
CONNECT = "connect"
OPEN = "open"  # a named pipe opens once its other end is opened too
SLEEP = "sleep"
_WAITS = {
    **dict.fromkeys(("read", "readv", "pread64", "recvfrom", "recvmsg"), READ),
    **dict.fromkeys(("write", "writev", "pwrite64", "sendto", "sendmsg"), WRITE),
    **dict.fromkeys(("wait4", "waitid"), CHILD),
    **dict.fromkeys(
        ("poll", "ppoll", "select", "pselect6", "epoll_wait", "epoll_pwait", "epoll_pwait2"), POLL
    ),
    **dict.fromkeys(("accept", "accept4"), ACCEPT),
    "connect": CONNECT,
    **dict.fromkeys(("open", "openat"), OPEN),
    **dict.fromkeys(("nanosleep", "clock_nanosleep"), SLEEP),
}
# Calls whose first argument is the file descriptor they wait on.
ON_FD = frozenset({READ, WRITE, ACCEPT, CONNECT})


@dataclass(frozen=True)
class Call:
    """A wait in the kernel: what for (`READ`...), the call's name, its file
    descriptor (-1 if none), and for a wait for a child, its pid (-1: any)."""

    wait: str
    name: str
    fd: int = -1
    child: int = -1


def _int(word: str) -> int:
    """An argument that is a C int (a file descriptor, a pid): its low 32
    bits, signed (-1 shows as 0xffffffff)."""
    n = int(word, 16) & 0xFFFFFFFF
    return n - (1 << 32) if n >= 1 << 31 else n


def parse(line: str, machine: str) -> Call | None:
    """The wait that a thread's syscall line tells, or None: it runs, it
    waits in a call of no interest here, or the machine is not known."""
    words = line.split()
    numbers = _NUMBERS.get(machine)
    if numbers is None or len(words) < 3 or not words[0].isdigit():
        return None  # "running", or "-1 sp pc": not in a call
    name = numbers.get(int(words[0]))
    wait = _WAITS.get(name or "")
    if name is None or wait is None:
        return None
    first = _int(words[1])
    if wait in ON_FD:
        return Call(wait, name, fd=first)
    if wait == CHILD:
        # waitid(idtype, id, ...): P_PID is 1
        child = first if name == "wait4" else (_int(words[2]) if first == 1 else -1)
        return Call(wait, name, child=child)
    return Call(wait, name)


def file_kind(link: str) -> str:
    """What a file descriptor's link in /proc/PID/fd names: "pipe",
    "socket", "tty", or "file" (a path, a named pipe's too: a stat tells)."""
    if link.startswith("pipe:["):
        return "pipe"
    if link.startswith("socket:["):
        return "socket"
    if link.startswith(("/dev/pts/", "/dev/tty")):
        return "tty"
    return "file"


def pipe_inode(link: str) -> int:
    """The inode of an anonymous pipe's link ("pipe:[1234]"), else 0."""
    if link.startswith("pipe:[") and link.endswith("]"):
        return int(link[6:-1])
    return 0
