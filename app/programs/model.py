"""The view state of a traced program, folded from its events.

Pure, like `app.model`: no clock, no I/O; a replay of the same events gives
the same picture. The events are the tracer's (`concviz_tracer.kinds`), plus
the run's own lifecycle (`run_start`, `run_end`, `pause`, `resume`, and step
mode's `step_on`, `step_off`, `permit`; a thread's `wants`) and two
the runtime adds: `quiet` (nothing happened for a while: the hang diagnosis
may speak) and `exit` of the program's first process as the server saw it.

Each kind has its handler in `app.programs.folds`, one module per kind of
thing (workers and their lifecycle, objects, queues and pipes, Redis lists
and streams, sync objects, pools, console, the run); this module dispatches
and keeps the timeline.

Order tolerance: batches from different processes arrive out of step, so a
`get` may come before the `put` of the same item (it waits in `early`), a
lock's `acquired` by one process before the `released` by another (an owner
is only cleared by its own release), and a child's events before its
parent's `reaped` of it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

from app import events
from app.events import Event
from app.model import LANE_SEGMENTS, LIFECYCLE, add_segment, note
from app.programs import journeys
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.calls import written
from app.programs.folds import (
    channels,
    console,
    lifecycle,
    objects,
    pools,
    queues,
    redisq,
    run,
    shm,
    sync,
)
from app.programs.folds.workers import raised
from app.programs.state import (
    BLOCKED,
    HELD,
    LIMIT,
    QUIET,
    RAW_OUT,
    RUNNING,
    SLEEPING,
    STALLS,
    ProgramState,
    ThreadView,
)

Handler = Callable[[ProgramState, Event], None]

HANDLERS: dict[str, Handler] = {
    events.RUN_START: LIFECYCLE[events.RUN_START],
    events.RUN_END: run.run_end,
    events.PAUSE: LIFECYCLE[events.PAUSE],
    events.RESUME: LIFECYCLE[events.RESUME],
    events.STEP_ON: LIFECYCLE[events.STEP_ON],
    events.STEP_OFF: LIFECYCLE[events.STEP_OFF],
    events.PERMIT: run.permit,
    events.WANTS: run.wants,
    K.PROC: lifecycle.process,
    K.THREAD: lifecycle.thread,
    K.SPAWN: lifecycle.spawn,
    K.START_THREAD: lifecycle.start_thread,
    K.JOIN: lifecycle.join,
    K.JOINED: lifecycle.joined,
    K.END: lifecycle.end,
    K.EXIT: lifecycle.exited,
    K.REAPED: lifecycle.reaped,
    K.NEW: objects.new,
    K.PUT_WAIT: queues.put_wait,
    K.PUT: redisq.routed(queues.put, redisq.put),
    K.FULL: raised,
    K.GET_WAIT: redisq.routed(queues.get_wait, redisq.get_wait),
    K.GET: redisq.routed(queues.get, redisq.get),
    K.EMPTY: raised,
    K.TASK_DONE: queues.task_done,
    K.QJOIN: queues.qjoin,
    K.QJOINED: queues.qjoined,
    K.XGROUP: redisq.xgroup,
    K.ACK: redisq.ack,
    K.CLAIM: redisq.claim,
    K.ACQUIRE_WAIT: sync.acquire_wait,
    K.ACQUIRED: sync.acquired,
    K.ACQUIRE_FAILED: raised,
    K.RELEASED: sync.released,
    K.SET: sync.set_event,
    K.CLEAR: sync.clear_event,
    K.WAIT: sync.event_wait,
    K.WAITED: lifecycle.joined,
    K.CWAIT: sync.cwait,
    K.CWOKE: sync.cwoke,
    K.NOTIFY: raised,
    K.BWAIT: sync.bwait,
    K.BPASSED: sync.bpassed,
    K.BROKEN: sync.broken,
    K.SEND: queues.send,
    K.SEND_WAIT: queues.send_wait,
    K.SENT: raised,
    K.RECV_WAIT: queues.recv_wait,
    K.RECV: queues.recv,
    K.SUBMIT: pools.pool_task,
    K.POOL_WORKER: pools.pool_worker,
    K.TASK_START: pools.pool_task,
    K.TASK_END: pools.pool_task,
    K.RESULT_WAIT: pools.result_wait,
    K.RESULT_GOT: pools.result_got,
    K.CANCELLED: pools.pool_task,
    K.TERMINATE: pools.terminate,
    K.SLEEP: lifecycle.sleep,
    K.OUT: console.out,
    K.EXC: console.exc,
    K.STDIN_EOF: console.stdin_eof,
    K.SIGNAL: lifecycle.signal_set,
    K.EVENT_LOOP: lifecycle.event_loop,
    K.LOOP_WAIT: lifecycle.loop_wait,
    K.LOOP_WOKE: raised,
    K.SOCK_WAIT: channels.sock_wait,
    K.SOCK_WOKE: raised,
    K.FD_WAIT: channels.fd_wait,
    K.FD_WOKE: raised,
    K.CHANGED: objects.changed,
    K.SHM_OPEN: shm.shm_open,
    K.SHM_CLOSE: shm.shm_close,
    K.SHM_UNLINK: shm.shm_unlink,
    K.LOST: run.lost,
    K.RENAMED: lifecycle.renamed,
    QUIET: run.quiet,
    STALLS: run.stalls,
    RAW_OUT: console.raw_out,
    LIMIT: run.limit,
}

# Too many to be worth a line in the event log (the console has them).
QUIET_KINDS = frozenset({K.OUT, RAW_OUT, QUIET, STALLS})
# What a program stopped while stuck still does as it ends (the diagnosis
# of its hang stays said, `app.programs.diagnosis.said`).
ENDING_KINDS = frozenset(
    {K.OUT, RAW_OUT, K.EXC, K.END, K.EXIT, K.REAPED, K.LOST, LIMIT, events.RUN_END, events.KILL}
)
# Kinds the log may have heard of already (`_said_before`).
SAID_KINDS = frozenset({K.EXIT, K.REAPED})
# Kinds that may change every thread's state, not only their own thread's.
ALL_THREADS = frozenset({K.EXIT, K.REAPED, events.RUN_END, K.END, STALLS})


def fold(state: ProgramState, event: Event) -> ProgramState:
    kind = event.kind
    if state.printed:
        state.printed.clear()
    logged = kind not in QUIET_KINDS and not (kind in SAID_KINDS and _said_before(state, event))
    if kind != QUIET and kind != STALLS:  # a sample of the quiet program is no move
        state.quiet = False
        if state.stuck_at_end and kind not in ENDING_KINDS:
            state.stuck_at_end = []  # a worker moved: it was not stuck for good
    handler = HANDLERS.get(kind)
    if handler is not None:
        handler(state, event)
    name = state.names.get((event.pid, event.tid))
    if state.deadlocked and name in state.deadlocked and kind not in ENDING_KINDS:
        state.deadlock_at_end, state.deadlocked = [], set()  # one of them moved after all
    journeys.fold(state, event, name or event.worker)
    found = state.workers.get(name) if name else None
    w = found if isinstance(found, ThreadView) else None
    if w is not None:
        if kind != events.WANTS:
            w.wants = None  # it did what it wanted
        if w.stall is not None and event.t > w.stall_t:
            w.stall = None  # it moved since
            if w.state == BLOCKED and not w.op:
                w.state, w.since = RUNNING, event.t
        data = event.data
        if data and "line" in data and kind != K.END:
            w.line = data["line"]
            w.file = str(data.get("file") or "")
    if kind in ALL_THREADS:
        for t in state.threads():
            _track(state, event.t, t)
    elif w is not None:
        _track(state, event.t, w)
    note(state, event, logged=logged)
    return state


def _said_before(state: ProgramState, event: Event) -> bool:
    """The server's `exit` for the program's first process, when its tracer
    already said the same; a parent's `reaped` of a child the server saw die
    first (`app.programs.deaths`), unless it says more (cut off). The log
    says each once."""
    d = event.data or {}
    if event.kind == K.EXIT:
        p = state.procs.get(event.pid)
    elif event.kind == K.REAPED:
        p = state.procs.get(int(d.get("pid") or 0))
        if p is not None and bool(d.get("cut_off")) != p.cut_off:
            return False
    else:
        return False
    return p is not None and not p.alive and p.exitcode == d.get("exitcode")


def _track(state: ProgramState, t: float, w: ThreadView) -> None:
    """The timeline: a new segment when a thread changed state."""
    lane = state.lanes.get(w.name)
    if lane is None:
        lane = state.lanes[w.name] = deque(maxlen=LANE_SEGMENTS)
    shown, label = w.state, None
    if w.held:  # step mode: it waits for the class
        shown, label = HELD, state.wanted_call(w)
    elif w.op and w.state != SLEEPING:
        label = written(w.op, state.obj_name(w.on))
    if not lane or lane[-1][1] != shown or lane[-1][2] != label:
        add_segment(lane, (t, shown, label))


def fold_all(evs: Iterable[Event], state: ProgramState | None = None) -> ProgramState:
    state = state if state is not None else ProgramState()
    for e in evs:
        fold(state, e)
    return state
