"""The program's threads and processes as the fold finds them, and the two
moves of a thread: it goes on, or it waits for something.

Workers are threads, keyed by (pid, tid): the tracer's label names them, and
two threads that share a label (a program may name every process "worker")
get the pid appended, so that each keeps a lane and a card of its own.
"""

from __future__ import annotations

from app.events import Event
from app.programs.state import BLOCKED, OVER, RUNNING, ProcView, ProgramState, ThreadView


def _label(state: ProgramState, e: Event) -> str:
    """The unique name of the event's thread, made on its first event."""
    key = (e.pid, e.tid)
    name = state.names.get(key)
    if name is None:
        name = e.worker
        if name in state.workers:
            name = f"{e.worker} ({e.pid})"
            if name in state.workers:
                name = f"{e.worker} ({e.pid}.{e.tid})"
        state.names[key] = name
    return name


def thread_of(state: ProgramState, e: Event) -> ThreadView:
    name = state.names.get((e.pid, e.tid))
    w = state.workers.get(name) if name is not None else None
    if w is not None and isinstance(w, ThreadView):  # nearly always: a thread seen before
        return w
    name = _label(state, e)
    w = state.workers.get(name)
    if not isinstance(w, ThreadView):
        w = ThreadView(name, role="thread", pid=e.pid, tid=e.tid, state=RUNNING, since=e.t)
        w.slot = e.tid  # step mode's permits are by native thread id
        proc = state.procs.get(e.pid)
        w.proc_name = proc.name if proc is not None else ""
        state.workers[name] = w
    return w


def proc_of(state: ProgramState, pid: int, name: str = "") -> ProcView:
    p = state.procs.get(pid)
    if p is None:
        p = state.procs[pid] = ProcView(pid, name or str(pid))
    return p


def go(w: ThreadView, e: Event, new_state: str = RUNNING) -> None:
    """The thread does something new: it no longer waits."""
    if w.state in OVER:
        return
    if w.state != new_state:
        w.state, w.since = new_state, e.t
    w.op, w.on, w.timeout = "", "", None


def wait(w: ThreadView, e: Event, op: str, on: str, kind: str = BLOCKED) -> None:
    if w.state in OVER:
        return
    w.state, w.since = kind, e.t
    w.op, w.on = op, on
    timeout = (e.data or {}).get("timeout")
    w.timeout = float(timeout) if timeout is not None else None


def raised(state: ProgramState, e: Event) -> None:
    """The call is over: Full or Empty raised, or a wait woke (a socket's,
    a pipe's, an event loop's, a big send's)."""
    go(thread_of(state, e), e)
