"""Sockets: a blocking call that waits (accept, a read, a write) and its end."""

from __future__ import annotations

from app.events import Event
from app.programs.folds.objects import obj_of
from app.programs.folds.workers import go, thread_of, wait
from app.programs.state import ProgramState


def sock_wait(state: ProgramState, e: Event) -> None:
    obj_of(state, e)
    op = str((e.data or {}).get("op") or "")
    kind = "accept" if op == "accept" else "sock_read" if op.startswith("recv") else "sock_write"
    wait(thread_of(state, e), e, kind, e.item or "")


def sock_woke(state: ProgramState, e: Event) -> None:
    go(thread_of(state, e), e)
