"""Hangs and deadlocks, said in plain words.

Pure: a program's folded state in, sentences out. It speaks only when the
program has gone quiet (the runtime's `quiet` event: nothing happened for a
moment, so the picture is not one batch behind) and every live thread waits
with no timeout pending: then nothing inside the program can ever wake any
of them. The wait-for graph names why: a lock cycle first ("T1 holds a and
waits for b; T2 holds b and waits for a"), then each waiter's reason. Two
hangs are named while the rest of the program still moves: a lock cycle
that has lasted (`deadlocked`), and a pool whose workers die as they start
while a thread waits for it (`dying_pool`: the pool starts new ones for
ever).

A thread that waits in the kernel, in C code the tracer does not wrap
(`app.programs.stalls`), waits too when only the program can end that wait.
The words of a pool's hangs are `poolhangs`', a socket's or a pipe's
`channels`'. A sentence is a message (an English msgid, translated where
shown) and its parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.i18n import N_
from app.model import ENDED
from app.programs import channels, poolhangs
from app.programs.calls import written
from app.programs.state import CRASHED, ProcView, ProgramState, ThreadView

STUCK = N_("The program is stuck: every live worker waits, and none has a timeout.")
STUCK_AT_END = N_(
    "The program was stuck when it ended: every live worker waited, and none had a timeout."
)
DEADLOCKED = N_(
    "Some workers are deadlocked: each holds a lock that another of them waits for, and none"
    " has a timeout. The rest of the program may go on, but these never will."
)
DEADLOCKED_AT_END = N_(
    "Some workers were deadlocked when the run ended: each held a lock that another of them"
    " waited for, and none had a timeout."
)
SIGNALS = N_("Only a signal can still wake it: the program handles %(signals)s.")
HOLDS_WAITS = N_("%(who)s holds %(held)s and waits for %(wanted)s")
GET = N_("%(who)s waits in %(obj)s.get(); %(obj)s is empty and no live worker can put")
REDIS_GET = N_(
    "%(who)s waits for an item of %(obj)s (Redis); no live worker of this program can put one"
    " (another Redis client still could)"
)
PUT = N_("%(who)s waits in %(obj)s.put(); %(obj)s is full and no live worker can get")
GET_PUTTER_CRASHED = N_(
    "%(who)s waits in %(obj)s.get(); %(obj)s is empty and no live worker can put: %(gone)s,"
    " which put into it, crashed (%(error)s)"
)
PUT_TAKER_CRASHED = N_(
    "%(who)s waits in %(obj)s.put(); %(obj)s is full and no live worker can get: %(gone)s,"
    " which took from it, crashed (%(error)s)"
)
QJOIN_ONE = N_("%(who)s waits in %(obj)s.join(); %(n)s task was never marked done")
QJOIN_MANY = N_("%(who)s waits in %(obj)s.join(); %(n)s tasks were never marked done")
HELD_BY_ENDED = N_("%(who)s waits for %(obj)s, held by %(owner)s, which has ended")
HELD_BY_ENDED_MANY = N_("%(who)s waits for %(obj)s, held by %(owner)s, which have ended")
HELD_BY = N_("%(who)s waits for %(obj)s, held by %(owner)s")
NOBODY_RELEASES = N_("%(who)s waits for %(obj)s, and no live worker will release it")
LOCKED_AT_FORK = N_(
    "%(who)s waits for %(obj)s, which was locked when its process was forked: a threading"
    " lock is copied into the child, held by a thread the child does not have, so nothing"
    " will ever release it (a thread's lock is no lock between processes)"
)
FORK_LOCKED = N_(
    "A process waits for its copy of a threading lock that was locked when it was forked:"
    " the rest of the program may go on, but this wait never ends."
)
FORK_LOCKED_AT_END = N_(
    "A process waited for its copy of a threading lock that was locked when it was forked,"
    " when the run ended: that wait could never end."
)
POOL_DYING_AT_END = N_(
    "When the run ended, %(who)s waited for %(pool)s, whose worker processes died as they"
    " started, so none of its tasks ran."
)
# What `said` tells after the end for what `remember_never_going` kept.
AT_END = {
    DEADLOCKED: DEADLOCKED_AT_END,
    FORK_LOCKED: FORK_LOCKED_AT_END,
    poolhangs.POOL_DYING: POOL_DYING_AT_END,
}
JOIN = N_("%(who)s waits for %(target)s to end (join)")
EXIT = N_("%(who)s has run its code to the end and waits for its other threads and processes")
EXIT_FEEDING = N_(
    "%(who)s has run its code to the end but cannot exit: it put more in %(obj)s than"
    " its pipe holds, and nobody takes it"
)
EVENT = N_("%(who)s waits for %(obj)s to be set, and no live worker can set it")
CONDITION = N_("%(who)s waits on %(obj)s, and no live worker can notify it")
BARRIER = N_("%(who)s waits at %(obj)s: %(n)s of %(parties)s have arrived")
RECV = N_("%(who)s waits in %(call)s; nothing is there and no live worker can send")
SEND = N_(
    "%(who)s waits in %(call)s: its message is more than a pipe holds, and no live"
    " worker reads %(peer)s, the other end"
)
LOOP = N_(
    "%(who)s runs an asyncio event loop with nothing to run: each of its coroutines awaits"
    " something (an Event set, a Queue put, a Future's result) that none of them will do"
)
WORK = N_("%(who)s, a worker of %(obj)s, waits for a task; none comes")
OTHER = N_("%(who)s waits in %(op)s on %(obj)s")


@dataclass(frozen=True)
class Sentence:
    message: str
    parts: dict[str, Any]


def stuck(state: ProgramState) -> bool:
    # In step mode threads wait for the class's permit, not for each other.
    if state.status != "running" or state.paused or state.stepping or not state.quiet:
        return False
    live = state.live_threads()
    return (
        bool(live)
        and all((w.op and w.timeout is None) or channels.stalled(state, w.stall) for w in live)
        and not _starting(state)
        and not channels.moving_commands(state)
        and not any(_may_go_on(state, w) for w in live)
        and not handled(state) & TIMERS
    )


# Signals a timer of the process sends it (signal.alarm, setitimer): one
# may be on its way.
TIMERS = frozenset({"SIGALRM", "SIGVTALRM", "SIGPROF"})


def handled(state: ProgramState) -> set[str]:
    """The signals the user's code handles in a live process."""
    return {s for p in state.procs.values() if p.alive for s in p.signals}


def _starting(state: ProgramState) -> bool:
    """A live process of the program has not shown a thread yet: it is still
    starting (a spawned child imports the program first), and may yet put,
    set or release what the others wait for."""
    shown = {w.pid for w in state.threads()}
    return any(
        p.alive and not p.manager and not p.command and p.pid not in shown
        for p in state.procs.values()
    )


def _may_go_on(state: ProgramState, w: ThreadView) -> bool:
    """Something may yet end `w`'s wait: a pool's worker, the world."""
    return poolhangs.may_start(state, w) or _outside(state, w)


def _outside(state: ProgramState, w: ThreadView) -> bool:
    """`w` waits for input or output that the world outside may bring."""
    return w.op == "loop_io" or channels.from_outside(state, w)


def _crashed(state: ProgramState, queue: str, putters: bool) -> list[ThreadView]:
    """The threads that put into (or took from) the queue named `queue`, in
    the journeys of its latest items, and have since crashed."""
    names = {
        j.producer if putters else j.consumer for j in state.journeys.values() if j.queue == queue
    }
    return [
        w
        for name in sorted(n for n in names if n)
        if (w := state.thread(name)) is not None and w.state == CRASHED and w.error
    ]


def _joined_command(state: ProgramState, w: ThreadView) -> ProcView | None:
    """The live command the program runs (not traced) that `w` joins."""
    traced = {t.pid for t in state.threads()}
    if w.op != "join":
        return None
    for p in state.procs.values():
        if p.alive and p.command and p.pid not in traced and p.name == w.on:
            return p
    return None


def said(state: ProgramState) -> list[Sentence]:
    """What the page says: why the program cannot go on, or, once the run
    has been stopped stuck (the teacher's Stop, the time limit), why it
    could not when it was, which its end no longer shows; so too for some
    workers deadlocked while the rest went on."""
    found = diagnose(state)
    if found or state.status not in ENDED:
        return found
    if state.stuck_at_end and state.status == "stopped":
        return [Sentence(STUCK_AT_END, {}), *state.stuck_at_end[1:]]
    if state.deadlock_at_end:
        first = state.deadlock_at_end[0]
        return [Sentence(AT_END[first.message], first.parts), *state.deadlock_at_end[1:]]
    return found


def remember_never_going(state: ProgramState) -> None:
    """Keep, for after the run's end, which workers can never go on while
    the rest of the program may (`deadlocked`, `dying_pool`, `fork_locked`):
    said when it last went quiet, and as a process dies of a signal (a Stop
    ends a program that is never quiet); forgotten once one of them moves.
    Said too when the program ended by itself: daemon threads deadlocked
    while the rest finished its work."""
    found = [] if state.stuck_at_end else deadlocked(state) or dying_pool(state)
    found = found or fork_locked(state)
    state.deadlock_at_end = found
    state.deadlocked = {str(who) for s in found if (who := s.parts.get("who"))}


def diagnose(state: ProgramState) -> list[Sentence]:
    """Why the program cannot go on, or why some of its workers cannot
    (`deadlocked`); empty while they all can (or may)."""
    if stuck(state):
        return why_stuck(state)
    return deadlocked(state) or dying_pool(state) or fork_locked(state)


def why_stuck(state: ProgramState) -> list[Sentence]:
    """Why the program, `stuck` as a whole, cannot go on."""
    live = state.live_threads()
    out = [Sentence(STUCK, {})]
    signals = handled(state)
    if signals:
        out.append(Sentence(SIGNALS, {"signals": ", ".join(sorted(signals))}))
    in_cycle: set[str] = set()
    for cycle in lock_cycles(state, live):
        in_cycle.update(w.name for w, _held, _wanted in cycle)
        out += _holds_waits(state, cycle)
    # The waits on objects first (the cause), then those that wait on them:
    # the joins, and who waits for a pool's result.
    waits = [
        _why(state, w)
        for w in sorted(live, key=lambda w: (w.op in ("join", "exit", "result"), w.pid, w.tid))
        if w.name not in in_cycle
    ]
    # A command's own wait, unless a join on it says it already.
    told = {s.parts.get("target") for s in waits if s.message in channels.JOINS_BLOCKED}
    out += [Sentence(m, p) for m, p in channels.untraced_waits(state) if p["who"] not in told]
    return out + waits


# A lock cycle is named while the rest of the program still moves once every
# wait in it is this old (s): a cycle seen one batch early is not one.
CYCLE_AFTER_S = 0.5


def deadlocked(state: ProgramState) -> list[Sentence]:
    """The lock cycles among workers that wait with no timeout, while
    others still move (a main that prints while it waits, a heartbeat):
    those never go on, whatever the rest does. Empty if there is none."""
    # In step mode too: a thread in a cycle waits in a real acquire, which
    # no go-ahead of the class can end.
    if state.status != "running" or state.paused or handled(state) & TIMERS:
        return []
    now = state.last_t
    cycles = [
        cycle
        for cycle in lock_cycles(state, state.live_threads())
        if all(w.timeout is None and now - w.since >= CYCLE_AFTER_S for w, _h, _w in cycle)
    ]
    if not cycles:
        return []
    return [Sentence(DEADLOCKED, {}), *(s for cycle in cycles for s in _holds_waits(state, cycle))]


def fork_locked(state: ProgramState) -> list[Sentence]:
    """The threads that wait with no timeout for a lock copied locked into
    their forked process: whatever the rest does, nothing releases it."""
    if state.status != "running" or state.paused:
        return []
    stuck_on = [
        w
        for w in state.live_threads()
        if w.op == "acquire"
        and w.timeout is None
        and state.last_t - w.since >= CYCLE_AFTER_S  # not a batch early
        and (obj := state.objs.get(w.on)) is not None
        and obj.locked_at_fork
    ]
    if not stuck_on:
        return []
    return [Sentence(FORK_LOCKED, {}), *(_why(state, w) for w in stuck_on)]


def dying_pool(state: ProgramState) -> list[Sentence]:
    """A pool whose worker processes die as they start (`poolhangs`)."""
    return [Sentence(*said) for said in poolhangs.dying_pool(state)]


def _holds_waits(state: ProgramState, cycle: list[tuple[ThreadView, str, str]]) -> list[Sentence]:
    return [
        Sentence(
            HOLDS_WAITS,
            {"who": w.name, "held": state.obj_name(held), "wanted": state.obj_name(wanted)},
        )
        for w, held, wanted in cycle
    ]


def _feeding(state: ProgramState, w: ThreadView) -> str | None:
    """The multiprocessing queue in which `w`'s process put items nobody has
    taken (its feeder thread keeps the process alive until they are in the
    queue's pipe), or None."""
    feeds = {o.name for o in state.objs.values() if o.feeds}
    for j in state.journeys.values():
        if j.got is None and j.queue in feeds:
            producer = state.workers.get(j.producer)
            if producer is not None and producer.pid == w.pid:
                return j.queue
    return None


def _owner_of(state: ProgramState, key: str) -> str:
    obj = state.objs.get(key)
    return obj.owner if obj is not None else ""


def lock_cycles(
    state: ProgramState, live: list[ThreadView]
) -> list[list[tuple[ThreadView, str, str]]]:
    """Each cycle of threads that hold a lock and wait for another's:
    (thread, the lock it holds that the previous one wants, the lock it wants)."""
    waiting = {w.name: w for w in live if w.op in ("acquire", "cwoke") and w.on}
    cycles: list[list[tuple[ThreadView, str, str]]] = []
    seen: set[str] = set()
    for start in sorted(waiting):
        path: list[str] = []
        name: str | None = start
        while name is not None and name in waiting and name not in path and name not in seen:
            path.append(name)
            name = _owner_of(state, waiting[name].on) or None
        if name is not None and name in path:
            members = path[path.index(name) :]
            cycle = []
            for i, member in enumerate(members):
                w = waiting[member]
                previous = waiting[members[i - 1]]
                cycle.append((w, previous.on, w.on))
            cycles.append(cycle)
        seen.update(path)
    return cycles


def _why(state: ProgramState, w: ThreadView) -> Sentence:
    obj = state.objs.get(w.on)
    parts: dict[str, Any] = {"who": w.name, "obj": state.obj_name(w.on)}
    if w.op == "get" and obj is not None and obj.lib == "redis":
        return Sentence(REDIS_GET, parts)
    if w.op in ("get", "put"):
        # The cause, where the other side's workers died of an exception.
        putting = w.op == "get"
        gone = _crashed(state, state.obj_name(w.on), putting)
        if gone:
            crashed = {**parts, "gone": ", ".join(t.name for t in gone), "error": gone[0].error}
            return Sentence(GET_PUTTER_CRASHED if putting else PUT_TAKER_CRASHED, crashed)
        return Sentence(GET if putting else PUT, parts)
    if w.op == "qjoin":
        n = obj.unfinished if obj is not None else 0
        return Sentence(QJOIN_ONE if n == 1 else QJOIN_MANY, {**parts, "n": n})
    if w.op == "acquire" and obj is not None and obj.locked_at_fork:
        return Sentence(LOCKED_AT_FORK, parts)
    if w.op == "acquire":
        # A lock's owner, or who took a semaphore and has not released it.
        owners: list[str] = []
        if obj is not None:
            owners = [obj.owner] if obj.owner else list(dict.fromkeys(obj.holders))
        if owners:
            holders = [state.workers.get(owner) for owner in owners]
            ended = all(
                h is None or not h.alive or h.state in ("finished", "crashed") for h in holders
            )
            message = HELD_BY_ENDED if len(owners) == 1 else HELD_BY_ENDED_MANY
            return Sentence(message if ended else HELD_BY, {**parts, "owner": ", ".join(owners)})
        return Sentence(NOBODY_RELEASES, parts)
    if not w.op and w.stall is not None:
        return Sentence(*channels.why_stalled(state, w))
    if w.op == "join":
        command = _joined_command(state, w)
        blocked = channels.join_blocked(state, w, command) if command is not None else None
        if blocked is not None:
            return Sentence(*blocked)
        return Sentence(JOIN, {"who": w.name, "target": state.obj_name(w.on)})  # or a pool's
    if w.op == "exit":
        fed = _feeding(state, w)
        if fed is not None:
            return Sentence(EXIT_FEEDING, {"who": w.name, "obj": fed})
        return Sentence(EXIT, {"who": w.name})
    if w.op == "wait":
        return Sentence(EVENT, parts)
    if w.op == "cwait":
        return Sentence(CONDITION, parts)
    if w.op == "bwait":
        n = obj.waiting if obj is not None else 0
        parties = obj.parties if obj is not None else 0
        return Sentence(BARRIER, {**parts, "n": n, "parties": parties})
    if w.op in ("recv", "recv_bytes"):
        return Sentence(RECV, {**parts, "call": written(w.op, parts["obj"])})
    if w.op in ("send", "send_bytes"):
        peer = state.obj_name(obj.peer) if obj is not None and obj.peer else "?"
        return Sentence(SEND, {**parts, "call": written(w.op, parts["obj"]), "peer": peer})
    if w.op == "result":
        return Sentence(*poolhangs.result(w, obj, parts))
    if w.op == "work":
        return Sentence(WORK, parts)
    if w.op == "loop":
        return Sentence(LOOP, {"who": w.name})
    if w.op in channels.OPS:
        return Sentence(channels.OPS[w.op], parts)
    return Sentence(OTHER, {**parts, "op": w.op})
