"""When does it end? The termination lesson (parts 6 and 7 of the lecture).

A program-shaped experiment: the run's `main` is a real process that plays
the lesson's program. It creates the queue itself, starts the producers and
consumers with fork, joins them and reports every call it blocks in. Four
endings of the same program (parameter `mode`):

- naive: plain `Queue`, consumers loop on `get()` with no way to know the
  end. Once the producers are done nothing can ever arrive: the consumers
  wait in `get()` and main waits in `join()` of the first consumer, for ever.
- joinable: `JoinableQueue`. Consumers call `task_done()` after each item;
  main waits in `q.join()` until the unfinished-task count is 0, then its
  code ends and Python's exit handler terminates the daemon consumers.
- no-join: the same daemon consumers, but main skips `q.join()`: the daemons
  are terminated while items are still held or queued, and those are lost.
- sentinel: plain `Queue`; main puts one sentinel per consumer and each
  consumer leaves on it with exit code 0.

Who observes what::

    main (the program)                          its children (fork)
    ------------------                          -------------------
    spawn, join()/q.join() waits, their         put/get/task_done as events;
    returns with real exit codes, the end       a daemon consumer reports the
    of its code, and the hang watch:            SIGTERM that main's exit handler
    producers joined + queue empty + every      sends it, flushes, then dies of
    consumer inside get(), for hang_after_ms    that signal (exit code -15)
    -> one `diagnosis` event with those facts

The fold stays pure: the hang is a fact main observed and sent as an event,
not something the fold infers from a clock.
"""

from __future__ import annotations

import functools
import mmap
import multiprocessing
import os
import signal
import string
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app import events, model
from app.events import Event
from app.experiments.spec import Experiment, Role
from app.i18n import N_, _
from app.instrument import POLL_S, TracedQueue
from app.params import check_ranges
from app.worker import Worker, start_process

SLUG = "joinable"

NAIVE, JOINABLE, NO_JOIN, SENTINEL = "naive", "joinable", "no-join", "sentinel"
Mode = Literal["naive", "joinable", "no-join", "sentinel"]
# Modes whose queue is a JoinableQueue and whose consumers are daemons.
JOINABLE_MODES = frozenset({JOINABLE, NO_JOIN})

# The lecture's three hot-dog stands, then three more for bigger classes.
COOKS = ("Jerry", "Monkey", "Owen", "Ada", "Bao", "Cleo")

MODE_NOTES = {
    NAIVE: N_(
        "Plain Queue. Consumers loop on get() and nobody tells them the producers are done, "
        "so once the last item is eaten they wait for ever, and main waits for them."
    ),
    JOINABLE: N_(
        "JoinableQueue. Every put adds an unfinished task, every task_done() removes one; "
        "main waits in q.join() until none is left. Its code then ends, and the daemon "
        "consumers are terminated with it."
    ),
    NO_JOIN: N_(
        "Daemon consumers, but main skips q.join(): its code ends right after the producers, "
        "and the consumers are terminated in the middle of their work. Items are lost."
    ),
    SENTINEL: N_(
        "Plain Queue. After the producers are done, main puts one STOP per consumer; "
        "a consumer that takes one leaves cleanly with exit code 0."
    ),
}
# The modes' names as the page shows them (the select, the badge, the list):
# the templates look them up with _(mode). "sentinel" is a core message.
MODE_NAMES = (N_("naive"), N_("joinable"), N_("no-join"))
# What main's hang watch calls what it saw (its diagnosis event's kind).
HANG = N_("hang")

# Event kinds of this experiment (the lifecycle and queue kinds are in app.events).
SPAWN = "spawn"  # main started a child; item: its name; data: pid, role, daemon
MAIN_WAIT = "main_wait"  # main blocks; data: call ("join()" or "q.join()"); item: child joined
MAIN_RESUME = "main_resume"  # that call returned; data: call, exitcode (join)
TASK_DONE = "task_done"  # a consumer finished item and calls q.task_done() (emitted before)
MAIN_END = "main_end"  # main's code reached its end; data: daemons (alive, to be terminated)
SIGTERM = "sigterm"  # a child got SIGTERM; item: the item it held; data: parent pid
DIAGNOSIS = "diagnosis"  # main saw nothing move; data: kind, message, facts
KINDS = frozenset({SPAWN, MAIN_WAIT, MAIN_RESUME, TASK_DONE, MAIN_END, SIGTERM, DIAGNOSIS})

Q_JOIN = "q.join()"
JOIN = "join()"
# How long main gives its children to leave after a Stop before terminate();
# below the runtime's own grace (STOP_GRACE_S, 2 s) so that main reports them.
CHILD_GRACE_S = 1.2


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Titles worded for this lesson (hot-dog stands and eaters), so that its
    # messages stay its own and do not merge with producer/consumer's.
    mode: Mode = Field(
        "naive",
        title=N_("Ending"),
        description=N_(
            "naive: the hang; joinable: JoinableQueue + q.join(); "
            "no-join: daemons killed too early; sentinel: one STOP per consumer"
        ),
    )
    producers: int = Field(
        3, ge=1, le=6, title=N_("Stands (producers)"), description=N_("hot-dog stands")
    )
    consumers: int = Field(
        2, ge=1, le=6, title=N_("Eaters (consumers)"), description=N_("people eating hot dogs")
    )
    items_per_producer: int = Field(
        5,
        ge=1,
        le=50,
        title=N_("Hot dogs per stand"),
        description=N_("hot dogs each stand makes"),
    )
    capacity: int = Field(
        0,
        ge=0,
        le=20,
        title=N_("Queue maxsize"),
        description=N_("Queue(maxsize): 0 = unbounded"),
    )
    produce_min_ms: int = Field(
        1000,
        ge=0,
        le=10000,
        title=N_("Making time min (ms)"),
        description=N_("shortest time for making one item, at speed 1"),
    )
    produce_max_ms: int = Field(
        3000,
        ge=0,
        le=10000,
        title=N_("Making time max (ms)"),
        description=N_("longest time for making one item, at speed 1"),
    )
    consume_min_ms: int = Field(
        1000,
        ge=0,
        le=10000,
        title=N_("Eating time min (ms)"),
        description=N_("shortest time for eating one item, at speed 1"),
    )
    consume_max_ms: int = Field(
        3000,
        ge=0,
        le=10000,
        title=N_("Eating time max (ms)"),
        description=N_("longest time for eating one item, at speed 1"),
    )
    # At 1.5x a run takes about 10-13 s, and the hang shows about 2 s after
    # the last hot dog (at lesson time: 15-22 s).
    speed: float = Field(
        1.5,
        ge=0.1,
        le=20.0,
        title=N_("Lesson speed"),
        json_schema_extra={"live": True, "description": N_("1 = lesson time; changes live")},
    )
    hang_after_ms: int = Field(
        3000,
        ge=100,
        le=60000,
        title=N_("Hang after (ms)"),
        description=N_("how long nothing may move before main calls it a hang (scaled by speed)"),
    )

    @model_validator(mode="after")
    def _ranges_ordered(self) -> Params:
        check_ranges(self, ("produce", "consume"))
        return self


# The children.


def producer(w: Worker) -> None:
    for n in range(1, w.params["items_per_producer"] + 1):
        item = f"{w.name}#{n}"
        w.emit(events.PRODUCE, item)
        w.work(w.params["produce_min_ms"], w.params["produce_max_ms"])
        w.queue.put(item)


class _Terminated(BaseException):
    """SIGTERM arrived. A BaseException, so that no `except Exception` of the
    worker machinery reports it as a crash."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one report is enough
    raise _Terminated


def consumer(q: Any, in_get: mmap.mmap, slot: int, w: Worker) -> None:
    """Loops on get() like the lecture's eaters. `in_get[slot]` is 1 while it
    is inside get(), for main's hang watch."""
    joinable = w.params["mode"] in JOINABLE_MODES
    held: str | None = None
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        while True:
            in_get[slot] = 1
            item = w.queue.get(leave_when_retired=False)
            in_get[slot] = 0
            if events.is_sentinel(item):
                return
            held = item
            w.work(w.params["consume_min_ms"], w.params["consume_max_ms"])
            if joinable:
                # Reported before the call, so that main's q.join() return
                # is always later than the task_done that allowed it.
                w.emit(TASK_DONE, item)
                held = None
                q.task_done()
            else:
                w.emit(events.DONE, item)
                held = None
    except _Terminated:
        _die_of_sigterm(w, held)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _die_of_sigterm(w: Worker, held: str | None) -> None:
    """Report the signal, make sure the report left this process, then die of
    the signal after all, so that the exit code main sees is the real -15."""
    w.emit(SIGTERM, held, {"signal": "SIGTERM", "parent_pid": os.getppid()})
    w.flush()
    # The run's event pipe has written the report by now. A sink with a
    # feeder thread (a multiprocessing.Queue) may not have: that thread is a
    # daemon, and would die with this process before it wrote it.
    close, join = getattr(w.sink, "close", None), getattr(w.sink, "join_thread", None)
    if close is not None and join is not None:
        close()
        join()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
    os._exit(128 + signal.SIGTERM)  # not reached: SIGTERM to self is delivered at once


# Main: the program.

_fork = multiprocessing.get_context("fork")


@dataclass
class _HangWatch:
    """Main's watch for a hang: every producer has ended, the queue is empty
    and every live consumer sits in get(). Once that holds nothing can ever
    move again; it must hold for `limit_ms` (at speed 1) before main says so."""

    limit_ms: float
    quiet_ms: float = 0.0  # at speed 1, like every delay of the lesson
    quiet_real_s: float = 0.0
    last: float = field(default_factory=time.monotonic)
    fired: bool = False

    def tick(self, stuck: bool, speed: float) -> bool:
        now = time.monotonic()
        elapsed, self.last = now - self.last, now
        if not stuck:
            self.quiet_ms = self.quiet_real_s = 0.0
            return False
        self.quiet_ms += elapsed * 1000.0 * max(speed, 1e-3)
        self.quiet_real_s += elapsed
        if self.fired or self.quiet_ms < self.limit_ms:
            return False
        self.fired = True
        return True


class _Main:
    def __init__(self, w: Worker) -> None:
        p = w.params
        self.w = w
        self.mode: str = p["mode"]
        self.joinable = self.mode in JOINABLE_MODES
        # Created here, in main, like the lecture's program does; fork makes
        # the children inherit it.
        self.q: Any = (
            _fork.JoinableQueue(p["capacity"]) if self.joinable else _fork.Queue(p["capacity"])
        )
        self.traced = TracedQueue(self.q, w.tracer, w.pacer)
        # One byte per consumer, shared by fork: 1 while it is inside get().
        self.in_get = mmap.mmap(-1, p["consumers"])
        self.children: dict[str, multiprocessing.process.BaseProcess] = {}
        self.reported: set[str] = set()
        self.watch = _HangWatch(float(p["hang_after_ms"]))
        self.producers = [f"P{i}" for i in range(1, p["producers"] + 1)]
        self.consumers = [f"C{i}" for i in range(1, p["consumers"] + 1)]

    def run(self) -> None:
        daemons = self.joinable
        for name in self.producers:
            self.spawn(name, "producer", producer)
        for slot, name in enumerate(self.consumers):
            fn = functools.partial(consumer, self.q, self.in_get, slot)
            self.spawn(name, "consumer", fn, daemon=daemons)
        for name in self.producers:
            self.join(name)
        if self.mode == NAIVE:
            for name in self.consumers:
                self.join(name)  # never returns: nobody tells them to stop
        elif self.mode == JOINABLE:
            self.q_join()
        elif self.mode == SENTINEL:
            for n in range(1, len(self.consumers) + 1):
                self.traced.put(f"{events.SENTINEL_PREFIX}{n}", kind=events.SENTINEL_PUT)
            for name in self.consumers:
                self.join(name)
        alive = [n for n, proc in self.children.items() if proc.is_alive()]
        self.w.emit(MAIN_END, data={"daemons": [n for n in alive if self.children[n].daemon]})
        # Returning ends main's code: multiprocessing's exit handler now
        # terminates the daemon children and joins the rest.

    def spawn(
        self, name: str, role: str, fn: Callable[[Worker], None], daemon: bool = False
    ) -> None:
        proc = start_process(self.w, name, role, fn, self.q, daemon=daemon)
        self.children[name] = proc
        self.w.emit(SPAWN, name, {"pid": proc.pid, "role": role, "daemon": daemon})

    def join(self, name: str) -> None:
        proc = self.children[name]

        def returned(timeout: float) -> bool:
            proc.join(timeout)
            return proc.exitcode is not None

        self._wait(JOIN, name, returned)
        self.w.emit(MAIN_RESUME, name, {"call": JOIN, "exitcode": proc.exitcode})
        self._report_exit(name)

    def q_join(self) -> None:
        # JoinableQueue.join() takes no timeout; a thread of main makes the
        # call so that main itself can still see a Stop.
        caller = threading.Thread(target=self.q.join, name="q.join", daemon=True)
        caller.start()

        def returned(timeout: float) -> bool:
            caller.join(timeout)
            return not caller.is_alive()

        self._wait(Q_JOIN, None, returned)
        self.w.emit(MAIN_RESUME, data={"call": Q_JOIN})

    def _wait(self, call: str, target: str | None, returned: Callable[[float], bool]) -> None:
        self.w.emit(MAIN_WAIT, target, {"call": call})
        self.w.flush()
        self.watch.last = time.monotonic()
        while not returned(POLL_S):
            self.w.pacer.check()  # raises Stopped
            speed = float(self.w.signals.speed.value)
            if self.watch.tick(self._stuck(), speed):
                self._diagnose(call, target)

    def _stuck(self) -> bool:
        producers_done = all(self.children[n].exitcode is not None for n in self.producers)
        if not producers_done or not self.q.empty():
            return False
        live = [i for i, n in enumerate(self.consumers) if self.children[n].is_alive()]
        return bool(live) and all(self.in_get[i] for i in live)

    def _diagnose(self, call: str, target: str | None) -> None:
        blocked = [
            n
            for i, n in enumerate(self.consumers)
            if self.children[n].is_alive() and self.in_get[i]
        ]
        where = f"{call} of {target}" if target else call
        quiet_s = self.watch.quiet_ms / 1000.0
        speed = float(self.w.signals.speed.value)
        real = self.watch.quiet_real_s
        scaled = f" of lesson time ({real:.2f} s real at speed {speed:g}x)" if speed != 1 else ""
        message = (
            f"Hang: all {len(self.producers)} producers have finished and the queue is empty, "
            f"but {_and(blocked)} {'waits' if len(blocked) == 1 else 'wait'} in get() for an "
            f"item that will never come, and main waits in {where}. Nothing has moved for "
            f"{quiet_s:.1f} s{scaled}. Nothing in it ever will: press Stop, or it ends itself"
            " once the idle limit has passed."
        )
        # The message is the recording's, in English; the page tells the same
        # story in its reader's language from the facts below.
        self.w.emit(
            DIAGNOSIS,
            data={
                "kind": HANG,
                "message": message,
                "call": call,
                "target": target,
                "speed": speed,
                "producers_finished": list(self.producers),
                "queue_empty": True,
                "consumers_in_get": blocked,
                "main_waits_in": where,
                "quiet_ms": round(self.watch.quiet_ms),
                "quiet_real_ms": round(self.watch.quiet_real_s * 1000),
            },
        )
        self.w.flush()

    def _report_exit(self, name: str) -> None:
        """The child's exit, seen by main (its parent), in the same form as the
        runtime reports main's own."""
        proc = self.children[name]
        if name in self.reported or proc.exitcode is None:
            return
        self.reported.add(name)
        self.w.flush()  # main's own events first
        exit_event: events.RawEvent = (
            time.monotonic_ns(),
            name,
            proc.pid or 0,
            0,
            events.EXIT,
            None,
            {"exitcode": proc.exitcode},
        )
        self.w.sink.put([exit_event])

    def leave(self) -> None:
        """Stop or failure: give the children a moment to see the stop flag,
        then end the rest; report every exit."""
        deadline = time.monotonic() + CHILD_GRACE_S
        for proc in self.children.values():
            proc.join(max(0.0, deadline - time.monotonic()))
        for proc in self.children.values():
            if proc.exitcode is None:
                proc.terminate()
        for name, proc in self.children.items():
            proc.join(1.0)
            self._report_exit(name)


def main(w: Worker) -> None:
    program = _Main(w)
    try:
        program.run()
    except BaseException:
        program.leave()
        raise


def _and(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names) or "no consumer"
    return ", ".join(names[:-1]) + " and " + names[-1]


# The view state and its fold.

DAEMON_STOPPED = "daemon_stopped"  # a daemon child terminated because main's code ended
TERMINATED = "terminated"  # got SIGTERM; which kind of end it was is settled by main's story
MAIN_WAITING = "main_wait"
MAIN_RUNNING = "running"
MAIN_ENDED = "main_end"
GONE = frozenset({*model.ENDED, DAEMON_STOPPED, TERMINATED})


@dataclass
class JoinableState(model.RunState):
    queue: dict[str, float] = field(default_factory=dict)  # item -> time of its put
    early_gets: set[str] = field(default_factory=set)  # gets that arrived before their put
    taken_unreported: set[str] = field(default_factory=set)  # see app.model's docstring
    put_items: set[str] = field(default_factory=set)
    done_items: set[str] = field(default_factory=set)
    held: dict[str, str] = field(default_factory=dict)  # item -> consumer using it
    task_dones: int = 0
    sentinels_put: int = 0
    sentinels_taken: dict[str, int] = field(default_factory=dict)
    spawned: dict[str, dict[str, Any]] = field(default_factory=dict)
    main_call: str = ""  # what main waits in now: "join()" or "q.join()"
    main_target: str = ""  # the child it joins
    main_returns: list[dict[str, Any]] = field(default_factory=list)
    main_ended: bool = False
    daemons_at_end: list[str] = field(default_factory=list)  # alive daemons when main ended
    diagnosis: dict[str, Any] | None = None
    terminated: dict[str, str | None] = field(default_factory=dict)  # consumer -> held item

    @property
    def mode(self) -> str:
        return str(self.params.get("mode", NAIVE))

    @property
    def joinable(self) -> bool:
        return self.mode in JOINABLE_MODES

    @property
    def produced(self) -> int:
        return len(self.put_items)

    @property
    def consumed(self) -> int:
        return len(self.done_items)

    def queue_items(self) -> list[str]:
        """Head first."""
        return sorted(self.queue, key=lambda item: (self.queue[item], item))

    def consumers_gone(self) -> bool:
        consumers = self.role("consumer")
        return bool(consumers) and all(w.state in GONE or not w.alive for w in consumers)

    def lost_places(self) -> list[tuple[str, str, str]]:
        """Items put but never done, once no consumer is left to do them:
        (item, where it was: "queue", "held" or "taken", the consumer that
        held it), head of the queue first."""
        if not self.consumers_gone():
            return []
        lost = self.put_items - self.done_items
        queued = [i for i in self.queue_items() if i in lost]
        held = sorted((i for i in lost if i in self.held), key=_item_key)
        rest = sorted(lost - set(queued) - set(held), key=_item_key)
        return (
            [(i, "queue", "") for i in queued]
            + [(i, "held", self.held[i]) for i in held]
            + [(i, "taken", "") for i in rest]
        )

    def lost_items(self) -> list[tuple[str, str]]:
        """The same, with where each was in words (English: the run object's)."""
        words = {"queue": "in the queue", "taken": "taken"}
        return [
            (i, f"held by {who}" if place == "held" else words[place])
            for i, place, who in self.lost_places()
        ]

    def counters(self) -> dict[str, Any]:
        return {
            "produced": self.produced,
            "consumed": self.consumed,
            "in_queue": sum(1 for i in self.queue if not events.is_sentinel(i)),
            "unfinished_tasks": self.produced - self.task_dones if self.joinable else None,
            "lost_items": len(self.lost_items()),
            "consumers_waiting": sum(1 for w in self.role("consumer") if w.state == model.GET_WAIT),
            "sentinels_put": self.sentinels_put,
        }

    def extras(self) -> dict[str, Any]:
        d = self.diagnosis
        return {
            "mode": self.mode,
            "diagnosis": None
            if d is None
            else {"kind": d.get("kind"), "message": d.get("message")},
            "lost": [{"item": i, "where": where} for i, where in self.lost_items()],
            "main": {
                "waits_in": self.main_call,
                "target": self.main_target or None,
                "ended": self.main_ended,
            },
        }


def _item_key(item: str) -> tuple[str, int]:
    producer, _, n = item.partition("#")
    return producer, int(n) if n.isdigit() else 0


def _produce(state: JoinableState, e: Event) -> None:
    model.set_state(model.worker_of(state, e), e, model.PRODUCING, e.item)


def _put_wait(state: JoinableState, e: Event) -> None:
    model.set_state(model.worker_of(state, e), e, model.PUT_WAIT, e.item)


def _put(state: JoinableState, e: Event) -> None:
    assert e.item is not None
    w = model.worker_of(state, e)
    w.items += 1
    model.set_state(w, e, model.READY)
    state.put_items.add(e.item)
    model.enqueue(state, e.item, e.t)


def _get_wait(state: JoinableState, e: Event) -> None:
    model.set_state(model.worker_of(state, e), e, model.GET_WAIT)


def _get(state: JoinableState, e: Event) -> None:
    assert e.item is not None
    model.set_state(model.worker_of(state, e), e, model.CONSUMING, e.item)
    if e.item not in state.done_items:
        state.held[e.item] = e.worker
    model.dequeue(state, e.item)


def _done(state: JoinableState, e: Event) -> None:
    assert e.item is not None
    w = model.worker_of(state, e)
    w.items += 1
    model.set_state(w, e, model.READY)
    state.done_items.add(e.item)
    state.held.pop(e.item, None)


def _task_done(state: JoinableState, e: Event) -> None:
    _done(state, e)
    state.task_dones += 1


def _sentinel_put(state: JoinableState, e: Event) -> None:
    assert e.item is not None
    state.sentinels_put += 1
    model.enqueue(state, e.item, e.t)
    main = model.worker_of(state, e)
    model.set_state(main, e, MAIN_RUNNING)


def _sentinel_get(state: JoinableState, e: Event) -> None:
    assert e.item is not None
    w = model.worker_of(state, e)
    model.set_state(w, e, model.LEAVING, e.item)
    w.reason = "sentinel"
    state.sentinels_taken[e.worker] = state.sentinels_taken.get(e.worker, 0) + 1
    model.dequeue(state, e.item)


def _spawn(state: JoinableState, e: Event) -> None:
    assert e.item is not None
    data = dict(e.data or {})
    state.spawned[e.item] = data
    model.set_state(model.worker_of(state, e), e, MAIN_RUNNING)
    child = state.workers.get(e.item)
    if child is None:  # a card from the start, even if the child never gets to speak
        state.workers[e.item] = model.WorkerView(
            e.item, role=data.get("role", ""), pid=int(data.get("pid") or 0), since=e.t
        )
    else:
        _settle(state, child)


def _main_wait(state: JoinableState, e: Event) -> None:
    state.main_call = (e.data or {}).get("call", "")
    state.main_target = e.item or ""
    model.set_state(model.worker_of(state, e), e, MAIN_WAITING, e.item)


def _main_resume(state: JoinableState, e: Event) -> None:
    data = e.data or {}
    state.main_returns.append({"call": data.get("call", ""), "target": e.item, "t": e.t})
    state.main_call = state.main_target = ""
    model.set_state(model.worker_of(state, e), e, MAIN_RUNNING)


def _main_end(state: JoinableState, e: Event) -> None:
    state.main_ended = True
    state.daemons_at_end = list((e.data or {}).get("daemons", []))
    state.main_call = state.main_target = ""
    model.set_state(model.worker_of(state, e), e, MAIN_ENDED)
    for w in list(state.workers.values()):
        _settle(state, w)


def _settle(state: JoinableState, w: model.WorkerView) -> None:
    """A child that reported SIGTERM: a daemon whose main's code had ended was
    stopped by Python's exit handler, as designed; any other was killed. The
    SIGTERM report and main's end come from two processes, in either order."""
    if w.state != TERMINATED:
        return
    main = state.workers.get("main")
    if state.main_ended and state.spawned.get(w.name, {}).get("daemon"):
        w.state, w.reason, w.alive = DAEMON_STOPPED, "daemon", False
    elif main is not None and not main.alive:
        w.state, w.reason = model.KILLED, "sigterm"


def _sigterm(state: JoinableState, e: Event) -> None:
    w = model.worker_of(state, e)
    state.terminated[e.worker] = e.item
    model.set_state(w, e, TERMINATED, w.item)
    _settle(state, w)


def _exit(state: JoinableState, e: Event) -> None:
    w = model.worker_of(state, e)
    if w.state in (TERMINATED, DAEMON_STOPPED):  # the -15 it reported is expected
        w.alive = False
        w.exitcode = (e.data or {}).get("exitcode")
        _settle(state, w)
        return
    model.LIFECYCLE[events.EXIT](state, e)
    if e.worker != "main":
        return
    # main is gone: multiprocessing joined its children before that (or
    # their watchdogs end them now), so none of them is alive any more. A
    # daemon alive at main's end that could not report its SIGTERM (it was
    # terminated before its handler was set) went the same way as the rest.
    for child in state.workers.values():
        if child.name == "main":
            continue
        child.alive = False
        if child.name in state.daemons_at_end and child.state not in GONE:
            child.state, child.reason, child.since = DAEMON_STOPPED, "daemon", e.t
        _settle(state, child)


def _diagnosis(state: JoinableState, e: Event) -> None:
    state.diagnosis = dict(e.data or {})


fold = model.make_fold(
    {
        events.PRODUCE: _produce,
        events.PUT_WAIT: _put_wait,
        events.PUT: _put,
        events.GET_WAIT: _get_wait,
        events.GET: _get,
        events.DONE: _done,
        events.SENTINEL_PUT: _sentinel_put,
        events.SENTINEL_GET: _sentinel_get,
        events.EXIT: _exit,
        SPAWN: _spawn,
        MAIN_WAIT: _main_wait,
        MAIN_RESUME: _main_resume,
        TASK_DONE: _task_done,
        MAIN_END: _main_end,
        SIGTERM: _sigterm,
        DIAGNOSIS: _diagnosis,
    },
    quiet=frozenset({events.PRODUCE}),
)


def fold_all(evs: list[Event]) -> JoinableState:
    state = JoinableState()
    for e in evs:
        fold(state, e)
    return state


# The plain program: what main and its children do, as a script that runs
# without the server. One text per mode: the naive consumer has no way out
# of its loop, the sentinel one has, the joinable ones call task_done().

SCRIPT_HEAD = string.Template('''\
"""When does it end? concviz's "joinable" experiment in $mode mode, without the server.

$summary
Run it with: python joinable.py
"""

import os
import random
import time
from multiprocessing import $imports

PRODUCERS = $producers
CONSUMERS = $consumers
ITEMS_PER_PRODUCER = $items
CAPACITY = $capacity  # 0 = unbounded
PRODUCE_MS = ($produce_min_ms, $produce_max_ms)  # time to make one item, in ms
CONSUME_MS = ($consume_min_ms, $consume_max_ms)  # time to eat one item, in ms
SPEED = $speed  # 2.0 = twice as fast
${settings}ITEMS = [
    f"P{p} #{n}" for p in range(1, PRODUCERS + 1) for n in range(1, ITEMS_PER_PRODUCER + 1)
]


def pause(ms_range):
    time.sleep(random.uniform(*ms_range) / 1000 / SPEED)


def producer(name, q):
    for n in range(1, ITEMS_PER_PRODUCER + 1):
        pause(PRODUCE_MS)                 # make item n
        item = f"{name} #{n}"
        q.put(item)                       # waits here while the queue is full
        print(f"{name} (pid {os.getpid()}) put {item}", flush=True)

''')

_CONSUMER = {
    NAIVE: """
def consumer(name, q, taken, eaten):
    while True:                           # nothing ever tells it to stop
        item = q.get()                    # waits here while the queue is empty
        taken[ITEMS.index(item)] += 1     # (for the check at the end)
        print(f"{name} (pid {os.getpid()}) took {item}", flush=True)
        pause(CONSUME_MS)                 # eat it
        eaten[ITEMS.index(item)] += 1     # (for the check at the end)
        print(f"{name} (pid {os.getpid()}) ate {item}", flush=True)
""",
    JOINABLE: """
def consumer(name, q, taken, eaten):
    while True:                           # a daemon: it ends when main's code ends
        item = q.get()                    # waits here while the queue is empty
        taken[ITEMS.index(item)] += 1     # (for the check at the end)
        print(f"{name} (pid {os.getpid()}) took {item}", flush=True)
        pause(CONSUME_MS)                 # eat it
        eaten[ITEMS.index(item)] += 1     # (for the check at the end)
        print(f"{name} (pid {os.getpid()}) ate {item}, calls task_done()", flush=True)
        q.task_done()                     # one unfinished task less
""",
    SENTINEL: """
def consumer(name, q, taken, eaten):
    while True:
        item = q.get()                    # waits here while the queue is empty
        if item is STOP:                  # the sentinel: no more items
            print(f"{name} (pid {os.getpid()}) took STOP and leaves", flush=True)
            return                        # its process ends with exit code 0
        taken[ITEMS.index(item)] += 1     # (for the check at the end)
        print(f"{name} (pid {os.getpid()}) took {item}", flush=True)
        pause(CONSUME_MS)                 # eat it
        eaten[ITEMS.index(item)] += 1     # (for the check at the end)
        print(f"{name} (pid {os.getpid()}) ate {item}", flush=True)
""",
}
_CONSUMER[NO_JOIN] = _CONSUMER[JOINABLE]

WAIT_IN = '''

def wait_in(what, call, *args):
    """main makes a call that blocks, and says so first."""
    print(f"main waits in {what}", flush=True)
    call(*args)                           # main is blocked here
'''

JOIN_UNLESS_HUNG = '''

def join_unless_hung(c, q, eaten):
    """c.join(), as long as anything can still happen. The lesson's program
    calls c.join() and waits for ever; this one gives up once every item is
    eaten and the queue is empty (the producers are gone: nothing can ever
    come) and HANG_AFTER_MS more have passed."""
    while c.is_alive() and not (sum(eaten) == len(ITEMS) and q.empty()):
        c.join(0.05)
    c.join(HANG_AFTER_MS / 1000 / SPEED)
'''

MAIN_HEAD = string.Template("""

if __name__ == "__main__":
    q = $queue_kind(CAPACITY)
    taken = RawArray("i", len(ITEMS))     # how often each item was taken and eaten,
    eaten = RawArray("i", len(ITEMS))     # in shared memory: for the check at the end
    producers = [
        Process(target=producer, args=(f"P{i}", q), name=f"P{i}")
        for i in range(1, PRODUCERS + 1)
    ]
    consumers = [
        Process(target=consumer, args=(f"C{i}", q, taken, eaten), name=f"C{i}"$daemon)
        for i in range(1, CONSUMERS + 1)
    ]
    for w in producers + consumers:
        w.start()
        daemon = " as a daemon" if w.daemon else ""
        print(f"main started {w.name} (pid {w.pid}){daemon}", flush=True)
    for p in producers:
        wait_in(f"{p.name}.join()", p.join)
        print(f"main: {p.name} ended, exit code {p.exitcode}", flush=True)
    # Every item is in the queue now, or already eaten.
""")

_TERMINATE_DAEMONS = """\
    # main's code ends here: at exit, Python terminates every daemon child that
    # is still alive. This script does it itself, a line early, to count after.
    names = " and ".join(c.name for c in consumers if c.is_alive())
    print(f"main's code ends: Python terminates the daemons {names}", flush=True)
    for c in consumers:
        c.terminate()
        c.join()
        print(f"main: {c.name} ended, exit code {c.exitcode}", flush=True)
    assert all(c.exitcode == -15 for c in consumers)  # SIGTERM
"""

_TAIL = {
    NAIVE: """\
    # Nobody tells the consumers that no more items will come.
    c = consumers[0]
    wait_in(f"{c.name}.join()", join_unless_hung, c, q, eaten)
    stuck = [c.name for c in consumers if c.is_alive()]
    print(f"main: {c.name}.join() does not return: all {len(ITEMS)} items are eaten and the"
          f" queue is empty, but {' and '.join(stuck)} wait in get() for an item that never"
          f" comes. That is the hang.", flush=True)
    print("main: the lesson's program waits here for ever; this one terminates them", flush=True)
    for c in consumers:
        c.terminate()
        c.join()
        print(f"main: {c.name} ended, exit code {c.exitcode}", flush=True)
    print("main's code ends", flush=True)
    assert stuck == [c.name for c in consumers]
    assert list(taken) == list(eaten) == [1] * len(ITEMS)
    print(f"accounting: {len(ITEMS)} put, {sum(eaten)} eaten, each exactly once; then the hang:"
          f" {', '.join(stuck)} blocked in get() with the queue empty, until main terminated them")
""",
    JOINABLE: """\
    wait_in("q.join()", q.join)           # returns once every put had its task_done()
    print("main: q.join() returned: no unfinished task left", flush=True)
"""
    + _TERMINATE_DAEMONS
    + """\
    assert list(taken) == list(eaten) == [1] * len(ITEMS)
    print(f"accounting: {len(ITEMS)} put, {sum(eaten)} eaten and task_done(), each exactly once;"
          f" q.join() returned with 0 unfinished tasks; daemons"
          f" {', '.join(c.name for c in consumers)} terminated when main's code ended, 0 lost")
""",
    NO_JOIN: """\
    # No q.join(): main does not wait for the consumers.
"""
    + _TERMINATE_DAEMONS
    + """\
    assert max(taken) <= 1 and all(e <= t for e, t in zip(eaten, taken))
    lost = [item for item, n in zip(ITEMS, eaten) if n == 0]
    held = [item for item in lost if taken[ITEMS.index(item)]]
    print(f"accounting: {len(ITEMS)} put, {sum(eaten)} eaten, each at most once;"
          f" {len(lost)} lost: {len(lost) - len(held)} still in the queue,"
          f" {len(held)} held by a consumer when it was terminated ({', '.join(held) or 'none'})")
""",
    SENTINEL: """\
    for _ in consumers:
        q.put(STOP)                       # one sentinel per consumer
        print("main put STOP", flush=True)
    for c in consumers:
        wait_in(f"{c.name}.join()", c.join)
        print(f"main: {c.name} ended, exit code {c.exitcode}", flush=True)
    print("main's code ends", flush=True)
    assert all(c.exitcode == 0 for c in consumers)
    assert list(taken) == list(eaten) == [1] * len(ITEMS)
    print(f"accounting: {len(ITEMS)} put, {sum(eaten)} eaten, each exactly once;"
          f" {len(consumers)} STOP put, one taken by each consumer, which left with exit code 0")
""",
}

_SETTINGS = {
    NAIVE: "HANG_AFTER_MS = $hang_after_ms  # nothing moves this long: main calls it a hang\n",
    JOINABLE: "",
    NO_JOIN: "",
    SENTINEL: "STOP = None  # the sentinel: one per consumer\n",
}

# The lesson's naive program never ends; its script must.
_HANG_ENDING = (
    "The lesson's program hangs for ever; this script shows the hang, then ends it: "
    "main terminates the consumers stuck in get()."
)


def script(params: dict[str, Any]) -> str:
    """The plain program for these parameters, in their mode: it runs without
    the server, prints the same story and ends with an accounting line."""
    p = Params.model_validate(params)
    joinable = p.mode in JOINABLE_MODES
    queue_kind = "JoinableQueue" if joinable else "Queue"
    summary = MODE_NOTES[p.mode] + (" " + _HANG_ENDING if p.mode == NAIVE else "")
    settings = string.Template(_SETTINGS[p.mode]).substitute(hang_after_ms=p.hang_after_ms)
    head = SCRIPT_HEAD.substitute(
        mode=p.mode,
        summary=textwrap.fill(summary, width=76),
        imports=f"{queue_kind}, Process, RawArray" if joinable else "Process, Queue, RawArray",
        producers=p.producers,
        consumers=p.consumers,
        items=p.items_per_producer,
        capacity=p.capacity,
        produce_min_ms=p.produce_min_ms,
        produce_max_ms=p.produce_max_ms,
        consume_min_ms=p.consume_min_ms,
        consume_max_ms=p.consume_max_ms,
        speed=f"{p.speed:g}",
        settings=settings,
    )
    return (
        head
        + _CONSUMER[p.mode]
        + WAIT_IN
        + (JOIN_UNLESS_HUNG if p.mode == NAIVE else "")
        + MAIN_HEAD.substitute(queue_kind=queue_kind, daemon=", daemon=True" if joinable else "")
        + _TAIL[p.mode]
    )


# Where each worker is in the script, by the states the fold gives it
# ("role:state"). Main has one state for every call it blocks in (which one
# is in JoinableState.main_call), so all its waits go through wait_in().
CODE_LINES = {
    f"producer:{model.PRODUCING}": "pause(PRODUCE_MS)",
    f"producer:{model.PUT_WAIT}": "q.put(item)",
    f"producer:{model.READY}": ") put {item}",
    f"consumer:{model.GET_WAIT}": "item = q.get()",
    f"consumer:{model.CONSUMING}": "pause(CONSUME_MS)",
    f"consumer:{model.READY}": ") ate {item}",
    f"consumer:{model.LEAVING}": "took STOP and leaves",
    f"main:{MAIN_WAITING}": "call(*args)",
    f"main:{MAIN_ENDED}": "\"main's code ends",
}

# A mode that ends by itself, and delays of a few ms: the script runs in
# well under a second (tests, and the scripts' own check).
QUICK_PARAMS: dict[str, Any] = {
    "mode": JOINABLE,
    "produce_min_ms": 0,
    "produce_max_ms": 100,
    "consume_min_ms": 0,
    "consume_max_ms": 200,
    "speed": 20,
    "hang_after_ms": 1000,
}


# What the page draws.


def _steps(state: JoinableState, params: dict[str, Any]) -> list[dict[str, str]]:
    """Main's program as steps, each done, current or to come (made while the
    page is rendered, in its reader's language)."""
    mode = str(params.get("mode", NAIVE))
    producers = [f"P{i}" for i in range(1, int(params.get("producers", 0)) + 1)]
    consumers = [f"C{i}" for i in range(1, int(params.get("consumers", 0)) + 1)]
    returned = {(r["call"], r["target"]) for r in state.main_returns}
    steps: list[dict[str, str]] = []

    def add(label: str, done: bool, current: bool = False) -> None:
        steps.append({"label": label, "status": "done" if done else "now" if current else "todo"})

    def join(name: str) -> None:
        now = state.main_call == JOIN and state.main_target == name
        add(f"{name}.join()", (JOIN, name) in returned, now)

    everyone = producers + consumers
    start = (
        _("start %(producers)s and %(consumers)s (daemons)")
        if mode in JOINABLE_MODES
        else _("start %(producers)s and %(consumers)s")
    )
    add(
        start % {"producers": _span(producers), "consumers": _span(consumers)},
        all(n in state.spawned for n in everyone),
        bool(state.spawned) and not all(n in state.spawned for n in everyone),
    )
    for name in producers:
        join(name)
    if mode == NAIVE:
        for name in consumers:
            join(name)
    elif mode == JOINABLE:
        add(Q_JOIN, (Q_JOIN, None) in returned, state.main_call == Q_JOIN)
    elif mode == SENTINEL:
        n = len(consumers)
        add(_("put %(n)s × STOP") % {"n": n}, state.sentinels_put >= n, 0 < state.sentinels_put < n)
        for name in consumers:
            join(name)
    end = _("end of main: daemons terminated") if mode in JOINABLE_MODES else _("end of main")
    add(end, state.main_ended)
    return steps


def _lost_where(place: str, who: str) -> str:
    if place == "held":
        return _("held by %(name)s when it ended") % {"name": who}
    if place == "queue":
        return _("still in the queue at the end")
    return _("taken but never finished")


def _span(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{names[0]}–{names[-1]}"


def view(state: JoinableState, params: dict[str, Any]) -> dict[str, Any]:
    capacity = int(params.get("capacity", 0))
    items = state.queue_items()
    mode = str(params.get("mode", NAIVE))
    lost = [(item, _lost_where(place, who)) for item, place, who in state.lost_places()]
    return {
        "mode": mode,
        "mode_note": _(MODE_NOTES[mode]) if mode in MODE_NOTES else "",
        "modes": MODE_NOTES,
        "capacity": capacity,
        "queue": items,
        "slots": capacity if capacity else max(8, len(items) + 2),
        "cooks": {f"P{i}": name for i, name in enumerate(COOKS, start=1)},
        "steps": _steps(state, params),
        "lost": lost,
        "lost_set": {item for item, _where in lost},
        "main": state.workers.get("main"),
        "queue_kind": "JoinableQueue" if mode in JOINABLE_MODES else "Queue",
        "runbar_facts": [
            _("ending: %(mode)s") % {"mode": _(mode)},
            _("queue of %(n)s slots") % {"n": capacity} if capacity else _("queue without a limit"),
        ],
    }


EXPERIMENT = Experiment(
    slug=SLUG,
    title=N_("When does it end?"),
    summary=N_(
        "The hang after the producers finish, then JoinableQueue, daemons and the sentinel."
    ),
    lecture_part="6-7",
    params=Params,
    roles=(Role("main", "", main, fixed_name="main"),),
    program=script({}),
    script=script,
    code_lines=CODE_LINES,
    quick_params=QUICK_PARAMS,
    modules=(__name__,),
    new_state=JoinableState,
    fold=fold,
    frame_template="partials/joinable/_frame.html",
    controls_template="partials/joinable/_modes.html",
    stylesheet="experiments/joinable.css",
    view=view,
    main_in_process=True,
    workers_needed=lambda p: 1 + p.producers + p.consumers,  # type: ignore[attr-defined]
    notes={"finished": N_("main's program ended")},
    outcome_states=frozenset({DAEMON_STOPPED, TERMINATED}),
)
