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
    "%(who)s waits in C code to read a pipe: it is empty, and %(ends)s, which can write to it"
    " or close it, waits too"
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
JOIN_OPEN_INPUT = N_(
    "%(who)s waits for %(target)s to end, and it never will: %(target)s waits to read its"
    " %(stream)s, a pipe that %(ends)s holds open and does not write to, waiting too"
    " (communicate() closes a command's input once it has written it)"
)
JOINS_BLOCKED = frozenset({JOIN_FULL_PIPE, JOIN_OPEN_INPUT})
# A process the program does not trace (a command, or a command's own
# child), waiting for good.
UNTRACED_WRITE = N_(
    "%(who)s waits to write to its %(stream)s, a pipe that is full, and %(ends)s, which can"
    " read it, waits too"
)
UNTRACED_READ = N_(
    "%(who)s waits to read its %(stream)s, a pipe that is empty, and %(ends)s, which can write"
    " to it or close it, waits too"
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
    end only its processes hold (a pipe nobody else held would have ended
    the read or the write), or for its child processes. A process it does
    not trace (a command, a command's own child) may end such a wait, unless
    it waits for good itself (`waits_for_good`)."""
    if stall is None or depth > MOST_NESTED:
        return False
    if stall.get("wait") == "child":
        held = [int(pid) for pid in stall.get("children") or []]
    elif stall.get("file") == "pipe":
        held = [int(pid) for pid in stall.get("ends") or []]
    else:
        return False
    traced = {t.pid for t in state.threads()}
    # Held by nobody: a wait for a child the program does not see (one that
    # left its session), or a pipe held outside: either may end it.
    return bool(held) and all(
        pid in traced or waits_for_good(state, pid, depth + 1) for pid in held
    )


def waits_for_good(state: ProgramState, pid: int, depth: int = 0) -> bool:
    """A process the program does not trace whose every thread waits in
    the kernel for what only the program can do (`stalled`). Its own timers
    are not seen: a command that set an alarm for itself may still go on."""
    waits = state.kernel.get(pid) or []
    return (
        bool(waits)
        and len(waits) >= int(waits[0].get("threads") or 0)
        and all(stalled(state, w, depth) for w in waits)
    )


def moving_commands(state: ProgramState) -> bool:
    """A live command the program runs (not traced) that may still do
    anything: write to a pipe, send a signal, end."""
    traced = {t.pid for t in state.threads()}
    return any(
        p.alive and p.command and p.pid not in traced and not waits_for_good(state, p.pid)
        for p in state.procs.values()
    )


def _name(state: ProgramState, pid: int) -> str:
    """A process as the stage names it: by its main thread, else its name,
    else its pid (a command's own child, which the stage does not show)."""
    for t in state.threads():
        if t.pid == pid and t.main_thread:
            return t.name
    p = state.procs.get(pid)
    if p is not None:
        return p.name
    name = next((str(w.get("name") or "") for w in state.kernel.get(pid, [])), "")
    return f"{name} (pid {pid})" if name else f"pid {pid}"


def _ends(state: ProgramState, stall: dict[str, Any]) -> str:
    """The processes that hold the pipe's other end, by their names."""
    return ", ".join(dict.fromkeys(_name(state, pid) for pid in stall.get("ends") or []))


def why_stalled(state: ProgramState, w: ThreadView) -> tuple[str, dict[str, Any]]:
    """Why `w`, waiting in the kernel, will not go on: a message and its parts."""
    stall = w.stall or {}
    if stall.get("wait") == "child":
        return C_CHILD, {"who": w.name}
    message = C_PIPE_READ if stall.get("wait") == "read" else C_PIPE_WRITE
    return message, {"who": w.name, "ends": _ends(state, stall)}


def join_blocked(
    state: ProgramState, w: ThreadView, command: ProcView
) -> tuple[str, dict[str, Any]] | None:
    """Why `w`'s wait for `command` will not end, when the command waits
    for good on its own standard stream: its output full, its input empty
    and still open. None for any other wait."""
    stall = command.stall or {}
    if stall.get("file") != "pipe" or not stall.get("std"):
        return None
    parts = {"who": w.name, "target": command.name, "ends": _ends(state, stall)}
    message = JOIN_FULL_PIPE if stall.get("wait") == "write" else JOIN_OPEN_INPUT
    return message, {**parts, "stream": stall["std"]}


def untraced_waits(state: ProgramState) -> list[tuple[str, dict[str, Any]]]:
    """What the processes the program does not trace wait for, where they
    wait for good on a standard stream (the cause of a hang around them)."""
    traced = {t.pid for t in state.threads()}
    out = []
    for pid in sorted(state.kernel):
        if pid in traced or not waits_for_good(state, pid):
            continue
        for stall in state.kernel[pid]:
            if stall.get("file") == "pipe" and stall.get("std"):
                message = UNTRACED_WRITE if stall.get("wait") == "write" else UNTRACED_READ
                parts = {"who": _name(state, pid), "ends": _ends(state, stall)}
                out.append((message, {**parts, "stream": stall["std"]}))
    return out
