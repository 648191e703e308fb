"""Sockets, pipes and select: a blocking call that waits (accept, a read,
a write, a select); its end is `workers.raised`."""

from __future__ import annotations

from app.events import Event
from app.programs.folds.objects import obj_of
from app.programs.folds.workers import thread_of, wait
from app.programs.state import ProgramState


def sock_wait(state: ProgramState, e: Event) -> None:
    obj_of(state, e)
    op = str((e.data or {}).get("op") or "")
    kind = "accept" if op == "accept" else "sock_read" if op.startswith("recv") else "sock_write"
    wait(thread_of(state, e), e, kind, e.item or "")


def fd_wait(state: ProgramState, e: Event) -> None:
    """os.read, os.write or select.select waits: on an anonymous pipe
    ("pipe_read", "pipe_write"), another descriptor ("fd_read"...), or
    several ("select")."""
    d = e.data or {}
    op = str(d.get("op") or "")
    if op in ("select", "input"):
        kind = op
    else:
        side = "read" if op == "os.read" else "write"
        kind = f"pipe_{side}" if d.get("what") == "pipe" else f"fd_{side}"
    wait(thread_of(state, e), e, kind, "")
