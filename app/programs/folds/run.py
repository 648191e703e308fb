"""The run around the program: step mode's wants and permits, the runtime's
`quiet`, `stalls` and `limit`, events lost on the way, and the run's end (every
thread still going is over then)."""

from __future__ import annotations

from app import events
from app.events import Event
from app.model import LIFECYCLE
from app.programs.diagnosis import remember_never_going, stuck, why_stuck
from app.programs.folds.console import flush_partial
from app.programs.folds.workers import go, thread_of
from app.programs.state import BLOCKED, FINISHED, KILLED, OVER, RUNNING, SLEEPING, ProgramState

# A sleep is taken to be over this long after it was due to end (a loaded
# machine wakes a sleeper late, a lesson's speed slider may have moved).
SLEEP_LATE_S = 0.5


def lost(state: ProgramState, e: Event) -> None:
    state.lost += int((e.data or {}).get("events") or 0)


def wants(state: ProgramState, e: Event) -> None:
    """Step mode: the thread waits for a permit to do `kind` (on the
    event's item); its next event (the action) clears it."""
    w = thread_of(state, e)
    if w.state == SLEEPING:
        go(w, e)  # its sleep is over: it runs up to its next action, and waits there
    if w.state not in OVER:
        w.wants = (str((e.data or {}).get("kind", "")), e.item)


def permit(state: ProgramState, e: Event) -> None:
    # Given: not wanted again until the thread says so (a second click on
    # the same button gives no second permit).
    w = state.workers.get(str((e.data or {}).get("worker", "")))
    if w is not None:
        w.wants = None


def quiet(state: ProgramState, e: Event) -> None:
    state.quiet = True
    # A thread whose sleep is over and which has said nothing since runs
    # code the tracer does not see (it computes, or waits in C): it is no
    # longer "sleeping 1 s".
    speed = float(state.params.get("speed") or 1.0)
    for w in [] if state.paused else state.live_threads():  # paused: nothing runs
        if w.state == SLEEPING and e.t - w.since > w.sleep_s / speed + SLEEP_LATE_S:
            go(w, e)
    # Kept for its end: why the whole program is stuck, or which of its
    # workers are deadlocked while the rest goes on.
    state.stuck_at_end = why_stuck(state) if stuck(state) else []
    remember_never_going(state)


def stalls(state: ProgramState, e: Event) -> None:
    """The runtime's sample of the threads that wait in the kernel: each
    running thread among them waits (blocked) in that call, until its next
    event or a sample that no longer finds it there (a traced wait says
    more); an untraced command's process shows its main thread's."""
    found = {(s["pid"], s["tid"]): s for s in (e.data or {}).get("stalls") or []}
    state.kernel = {}
    for s in found.values():
        state.kernel.setdefault(int(s["pid"]), []).append(s)
    for w in state.threads():
        if w.op or w.state not in (RUNNING, BLOCKED) or (w.state == BLOCKED and w.stall is None):
            continue  # a wait the tracer says more of, a sleep, its end
        w.stall, w.stall_t = found.get((w.pid, w.tid)), e.t
        state_now = BLOCKED if w.stall is not None else RUNNING
        if w.state != state_now:
            w.state, w.since = state_now, e.t
    for p in state.procs.values():
        p.stall = found.get((p.pid, p.pid)) if p.command else None


def limit(state: ProgramState, e: Event) -> None:
    state.limit = str((e.data or {}).get("limit", ""))


def run_end(state: ProgramState, e: Event) -> None:
    LIFECYCLE[events.RUN_END](state, e)
    flush_partial(state, e.t)
    state.kernel = {}
    for p in state.procs.values():
        p.with_run = p.alive and p.exitcode is None and not p.signal
        p.alive = False
    # Still going in a process the run ended (an orphan of a program that
    # finished, say): ended, not finished.
    ended = {p.pid for p in state.procs.values() if p.with_run}
    for w in state.threads():
        if w.state not in OVER:
            killed = state.status != "finished" or w.pid in ended
            w.state, w.since = (KILLED if killed else FINISHED), e.t
        w.alive = False
        w.op, w.on, w.timeout, w.line = "", "", None, None
        w.wants = None
