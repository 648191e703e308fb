"""Processes and threads born, joined, sleeping and ended: what the fold
makes of the tracer's `proc`, `thread`, `spawn`, `start_thread`, `join`,
`end`, `exit` and `reaped` (a child's events may come before its parent's
`reaped` of it)."""

from __future__ import annotations

from typing import Any

from app.events import Event
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.deaths import signal_name
from app.programs.diagnosis import remember_never_going
from app.programs.folds import pools, shm
from app.programs.folds.workers import go, proc_of, thread_of, wait
from app.programs.state import (
    CRASHED,
    CUT_OFF,
    ENDED_WITH,
    FINISHED,
    KILLED,
    OVER,
    POOL_ENDED,
    RUNNING,
    SLEEPING,
    ProgramState,
    ThreadView,
)


def process(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    own = str(d.get("name") or "")
    p = proc_of(state, e.pid, str(d.get("label") or own))
    p.name = str(d.get("label") or own or p.name)
    p.own_name = own if d.get("label") else ""
    p.ppid = int(d.get("ppid") or p.ppid)
    p.main = bool(d.get("main"))
    p.method = str(d.get("method") or "")
    p.daemon = bool(d.get("daemon"))
    p.since = e.t
    shm.forked(state, p)


def thread(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    w = thread_of(state, e)
    w.thread_name = str(d.get("name", ""))
    w.daemon = bool(d.get("daemon"))
    w.main_thread = bool(d.get("main"))
    w.role = "main" if w.main_thread else "thread"
    proc = state.procs.get(e.pid)
    if proc is not None:
        w.proc_name = proc.name


def spawn(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    pid = int(d.get("pid") or 0)
    if pid:
        p = proc_of(state, pid, e.item or "")
        p.daemon = bool(d.get("daemon"))
        p.ppid = p.ppid or e.pid
        p.manager = d.get("target") == K.MANAGER_SERVER
        p.os_fork = d.get("target") == ""  # a Process's names its target, or None
        p.command = str(d.get("command") or "")
        if p.name == str(pid) and e.item:
            p.name = e.item
        if not p.method:  # its own `proc` says it again, if it is traced
            p.method, p.since = str(d.get("method") or ""), p.since or e.t
            shm.forked(state, p)


def start_thread(state: ProgramState, e: Event) -> None:
    """A thread is born: shown at once, before its own first event."""
    d = e.data or {}
    tid = int(d.get("tid") or 0)
    if not tid or (e.pid, tid) in state.names:
        return
    label = e.item or ""
    born = Event(e.seq, e.t, label, e.pid, tid, K.START_THREAD)
    w = thread_of(state, born)
    # The label of a thread in a child process has its process's in front
    # ("kid/helper"); its own name is the rest (its `thread` event says it too).
    proc = state.procs.get(e.pid)
    in_child = proc is not None and not proc.main and "/" in label
    w.thread_name = label.split("/", 1)[1] if in_child else label
    w.daemon = bool(d.get("daemon"))


def join(state: ProgramState, e: Event) -> None:
    wait(thread_of(state, e), e, "join", e.item or "")


def joined(state: ProgramState, e: Event) -> None:
    go(thread_of(state, e), e)


def sleep(state: ProgramState, e: Event) -> None:
    w = thread_of(state, e)
    go(w, e, SLEEPING)
    w.sleep_s = float((e.data or {}).get("s") or 0.0)


def end(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    w = thread_of(state, e)
    late = w.state == ENDED_WITH  # read after its process's end, which it came before
    if late:
        lane = state.lanes.get(w.name)
        if lane and lane[-1][1] == ENDED_WITH:
            lane.pop()
        w.state = RUNNING
    if "daemon_threads" in d:  # the process's main code ended
        proc = proc_of(state, e.pid)
        proc.code_ended = True
        w.line = None
        if late:
            w.state, w.since = FINISHED, e.t
        else:
            wait(w, e, "exit", "")  # it waits for its other threads and children
        return
    error = d.get("error")
    if error:
        w.error = str(error)
    w.cancelled = bool(d.get("cancelled"))
    w.line = None
    w.op, w.on, w.timeout = "", "", None
    if w.state not in OVER:
        w.state, w.since = (CRASHED if error else FINISHED), e.t


def _process_over(
    state: ProgramState, pid: int, t: float, exitcode: Any, signal: str = "", cut_off: bool = False
) -> None:
    p = proc_of(state, pid)
    if signal and state.status == "running" and not state.deadlock_at_end:
        remember_never_going(state)  # before this process's threads are over
    if exitcode is not None:
        p.exitcode = int(exitcode)
    p.signal = signal or p.signal
    p.cut_off = p.cut_off or cut_off
    p.alive = False
    pool = state.objs.get(p.pool) if p.pool else None
    p.pool_ended = p.signal == "SIGTERM" and pool is not None and pool.terminated
    pools.workers_gone(state, {w.name for w in state.threads() if w.pid == pid})
    for w in state.threads():
        if w.pid == pid and cut_off and w.state == KILLED:
            w.state = CUT_OFF  # its parent says more than the server saw: cut off
        if w.pid != pid or w.state in OVER:
            continue
        w.alive = False
        w.exitcode = p.exitcode
        if p.cut_off or (w.daemon and not w.main_thread and p.code_ended):
            w.state = CUT_OFF
        elif p.pool_ended:
            w.state = POOL_ENDED
        elif p.signal or (p.exitcode is not None and p.exitcode < 0):
            w.state = KILLED
        elif p.exitcode and w.error:  # an uncaught exception (sys.exit(2) is no crash)
            w.state = CRASHED
        elif (not w.daemon and not w.main_thread) or (
            w.main_thread and not p.code_ended and not p.os_fork and p.exitcode is not None
        ):
            # Python's exit would have waited for that thread; this main
            # thread never reached its code's end (os._exit on its way).
            w.state = ENDED_WITH
        else:
            w.state = FINISHED
        w.since, w.op, w.on, w.timeout, w.line = t, "", "", None, None
    for w in state.threads():
        if w.pid == pid:
            w.alive = False


def exited(state: ProgramState, e: Event) -> None:
    code = (e.data or {}).get("exitcode")
    signal = ""
    if isinstance(code, int) and code < 0:
        signal = signal_name(-code)
    _process_over(state, e.pid, e.t, code, signal)


def signal_set(state: ProgramState, e: Event) -> None:
    """A handler of the user's code for a signal, or the default again."""
    d = e.data or {}
    signals = proc_of(state, e.pid).signals
    if d.get("handled"):
        signals.add(str(d.get("signal", "")))
    else:
        signals.discard(str(d.get("signal", "")))


def event_loop(state: ProgramState, e: Event) -> None:
    """The process runs an asyncio event loop, started at this line."""
    proc_of(state, e.pid).event_loop = int((e.data or {}).get("line") or 0)


def loop_wait(state: ProgramState, e: Event) -> None:
    """An asyncio loop waits with nothing to run: until its next timer
    ("loop_timer", its timeout), for input or output it watches ("loop_io"),
    or, watching none, for what no coroutine does."""
    d = e.data or {}
    timer = d.get("timer")
    w = thread_of(state, e)
    if timer is not None:  # as good as asleep: drawn so, no hang
        go(w, e, SLEEPING)
        w.op, w.sleep_s, w.timeout = "loop_timer", float(timer), float(timer)
        return
    wait(w, e, "loop_io" if d.get("io") else "loop", "")


def reaped(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    pid = int(d.get("pid") or 0)
    if not pid:
        return
    if pid not in state.procs and e.item:
        # A child in which no code of the user's ran (a pool's idle worker):
        # named by the parent that reaped it.
        proc_of(state, pid, e.item).ppid = e.pid
    code = d.get("exitcode")
    _process_over(state, pid, e.t, code, str(d.get("signal") or ""), bool(d.get("cut_off")))


def renamed(state: ProgramState, e: Event) -> None:
    """A running thread given a new name: its card says it (its label stays)."""
    w = state.workers.get(e.item or "")
    if isinstance(w, ThreadView):
        w.thread_name = str((e.data or {}).get("name", ""))
