"""Hangs around a pool: tasks that will never run, and a pool whose worker
processes die as they start (`app.programs.diagnosis`). Pure."""

from __future__ import annotations

from typing import Any

from app.i18n import N_
from app.programs.state import LOST, NEVER_RAN, ObjView, ProgramState, ThreadView

Said = tuple[str, dict[str, Any]]  # a message and its parts (`diagnosis.Sentence`)

POOL_DYING = N_(
    "The program cannot go on: %(who)s waits for %(pool)s, and its worker processes die as"
    " they start, so none of its tasks runs."
)
POOL_DIED = N_("%(n)s of its workers have died so far: %(error)s")
MAIN_GUARD = N_(
    "Under spawn and forkserver each new process first runs the program's file from the top:"
    ' the code that starts processes belongs under if __name__ == "__main__":'
)
RESULT = N_("%(who)s waits for a result from %(obj)s")
RESULT_LOST = N_(
    "%(who)s waits for a result from %(obj)s, and one will never come: the process of"
    " %(worker)s ended while it ran that task"
)
RESULT_TERMINATED = N_(
    "%(who)s waits for a result from %(obj)s, and one will never come: %(obj)s was terminated"
    " before that task ran"
)
RESULT_OWN_POOL = N_(
    "%(who)s, a worker of %(obj)s, waits for the result of %(fn)s from %(obj)s; that task can run"
    " only in a free worker of %(obj)s, and all %(n)s of them are busy waiting, this one among"
    " them"
)
RESULT_ONLY_WORKER = N_(
    "%(who)s, a worker of %(obj)s, waits for the result of %(fn)s from %(obj)s; that task can run"
    " only in a free worker of %(obj)s, and its only one is this, busy waiting"
)


def may_start(state: ProgramState, w: ThreadView) -> bool:
    """`w` waits for a result from a pool that holds a task not started yet,
    and a worker may still take it: one waits for a task, or the pool has
    fewer live workers than its size (one still starting says nothing until
    it does). A pool whose every worker waits for something else never
    starts it: ThreadPoolExecutor(1) whose task waits for a task it
    submitted."""
    if w.op != "result":
        return False
    obj = state.objs.get(w.on)
    if obj is None or obj.terminated or not any(t[1] == "queued" for t in obj.tasks.values()):
        return False
    ran = {t[2] for t in obj.tasks.values() if t[2]}
    idle = [x for x in state.live_threads() if x.op == "work" and x.on == obj.key]
    busy = [x for x in state.live_threads() if x.name in ran]
    return bool(idle) or not 0 < obj.workers <= len(busy)


# A pool's worker processes that died this many times before any task ran.
DIED_AT_START = 2
# What a process that starts processes says when it was itself started by
# running the program's file again (no `if __name__ == "__main__":`).
_NO_MAIN_GUARD = ("bootstrapping phase", "context has already been set")


def dying_pool(state: ProgramState) -> list[Said]:
    """A pool whose worker processes keep dying as they start, while a
    thread waits for it: a pool starts new ones for ever, none runs a task
    (a spawn program without its ``__main__`` guard). Empty if none."""
    for w in state.live_threads():
        obj = state.objs.get(w.on)
        if w.op not in ("result", "join") or obj is None or obj.kind != "pool":
            continue
        if any(st != "queued" for _fn, st, _where in obj.tasks.values()):
            continue  # its workers do run tasks
        died = [
            t
            for t in state.threads()
            if t.main_thread
            and t.state == "crashed"
            and "PoolWorker-" in t.name
            and (p := state.procs.get(t.pid)) is not None
            and p.ppid == w.pid
        ]
        if len(died) < max(DIED_AT_START, obj.workers):
            continue
        error = " ".join(died[-1].error.split())
        first, dot, _rest = error.partition(". ")  # its first sentence
        error = first + dot.strip() if len(first) <= 160 else first[:159] + "…"
        out: list[Said] = [
            (POOL_DYING, {"who": w.name, "pool": state.obj_name(obj.key)}),
            (POOL_DIED, {"n": len(died), "error": error}),
        ]
        if any(words in error for words in _NO_MAIN_GUARD):
            out.append((MAIN_GUARD, {}))
        return out
    return []


def result(w: ThreadView, obj: ObjView | None, parts: dict[str, Any]) -> Said:
    """Why a result `w` waits for from the pool `obj` has not come: the
    tasks it waits for (all the pool's, if which is not known)."""
    tasks = obj.tasks if obj is not None else {}
    mine = [
        tasks[t] for t in tasks if not w.awaits or t == w.awaits or t.startswith(w.awaits + ".")
    ]
    lost = [where for _fn, st, where in mine if st == LOST]
    if lost:
        return (RESULT_LOST, {**parts, "worker": ", ".join(dict.fromkeys(lost))})
    if any(st == NEVER_RAN for _fn, st, _where in mine):
        return (RESULT_TERMINATED, parts)
    running = [where for _fn, st, where in tasks.values() if st == "running"]
    queued = [fn for fn, st, _where in mine if st == "queued"]
    if obj is not None and queued and w.name in running and len(running) >= obj.workers:
        message = RESULT_ONLY_WORKER if obj.workers == 1 else RESULT_OWN_POOL
        return (message, {**parts, "fn": queued[0], "n": obj.workers})
    return (RESULT, parts)
