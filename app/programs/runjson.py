"""What a traced program's run object says over the API beyond what every
run says (`RunState.extras`): why it cannot go on, its console, its
processes and its objects, and a lesson's own fields (pure)."""

from __future__ import annotations

from typing import Any

from app.programs.diagnosis import said
from app.programs.state import ProgramState, SegmentView


def extras(state: ProgramState) -> dict[str, Any]:
    lesson = state.lesson()
    return {
        # Why the program cannot go on, if it cannot (English; the page
        # says it in the reader's language).
        "diagnosis": [s.message % s.parts for s in said(state)],
        "limit": state.limit or None,
        "console": [
            {"t": c.t, "worker": c.worker, "stream": c.stream, "text": c.text}
            | ({"into": c.into} if c.into else {})
            for c in state.console
        ],
        "processes": [
            {
                "pid": p.pid,
                "name": p.name,
                "own_name": p.own_name or p.name,  # what current_process().name says
                "ppid": p.ppid,
                "alive": p.alive,
                "exitcode": p.exitcode,
                "signal": p.signal or None,
                "cut_off": p.cut_off,  # a daemon, ended as its parent exited
                "pool_ended": p.pool_ended,  # a pool's worker, ended by its terminate()
                "with_run": p.with_run,  # still there when the run ended: concviz ended it
                "daemon": p.daemon,
                "manager": p.manager,
                "command": p.command or None,
                "event_loop": p.event_loop,  # the line that started its asyncio loop
                # a command's wait in the kernel (`app.programs.stalls`)
                "stall": p.stall if p.alive else None,
            }
            for p in state.procs.values()
        ],
        "objects": [
            {
                "key": o.key,
                "type": o.type,
                "lib": o.lib,
                "name": o.name,
                "line": o.line,
                # a Value's or Array's lock: what it guards, and holds
                **({"guards": o.guards, "shows": o.shows} if o.shows is not None else {}),
                # a shared memory segment's name, size, and who maps it now
                **({"segment": _segment(state, o.segment)} if o.segment else {}),
            }
            for o in state.objs.values()
        ],
        **({} if lesson is None else {"lesson": lesson}),
    }


def _segment(state: ProgramState, seg: SegmentView) -> dict[str, Any]:
    """A shared memory segment's name, size, who maps it now, and whether
    its name is gone."""
    mapped = state.mapping(seg)
    return {"name": seg.name, "size": seg.size, "mapped": mapped, "unlinked": seg.unlinked}
