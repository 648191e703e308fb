"""Shared memory segments: who maps each one, and whether its name is gone.

A process maps a segment from the `shm_open` that made or opened it until
its `shm_close` or its end. A child forked after that maps it too, without
a word (fork copies the mappings): it is counted from its `proc`. Batches
of different processes arrive out of step, so either may come first.
"""

from __future__ import annotations

from app.events import Event
from app.programs.folds.objects import new, obj_of
from app.programs.state import ProcView, ProgramState, SegmentView


def shm_open(state: ProgramState, e: Event) -> None:
    new(state, e)
    obj = obj_of(state, e)
    d = e.data or {}
    if obj.segment is None:
        obj.segment = SegmentView(str(d.get("segment") or ""))
    obj.segment.size = int(d.get("size") or obj.segment.size)
    _map(state, obj.segment, e.pid, e.t)


def shm_close(state: ProgramState, e: Event) -> None:
    seg = obj_of(state, e).segment
    if seg is not None:
        seg.mapped.pop(e.pid, None)


def shm_unlink(state: ProgramState, e: Event) -> None:
    seg = obj_of(state, e).segment
    if seg is not None:
        seg.unlinked = True


def forked(state: ProgramState, p: ProcView) -> None:
    """The process `p` has said who it is: forked, it maps what its parent
    mapped when it was born."""
    if p.method != "fork":
        return
    for obj in state.objs.values():
        seg = obj.segment
        if seg is not None and seg.mapped.get(p.ppid, p.since) < p.since:
            _map(state, seg, p.pid, p.since)


def _map(state: ProgramState, seg: SegmentView, pid: int, t: float) -> None:
    if pid in seg.mapped:
        return
    seg.mapped[pid] = t
    for child in state.procs.values():  # forked since, and seen already
        if child.ppid == pid and child.method == "fork" and child.since > t:
            _map(state, seg, child.pid, child.since)
