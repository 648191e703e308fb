"""The view state of a traced program, folded from its events.

Pure, like `app.model`: no clock, no I/O; a replay of the same events gives
the same picture. The events are the tracer's (`concviz_tracer.kinds`), plus
the run's own lifecycle (`run_start`, `run_end`, `pause`, `resume`, and step
mode's `step_on`, `step_off`, `permit`; a thread's `wants`) and two
the runtime adds: `quiet` (nothing happened for a while: the hang diagnosis
may speak) and `exit` of the program's first process as the server saw it.

Workers are threads, keyed by (pid, tid): the tracer's label names them, and
two threads that share a label (a program may name every process "worker")
get the pid appended, so that each keeps a lane and a card of its own.

Order tolerance: batches from different processes arrive out of step, so a
`get` may come before the `put` of the same item (it waits in `early`), a
lock's `acquired` by one process before the `released` by another (an owner
is only cleared by its own release), and a child's events before its
parent's `reaped` of it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from app import events
from app.events import Event
from app.model import LANE_SEGMENTS, LIFECYCLE, note
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.state import (
    BLOCKED,
    CRASHED,
    CUT_OFF,
    FINISHED,
    GET_WAIT,
    ITEMS_SHOWN,
    KILLED,
    LIMIT,
    OVER,
    PUT_WAIT,
    QUIET,
    RUNNING,
    SLEEPING,
    TASKS_KEPT,
    ConsoleLine,
    ObjView,
    ProcView,
    ProgramState,
    ThreadView,
)

# Workers.


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


def _go(w: ThreadView, e: Event, new_state: str = RUNNING) -> None:
    """The thread does something new: it no longer waits."""
    if w.state in OVER:
        return
    if w.state != new_state:
        w.state, w.since = new_state, e.t
    w.op, w.on, w.timeout = "", "", None


def _wait(w: ThreadView, e: Event, op: str, on: str, kind: str = BLOCKED) -> None:
    if w.state in OVER:
        return
    w.state, w.since = kind, e.t
    w.op, w.on = op, on
    timeout = (e.data or {}).get("timeout")
    w.timeout = float(timeout) if timeout is not None else None


def _proc(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    p = proc_of(state, e.pid, str(d.get("name", "")))
    p.name = str(d.get("name") or p.name)
    p.ppid = int(d.get("ppid") or p.ppid)
    p.main = bool(d.get("main"))
    p.method = str(d.get("method") or "")
    p.daemon = bool(d.get("daemon"))
    p.since = e.t


def _thread(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    w = thread_of(state, e)
    w.thread_name = str(d.get("name", ""))
    w.daemon = bool(d.get("daemon"))
    w.main_thread = bool(d.get("main"))
    w.role = "main" if w.main_thread else "thread"
    proc = state.procs.get(e.pid)
    if proc is not None:
        w.proc_name = proc.name


def _spawn(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    pid = int(d.get("pid") or 0)
    if pid:
        p = proc_of(state, pid, e.item or "")
        p.daemon = bool(d.get("daemon"))
        p.ppid = p.ppid or e.pid
        if p.name == str(pid) and e.item:
            p.name = e.item


def _start_thread(state: ProgramState, e: Event) -> None:
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


def _join(state: ProgramState, e: Event) -> None:
    _wait(thread_of(state, e), e, "join", e.item or "")


def _joined(state: ProgramState, e: Event) -> None:
    _go(thread_of(state, e), e)


def _end(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    w = thread_of(state, e)
    if "daemon_threads" in d:  # the process's main code ended
        proc = proc_of(state, e.pid)
        proc.code_ended = True
        w.line = None
        _wait(w, e, "exit", "")  # it waits for its other threads and children
        return
    error = d.get("error")
    if error:
        w.error = str(error)
    w.line = None
    w.op, w.on, w.timeout = "", "", None
    if w.state not in OVER:
        w.state, w.since = (CRASHED if error else FINISHED), e.t


def _process_over(
    state: ProgramState, pid: int, t: float, exitcode: Any, signal: str = "", cut_off: bool = False
) -> None:
    p = proc_of(state, pid)
    if exitcode is not None:
        p.exitcode = int(exitcode)
    p.signal = signal or p.signal
    p.cut_off = p.cut_off or cut_off
    p.alive = False
    for w in state.threads():
        if w.pid != pid or w.state in OVER:
            continue
        w.alive = False
        w.exitcode = p.exitcode
        if p.cut_off or (w.daemon and not w.main_thread and p.code_ended):
            w.state = CUT_OFF
        elif p.signal or (p.exitcode is not None and p.exitcode < 0):
            w.state = KILLED
        elif p.exitcode:
            w.state = CRASHED
        else:
            w.state = FINISHED
        w.since, w.op, w.on, w.timeout, w.line = t, "", "", None, None
    for w in state.threads():
        if w.pid == pid:
            w.alive = False


def _exit(state: ProgramState, e: Event) -> None:
    code = (e.data or {}).get("exitcode")
    signal = ""
    if isinstance(code, int) and code < 0:
        signal = _signal_name(-code)
    _process_over(state, e.pid, e.t, code, signal)


def _reaped(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    pid = int(d.get("pid") or 0)
    if not pid:
        return
    code = d.get("exitcode")
    _process_over(state, pid, e.t, code, str(d.get("signal") or ""), bool(d.get("cut_off")))


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


# Objects.


def _new(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    key = e.item or ""
    if not key or key in state.objs:
        return
    obj = ObjView(
        key,
        str(d.get("type", "")),
        str(d.get("lib", "")),
        str(d.get("name") or key),
        line=d.get("line"),
        maxsize=int(d.get("maxsize") or 0),
        value=d.get("value"),
        parties=int(d.get("parties") or 0),
        peer=str(d.get("peer") or ""),
    )
    names = {o.name for o in state.objs.values()}
    if obj.name in names:  # two objects made on lines with the same variable
        obj.name = f"{obj.name}@{obj.line}" if obj.line else f"{obj.name}#{len(state.objs)}"
    state.objs[key] = obj


def obj_of(state: ProgramState, e: Event) -> ObjView:
    key = e.item or ""
    obj = state.objs.get(key)
    if obj is None:  # its `new` was lost, or made where nothing is traced
        obj = state.objs[key] = ObjView(key, "?", "", key)
    return obj


def _size(obj: ObjView, d: dict[str, Any]) -> None:
    size = d.get("size")
    obj.size = int(size) if size is not None else max(0, obj.puts - obj.gets)


def _put_wait(state: ProgramState, e: Event) -> None:
    _wait(thread_of(state, e), e, "put", e.item or "", PUT_WAIT)


def arrive(obj: ObjView, value: str) -> None:
    """An item into a queue (or a pipe's end), unless its taking came first."""
    obj.puts += 1
    if obj.early.get(value):
        obj.early[value] -= 1
        if not obj.early[value]:
            del obj.early[value]
        return
    obj.items.append(value)
    while len(obj.items) > ITEMS_SHOWN:
        obj.items.popleft()


def leave(obj: ObjView, value: str) -> None:
    """An item out of a queue (or a pipe's end): the first one with its value
    (first in, first out; for LIFO and priority queues the value tells which);
    one not there yet is remembered, its arrival will be reported late."""
    obj.gets += 1
    try:
        obj.items.remove(value)
    except ValueError:
        obj.early[value] = obj.early.get(value, 0) + 1


def _put(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    obj = obj_of(state, e)
    arrive(obj, str(d.get("v", "")))
    _size(obj, d)
    if obj.type == "JoinableQueue" or (obj.lib == "queue" and obj.type != "SimpleQueue"):
        obj.unfinished += 1  # a task to mark done (task_done and qjoin say the exact count)
    _go(thread_of(state, e), e)


def _get_wait(state: ProgramState, e: Event) -> None:
    _wait(thread_of(state, e), e, "get", e.item or "", GET_WAIT)


def _get(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    obj = obj_of(state, e)
    value = str(d.get("v", ""))
    leave(obj, value)
    _size(obj, d)
    w = thread_of(state, e)
    _go(w, e)
    w.item = value


def _raised(state: ProgramState, e: Event) -> None:
    """Full or Empty raised: the call is over."""
    _go(thread_of(state, e), e)


def _task_done(state: ProgramState, e: Event) -> None:
    obj = obj_of(state, e)
    obj.unfinished = int((e.data or {}).get("unfinished") or 0)
    _go(thread_of(state, e), e)


def _qjoin(state: ProgramState, e: Event) -> None:
    obj = obj_of(state, e)
    obj.unfinished = int((e.data or {}).get("unfinished") or 0)
    _wait(thread_of(state, e), e, "qjoin", e.item or "")


def _acquire_wait(state: ProgramState, e: Event) -> None:
    obj_of(state, e)
    _wait(thread_of(state, e), e, "acquire", e.item or "")


def _acquired(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    obj = obj_of(state, e)
    w = thread_of(state, e)
    if obj.kind == "semaphore":
        obj.holders.append(w.name)
        obj.value = d.get("value", obj.value)
    else:
        obj.owner = w.name
        obj.depth = int(d.get("depth") or 1)
    _go(w, e)


def _released(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    obj = obj_of(state, e)
    w = thread_of(state, e)
    if obj.kind == "semaphore":
        if w.name in obj.holders:
            obj.holders.remove(w.name)
        elif obj.holders:  # released by another than its taker: allowed for semaphores
            obj.holders.pop(0)
        obj.value = d.get("value", obj.value)
    elif obj.owner == w.name or obj.owner == "":
        depth = int(d.get("depth") or 0)
        obj.depth = depth
        if not depth:
            obj.owner = ""
    _go(w, e)


def _set(state: ProgramState, e: Event) -> None:
    obj_of(state, e).is_set = True
    _go(thread_of(state, e), e)


def _clear(state: ProgramState, e: Event) -> None:
    obj_of(state, e).is_set = False
    _go(thread_of(state, e), e)


def _event_wait(state: ProgramState, e: Event) -> None:
    obj_of(state, e)
    _wait(thread_of(state, e), e, "wait", e.item or "")


def _cwait(state: ProgramState, e: Event) -> None:
    obj = obj_of(state, e)
    w = thread_of(state, e)
    if obj.owner == w.name:  # wait() lets go of the lock while it waits
        obj.owner, obj.depth = "", 0
    _wait(w, e, "cwait", e.item or "")


def _cwoke(state: ProgramState, e: Event) -> None:
    obj = obj_of(state, e)
    w = thread_of(state, e)
    obj.owner, obj.depth = w.name, 1
    _go(w, e)


def _bwait(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    obj = obj_of(state, e)
    obj.parties = int(d.get("parties") or obj.parties)
    obj.waiting = int(d.get("waiting") or 0) + 1
    _wait(thread_of(state, e), e, "bwait", e.item or "")


def _bpassed(state: ProgramState, e: Event) -> None:
    obj_of(state, e).waiting = 0
    _go(thread_of(state, e), e)


def _send(state: ProgramState, e: Event) -> None:
    obj = obj_of(state, e)
    inbox = state.objs.get(obj.peer, obj) if obj.peer else obj
    arrive(inbox, str((e.data or {}).get("v", "")))
    inbox.size = len(inbox.items)
    _go(thread_of(state, e), e)


def _recv_wait(state: ProgramState, e: Event) -> None:
    obj_of(state, e)
    _wait(thread_of(state, e), e, "recv", e.item or "")


def _recv(state: ProgramState, e: Event) -> None:
    obj = obj_of(state, e)
    value = str((e.data or {}).get("v", ""))
    leave(obj, value)
    obj.size = len(obj.items)
    w = thread_of(state, e)
    _go(w, e)
    w.item = value


def _task(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    obj = obj_of(state, e)
    task = str(d.get("task", ""))
    fn = str(d.get("fn") or "")
    w = thread_of(state, e)
    if e.kind == K.SUBMIT:
        obj.tasks[task] = (fn, "queued", "")
    elif e.kind == K.TASK_START:
        obj.tasks[task] = (fn or obj.tasks.get(task, ("", "", ""))[0], "running", w.name)
    else:
        before = obj.tasks.get(task, (fn, "", w.name))
        obj.tasks[task] = (before[0], "failed" if d.get("error") else "done", w.name)
    while len(obj.tasks) > TASKS_KEPT:
        del obj.tasks[next(iter(obj.tasks))]
    if e.kind != K.SUBMIT:
        _go(w, e)


def _sleep(state: ProgramState, e: Event) -> None:
    w = thread_of(state, e)
    _go(w, e, SLEEPING)
    w.sleep_s = float((e.data or {}).get("s") or 0.0)


def _out(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    text = str(d.get("text", ""))
    stream = str(d.get("stream", "stdout"))
    w = thread_of(state, e)
    state.output_bytes += len(text.encode("utf-8", "replace"))
    key = (w.name, stream)
    pending = state.partial.pop(key, "") + text
    *whole, rest = pending.split("\n")
    for line in whole:
        state.console.append(ConsoleLine(e.t, w.name, stream, line))
        state.printed.append(state.console[-1])
    if rest:
        state.partial[key] = rest


def _flush_partial(state: ProgramState, t: float) -> None:
    for (worker, stream), text in state.partial.items():
        state.console.append(ConsoleLine(t, worker, stream, text))
        state.printed.append(state.console[-1])
    state.partial.clear()


def _exc(state: ProgramState, e: Event) -> None:
    w = thread_of(state, e)
    w.error = str((e.data or {}).get("error", ""))


def _stdin_eof(state: ProgramState, e: Event) -> None:
    w = thread_of(state, e)
    state.console.append(ConsoleLine(e.t, w.name, "note", "input()"))


def _lost(state: ProgramState, e: Event) -> None:
    state.lost += int((e.data or {}).get("events") or 0)


def _wants(state: ProgramState, e: Event) -> None:
    """Step mode: the thread waits for a permit to do `kind` (on the
    event's item); its next event (the action) clears it."""
    w = thread_of(state, e)
    if w.state not in OVER:
        w.wants = (str((e.data or {}).get("kind", "")), e.item)


def _permit(state: ProgramState, e: Event) -> None:
    # Given: not wanted again until the thread says so (a second click on
    # the same button gives no second permit).
    w = state.workers.get(str((e.data or {}).get("worker", "")))
    if w is not None:
        w.wants = None


def _quiet(state: ProgramState, e: Event) -> None:
    state.quiet = True


def _limit(state: ProgramState, e: Event) -> None:
    state.limit = str((e.data or {}).get("limit", ""))


def _run_end(state: ProgramState, e: Event) -> None:
    LIFECYCLE[events.RUN_END](state, e)
    _flush_partial(state, e.t)
    for p in state.procs.values():
        p.alive = False
    for w in state.threads():
        if w.state not in OVER:
            w.state, w.since = (KILLED if state.status != "finished" else FINISHED), e.t
        w.alive = False
        w.op, w.on, w.timeout, w.line = "", "", None, None
        w.wants = None


Handler = Callable[[ProgramState, Event], None]

HANDLERS: dict[str, Handler] = {
    events.RUN_START: LIFECYCLE[events.RUN_START],
    events.RUN_END: _run_end,
    events.PAUSE: LIFECYCLE[events.PAUSE],
    events.RESUME: LIFECYCLE[events.RESUME],
    events.STEP_ON: LIFECYCLE[events.STEP_ON],
    events.STEP_OFF: LIFECYCLE[events.STEP_OFF],
    events.PERMIT: _permit,
    events.WANTS: _wants,
    K.PROC: _proc,
    K.THREAD: _thread,
    K.SPAWN: _spawn,
    K.START_THREAD: _start_thread,
    K.JOIN: _join,
    K.JOINED: _joined,
    K.END: _end,
    K.EXIT: _exit,
    K.REAPED: _reaped,
    K.NEW: _new,
    K.PUT_WAIT: _put_wait,
    K.PUT: _put,
    K.FULL: _raised,
    K.GET_WAIT: _get_wait,
    K.GET: _get,
    K.EMPTY: _raised,
    K.TASK_DONE: _task_done,
    K.QJOIN: _qjoin,
    K.QJOINED: _joined,
    K.ACQUIRE_WAIT: _acquire_wait,
    K.ACQUIRED: _acquired,
    K.ACQUIRE_FAILED: _raised,
    K.RELEASED: _released,
    K.SET: _set,
    K.CLEAR: _clear,
    K.WAIT: _event_wait,
    K.WAITED: _joined,
    K.CWAIT: _cwait,
    K.CWOKE: _cwoke,
    K.NOTIFY: _raised,
    K.BWAIT: _bwait,
    K.BPASSED: _bpassed,
    K.BROKEN: _raised,
    K.SEND: _send,
    K.RECV_WAIT: _recv_wait,
    K.RECV: _recv,
    K.SUBMIT: _task,
    K.TASK_START: _task,
    K.TASK_END: _task,
    K.SLEEP: _sleep,
    K.OUT: _out,
    K.EXC: _exc,
    K.STDIN_EOF: _stdin_eof,
    K.LOST: _lost,
    QUIET: _quiet,
    LIMIT: _limit,
}

# Too many to be worth a line in the event log (the console has them).
QUIET_KINDS = frozenset({K.OUT, QUIET})


def fold(state: ProgramState, event: Event) -> ProgramState:
    handler = HANDLERS.get(event.kind)
    state.printed.clear()
    logged = event.kind not in QUIET_KINDS and not _said_before(state, event)
    if event.kind != QUIET:
        state.quiet = False
    if handler is not None:
        handler(state, event)
    name = state.names.get((event.pid, event.tid))
    found = state.workers.get(name) if name else None
    w = found if isinstance(found, ThreadView) else None
    if w is not None and event.kind != events.WANTS:
        w.wants = None  # it did what it wanted
    if w is not None and event.data and "line" in event.data and event.kind != K.END:
        w.line = event.data["line"]
        w.file = str(event.data.get("file") or "")
    _track(state, event, w)
    note(state, event, logged=logged)
    return state


def _said_before(state: ProgramState, event: Event) -> bool:
    """The server's `exit` for the program's first process, when its tracer
    already said the same (the log says it once)."""
    if event.kind != K.EXIT:
        return False
    p = state.procs.get(event.pid)
    code = (event.data or {}).get("exitcode")
    return p is not None and not p.alive and p.exitcode == code


def _track(state: ProgramState, event: Event, w: ThreadView | None) -> None:
    """The timeline: a new segment when a thread changed state."""
    targets = [w] if w is not None else []
    if event.kind in (K.EXIT, K.REAPED, events.RUN_END, K.END):
        targets = state.threads()
    for t in targets:
        lane = state.lanes.get(t.name)
        if lane is None:
            lane = state.lanes[t.name] = deque(maxlen=LANE_SEGMENTS)
        label = f"{t.op} {state.obj_name(t.on)}".strip() if t.op else None
        if not lane or lane[-1][1] != t.state or lane[-1][2] != label:
            lane.append((event.t, t.state, label))


def fold_all(evs: Iterable[Event], state: ProgramState | None = None) -> ProgramState:
    state = state if state is not None else ProgramState()
    for e in evs:
        fold(state, e)
    return state
