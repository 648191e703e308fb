"""A program's sockets and pipes in a hang (`app.programs.diagnosis`):
which waits only the program itself can end, and why they never will. Pure.

A thread may also wait in the kernel, in C code the tracer does not wrap
(`app.programs.stalls`): on a pipe whose other end only the program's
processes hold, or for a child process, only the program can end that wait.

An anonymous pipe's ends are held by the program's processes only (and by
a command it runs, which may write or read: then no hang). A named FIFO, a
terminal, a select over several files may be served from outside.

A socket's other end is the program's when it is an end of a socket pair
(a Unix socket with no address at either end) or a socket of the program
with the two addresses the other way round (a connection on the loopback,
or over a named Unix socket). A listener's accept, or a connection whose
other end is not the program's, may be ended from outside (another
program connects, a server answers): no hang.
"""

from __future__ import annotations

from typing import Any

from app.i18n import N_
from app.programs.state import ObjView, ProcView, ProgramState, ThreadView

READ = N_(
    "%(who)s waits in %(obj)s.recv(): nothing has come, and its other end is in this"
    " program, where nothing will send"
)
WRITE = N_(
    "%(who)s waits in %(obj)s.sendall(): its other end does not read, and it is in this"
    " program, where nothing will"
)
PIPE_READ = N_(
    "%(who)s waits in os.read() on a pipe: nothing has come, and no live worker will write to"
    " it (a read gets end-of-file only once every copy of the pipe's write end is closed)"
)
PIPE_WRITE = N_("%(who)s waits in os.write() to a pipe: it is full, and no live worker reads it")
C_PIPE_READ = N_(
    "%(who)s waits in C code to read a pipe: nothing has come, and %(ends)s, which can write"
    " to it, waits too"
)
C_PIPE_WRITE = N_(
    "%(who)s waits in C code to write to a pipe: it is full, and %(ends)s, which can read it,"
    " waits too"
)
C_CHILD = N_("%(who)s waits in C code for a child process to end")
JOIN_FULL_PIPE = N_(
    "%(who)s waits for %(target)s to end, and it never will: %(target)s waits to write to its"
    " %(stream)s, a pipe that is full, and %(ends)s, which can read it, waits too"
    " (communicate() reads a command's output while it waits for its end)"
)
MOST_NESTED = 8  # commands that wait for commands, at most this deep
OPS = {"sock_read": READ, "sock_write": WRITE, "pipe_read": PIPE_READ, "pipe_write": PIPE_WRITE}
# Waits that something outside the program may always end.
OPEN = frozenset({"accept", "fd_read", "fd_write", "select", "input"})


def ends_in_program(state: ProgramState, obj: ObjView) -> bool:
    """Whether the socket's other end is one of the program's own."""
    if obj.pair_end:
        return True
    return any(
        o.type == "socket" and o is not obj and o.local == obj.remote and o.remote == obj.local
        for o in state.objs.values()
    )


def from_outside(state: ProgramState, w: ThreadView) -> bool:
    """`w` waits on a socket or a file that something outside the program
    may yet serve: a connection to accept, an answer from an end not the
    program's, a named FIFO; a pipe that a command the program runs holds."""
    if w.op in OPEN:
        return True
    if w.op in ("pipe_read", "pipe_write"):
        return any(p.alive and p.command for p in state.procs.values())
    if w.op not in ("sock_read", "sock_write"):
        return False
    obj = state.objs.get(w.on)
    return obj is None or not ends_in_program(state, obj)


def stalled(state: ProgramState, stall: dict[str, Any] | None, depth: int = 0) -> bool:
    """A wait in the kernel that only the program's traced workers can end
    (`stuck` asks whether each of them waits too): on a pipe whose other
    end its processes hold (a pipe nobody else held would have ended the
    read or the write), or for a child process. A command the program runs
    (not traced) may end such a wait by itself, unless it is `stalled` too;
    a process the program does not know of (a command's own child) may."""
    if stall is None or depth > MOST_NESTED:
        return False
    traced = {t.pid for t in state.threads()}
    if stall.get("wait") == "child":
        held = [int(pid) for pid in stall.get("children") or []]
    elif stall.get("file") == "pipe" and stall.get("ends"):
        held = [int(pid) for pid in stall["ends"]]
    else:
        return False
    for pid in held:
        p = state.procs.get(pid)
        if pid in traced:
            continue
        if p is None or not p.command or not stalled(state, p.stall, depth + 1):
            return False
    return True


def _name(state: ProgramState, pid: int) -> str:
    """A process as the stage names it: by its main thread, else its name."""
    for t in state.threads():
        if t.pid == pid and t.main_thread:
            return t.name
    p = state.procs.get(pid)
    return p.name if p is not None else str(pid)


def _ends(state: ProgramState, stall: dict[str, Any]) -> str:
    """The processes that hold the pipe's other end, by their names."""
    return ", ".join(dict.fromkeys(_name(state, pid) for pid in stall["ends"]))


def why_stalled(state: ProgramState, w: ThreadView) -> tuple[str, dict[str, Any]]:
    """Why `w`, waiting in the kernel, will not go on: a message and its parts."""
    stall = w.stall or {}
    if stall.get("wait") == "child":
        return C_CHILD, {"who": w.name}
    message = C_PIPE_READ if stall.get("wait") == "read" else C_PIPE_WRITE
    return message, {"who": w.name, "ends": _ends(state, stall)}


def full_pipe(state: ProgramState, w: ThreadView, command: ProcView) -> tuple[str, dict[str, Any]]:
    """Why `w`'s wait for `command`, which waits to write to a pipe that
    only the program reads, will not end."""
    stall = command.stall or {}
    parts = {"who": w.name, "target": command.name, "ends": _ends(state, stall)}
    return JOIN_FULL_PIPE, {**parts, "stream": stall.get("std") or "output"}
