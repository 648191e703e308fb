"""A program's sockets and pipes in a hang (`app.programs.diagnosis`):
which waits only the program itself can end, and why they never will. Pure.

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

from app.i18n import N_
from app.programs.state import ObjView, ProgramState, ThreadView

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
