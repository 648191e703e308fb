"""Shared memory segments: who maps each one, and whether its name is gone.

A process maps a segment from the `shm_open` that made or opened it until
it has closed every handle it opened (`shm_close`), or until its end. A
child forked after that maps it too, with its parent's handles, without a
word (fork copies the mappings): it is counted from its `proc`, or from
its parent's `spawn` (a manager's server says nothing itself). Batches of
different processes arrive out of step, so either may come first.
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
    seg = obj.segment
    seg.size = int(d.get("size") or seg.size)
    seg.handles[e.pid] = seg.handles.get(e.pid, 0) + 1
    _map(state, seg, e.pid, e.t)


def shm_close(state: ProgramState, e: Event) -> None:
    seg = obj_of(state, e).segment
    if seg is None:
        return
    seg.handles[e.pid] = left = seg.handles.get(e.pid, 1) - 1
    if left <= 0:
        seg.mapped.pop(e.pid, None)


def shm_unlink(state: ProgramState, e: Event) -> None:
    seg = obj_of(state, e).segment
    if seg is not None:
        seg.unlinked = True


def forked(state: ProgramState, p: ProcView) -> None:
    """The process `p` is known (its `proc` or its parent's `spawn`): forked,
    it maps what its parent mapped when it was born."""
    if p.method != "fork":
        return
    for obj in state.objs.values():
        seg = obj.segment
        if seg is not None and seg.mapped.get(p.ppid, p.since) < p.since:
            _inherit(state, seg, p)


def _inherit(state: ProgramState, seg: SegmentView, child: ProcView) -> None:
    """`child`, forked after its parent mapped `seg`, maps it with its
    parent's handles."""
    if child.pid in seg.mapped:
        return
    seg.handles[child.pid] = seg.handles.get(child.pid, 0) + seg.handles.get(child.ppid, 1)
    _map(state, seg, child.pid, child.since)


def _map(state: ProgramState, seg: SegmentView, pid: int, t: float) -> None:
    if pid in seg.mapped:
        return
    seg.mapped[pid] = t
    for child in state.procs.values():  # forked since, and seen already
        if child.ppid == pid and child.method == "fork" and child.since > t:
            _inherit(state, seg, child)
