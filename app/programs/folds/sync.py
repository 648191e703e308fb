"""Locks, semaphores, events, conditions and barriers: who holds them and
who waits.

A lock's `acquired` by one process may come before the `released` by
another (batches arrive out of step): an owner is only cleared by its own
release.
"""

from __future__ import annotations

from app.events import Event
from app.programs.folds.objects import obj_of
from app.programs.folds.workers import go, thread_of, wait
from app.programs.state import ProgramState


def acquire_wait(state: ProgramState, e: Event) -> None:
    obj_of(state, e)
    wait(thread_of(state, e), e, "acquire", e.item or "")


def acquired(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    obj = obj_of(state, e)
    w = thread_of(state, e)
    if obj.kind == "semaphore":
        if not obj.signals:
            obj.holders.append(w.name)
        obj.value = d.get("value", _counted(obj.value, -1))
    else:
        obj.owner = w.name
        obj.depth = int(d.get("depth") or 1)
    go(w, e)


def released(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    obj = obj_of(state, e)
    w = thread_of(state, e)
    if "shows" in d:
        obj.shows = str(d["shows"])
    obj.locked_at_fork = False
    if obj.kind == "semaphore":
        if w.name in obj.holders:
            obj.holders.remove(w.name)
        else:  # released by another than its takers: a signal, held by no one
            obj.signals, obj.holders = True, []
        obj.value = d.get("value", _counted(obj.value, +1))
    elif obj.owner == w.name or obj.owner == "":
        depth = int(d.get("depth") or 0)
        obj.depth = depth
        if not depth:
            obj.owner = ""
    go(w, e)


def _counted(value: int | None, step: int) -> int | None:
    """A semaphore's value after an acquire or release that did not say it
    (a Manager's: its value is in the server, which does not tell). Below
    0 for a moment where an acquire arrives before the release that let it
    go (`_objects.html` shows 0 then)."""
    return None if value is None else value + step


def set_event(state: ProgramState, e: Event) -> None:
    obj_of(state, e).is_set = True
    go(thread_of(state, e), e)


def clear_event(state: ProgramState, e: Event) -> None:
    obj_of(state, e).is_set = False
    go(thread_of(state, e), e)


def event_wait(state: ProgramState, e: Event) -> None:
    obj_of(state, e)
    wait(thread_of(state, e), e, "wait", e.item or "")


def cwait(state: ProgramState, e: Event) -> None:
    obj = obj_of(state, e)
    w = thread_of(state, e)
    if obj.owner == w.name:  # wait() lets go of the lock while it waits
        obj.owner, obj.depth = "", 0
    wait(w, e, "cwait", e.item or "")


def cwoke(state: ProgramState, e: Event) -> None:
    obj = obj_of(state, e)
    w = thread_of(state, e)
    obj.owner, obj.depth = w.name, 1
    go(w, e)


def bwait(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    obj = obj_of(state, e)
    obj.parties = int(d.get("parties") or obj.parties)
    # Those waiting already say so (`waiting`), but two that arrive at once
    # may both have found the same number: each one counts.
    obj.waiting = max(int(d.get("waiting") or 0), obj.waiting) + 1
    wait(thread_of(state, e), e, "bwait", e.item or "")


def bpassed(state: ProgramState, e: Event) -> None:
    obj = obj_of(state, e)
    obj.waiting, obj.broken = 0, False  # (a barrier reset since it broke)
    go(thread_of(state, e), e)


def broken(state: ProgramState, e: Event) -> None:
    """A barrier broke (aborted, or a wait on it timed out): every thread
    waiting at it leaves with BrokenBarrierError, and so will every new
    one until it is reset."""
    obj = obj_of(state, e)
    obj.waiting, obj.broken = 0, True
    go(thread_of(state, e), e)
