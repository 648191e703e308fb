"""A program's sockets in a hang (`app.programs.diagnosis`): which waits
only the program itself can end, and why they never will. Pure.

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
OPS = {"sock_read": READ, "sock_write": WRITE}


def is_socket_wait(w: ThreadView) -> bool:
    return w.op in ("accept", *OPS)


def ends_in_program(state: ProgramState, obj: ObjView) -> bool:
    """Whether the socket's other end is one of the program's own."""
    if obj.family == "AF_UNIX" and not obj.local and not obj.remote:
        return True  # an end of a socket pair
    return any(
        o.type == "socket" and o is not obj and o.local == obj.remote and o.remote == obj.local
        for o in state.objs.values()
    )


def from_outside(state: ProgramState, w: ThreadView) -> bool:
    """`w` waits on a socket that something outside the program may yet
    serve: a connection to accept, or an answer from an end not the
    program's."""
    if not is_socket_wait(w):
        return False
    obj = state.objs.get(w.on)
    return w.op == "accept" or obj is None or not ends_in_program(state, obj)
