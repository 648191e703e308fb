"""A pool's tasks (multiprocessing.Pool, concurrent.futures executors):
submitted, started and ended, the latest `TASKS_KEPT` of them."""

from __future__ import annotations

from app.events import Event
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.folds.objects import obj_of
from app.programs.folds.workers import go, proc_of, thread_of, wait
from app.programs.state import CANCELLED, GET_WAIT, LOST, NEVER_RAN, TASKS_KEPT, ProgramState


def pool_task(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    obj = obj_of(state, e)
    task = str(d.get("task", ""))
    fn = str(d.get("fn") or "")
    w = thread_of(state, e)
    if e.kind == K.SUBMIT:
        obj.tasks[task] = (str(d.get("call") or fn), "queued", "")
        obj.tasks_given += 1
    elif e.kind == K.CANCELLED:  # by the thread that cancelled it, which goes on
        given = obj.tasks.get(task, (fn, "", ""))[0]  # its call, if its submit said it
        obj.tasks[task] = (given, CANCELLED, "")
        return
    elif e.kind == K.TASK_START:
        call = str(d.get("call") or fn or obj.tasks.get(task, ("", "", ""))[0])
        obj.tasks[task] = (call, "running", w.name)
    else:
        before = obj.tasks.get(task, (fn, "", w.name))
        failed = bool(d.get("error"))
        obj.tasks[task] = (before[0], "failed" if failed else "done", w.name)
        if failed:
            obj.tasks_failed += 1
            obj.task_errors[task] = str(d["error"])
        else:
            obj.tasks_done += 1
    while len(obj.tasks) > TASKS_KEPT:
        obj.task_errors.pop(next(iter(obj.tasks)), None)
        del obj.tasks[next(iter(obj.tasks))]
    if e.kind == K.TASK_START:
        go(w, e)
    elif e.kind == K.TASK_END:
        # A pool's worker goes back to its pool's queue of tasks.
        wait(w, e, K.WORK, e.item or "", GET_WAIT)


def pool_worker(state: ProgramState, e: Event) -> None:
    """A pool's worker started: it waits for its first task."""
    wait(thread_of(state, e), e, K.WORK, e.item or "", GET_WAIT)
    proc_of(state, e.pid).pool = e.item or ""


def terminate(state: ProgramState, e: Event) -> None:
    """Pool.terminate(): its workers end now, and what none of them started
    never runs (what they run ends as their processes do: `workers_gone`)."""
    obj = obj_of(state, e)
    obj.terminated = True
    for pid, name in (e.data or {}).get("workers") or ():
        worker = proc_of(state, int(pid), str(name))
        worker.pool, worker.ppid = obj.key, worker.ppid or e.pid
    for task, (fn, st, where) in obj.tasks.items():
        if st == "queued":
            obj.tasks[task] = (fn, NEVER_RAN, where)
            obj.never_ran += 1


def workers_gone(state: ProgramState, names: set[str]) -> None:
    """The tasks these workers were running will not end: their process did."""
    for obj in state.objs.values():
        for task, (fn, st, where) in obj.tasks.items():
            if st == "running" and where in names:
                obj.tasks[task] = (fn, LOST, where)


def result_wait(state: ProgramState, e: Event) -> None:
    """A thread waits for a task's result (Future.result, AsyncResult.get)."""
    w = thread_of(state, e)
    wait(w, e, K.RESULT, e.item or "")
    w.awaits = str((e.data or {}).get("task") or "")


def result_got(state: ProgramState, e: Event) -> None:
    go(thread_of(state, e), e)
