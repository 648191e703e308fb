"""The queue, call by call (parts 3 and 4 of the lecture).

One real bounded queue, owned by the run's `main` process, and one real
caller per call: each press of a button (or `POST /api/runs/{id}/calls`)
makes a new caller perform that call on the queue and report how it went::

    server --calls--> main: owns q, starts one caller per call, joins them
                        |-- P7 (a child process): q.put(4)     waits: full
                        |-- P8 (a child process): q.get() -> 1  ... and P7's put goes in
    callers and main --events--> server: call, call_wait, call_return | call_raise

`fifo` is a `multiprocessing.Queue` and each caller is a child process of
main (fork); `lifo` is a `queue.LifoQueue`, which lives in main's memory
only, so each caller is a thread of main.

How a call is made: `q.put(x, block=False)` first, which is the whole of a
`put_nowait`; when it raises `queue.Full` and the call may wait, the caller
says so (the page must show the wait while it lasts) and makes the blocking
`q.put(x)` or `q.put(x, timeout=what is left)`. To the queue that is the
same call as `put(x)`; gets go the same way.

Stop: a blocked caller is released through the queue itself, as the lesson
says it must be: main puts `None` for each waiting get and takes an item
out for each waiting put, joins every caller, and only then ends. A caller
still there after `RELEASE_S` is terminated (processes); threads of main
end with main.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import queue
import string
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app import events, model
from app.events import Event
from app.experiments.spec import Experiment, Role
from app.i18n import N_, _
from app.instrument import Stopped
from app.worker import Worker, start_process, start_thread

SLUG = "queue"

# Callers alive at once: at most MAX_CALLERS of a kind (puts, or gets) and
# MAX_ALIVE in all; a call past either is refused, and said so. Pressing put
# on a full queue cannot fill the machine with waiters, and the call that
# would free them (a get) still finds room. The run holds worker budget for
# main and MAX_ALIVE callers.
MAX_CALLERS = 8
MAX_ALIVE = 10
# The script's pause between steps at speed 1, and its get(timeout=...).
PAUSE_MS = 1500
SCRIPT_TIMEOUT_S = 2.0
# Main takes calls and joins callers in slices this long (a Stop is seen
# within one), and sends a tick this often while a timed call counts down.
POLL_S = 0.05
TICK_S = 0.1
# How long main tries to release blocked callers through the queue at Stop;
# with the terminate after it, this must stay under runtime.STOP_GRACE_S.
RELEASE_S = 1.0
# What main puts into the queue for each get() still waiting at Stop.
RELEASE_TOKEN = None

# Event times are monotonic_ns across processes, so a get took an item put
# before it; but a caller stamps its event just after its call returns, and
# the other side may stamp first. Within this slack, either order matches.
STAMP_SLACK_S = 0.05

VALUE_MIN, VALUE_MAX = 0, 999
TIMEOUT_MIN, TIMEOUT_MAX = 0.1, 30.0

# Events. A caller's: the call, a wait, then one outcome.
QUEUE_MADE = "queue_made"  # main; data: kind, capacity, expr, callers
CALL = "call"  # item: the call as written; data: op, value, timeout
CALL_WAIT = "call_wait"  # the call blocks; data: why (full | empty)
CALL_RETURN = "call_return"  # data: op, value (put, or got)
CALL_RAISE = "call_raise"  # data: exception (queue.Full | queue.Empty), after_s
CALL_RELEASED = "call_released"  # a get() that main released at Stop
CALL_SKIPPED = "call_skipped"  # not made: the run was stopping
# Main's.
CALL_REFUSED = "call_refused"  # item: the call; data: reason
REAPED = "reaped"  # item: the caller main joined; data: pid, exitcode, thread
STEP = "script_step"  # item: the call; data: n, of, caller, note
RELEASE = "release"  # data: tokens (Nones put), took (values taken out)
TICK = "tick"  # a timed call is counting down (carries only its time)

# A caller's phases, as the page names them.
STARTING = "starting"
CALLING = "calling"
WAITING = "waiting"
RETURNED = "returned"
RAISED = "raised"
RELEASED = "released"
SKIPPED = "skipped"
CRASHED = "crashed"
RUNNING = "running"  # main, once its queue is made

Op = Literal["put", "put_nowait", "get", "get_nowait"]


def _live(description: str) -> dict[str, Any]:
    return {"live": True, "description": description}


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["fifo", "lifo"] = Field(
        "fifo",
        title=N_("Kind of queue"),
        description=N_(
            "fifo: multiprocessing.Queue, each call by a child process;"
            " lifo: queue.LifoQueue, each call by a thread"
        ),
    )
    capacity: int = Field(
        3,
        ge=0,
        le=10,
        title=N_("Capacity"),
        description=N_("slots in q; 0 = unbounded"),
    )
    mode: Literal["buttons", "script"] = Field(
        "buttons",
        title=N_("Who makes the calls"),
        description=N_("buttons: you make the calls; script: main plays the lecture's example"),
    )
    speed: float = Field(
        1.0,
        ge=0.1,
        le=20.0,
        title=N_("Script speed"),
        json_schema_extra=_live(N_("time factor for the script's pauses; changes live")),
    )

    @model_validator(mode="after")
    def _script_uses_queue_of_three(self) -> Params:
        if self.mode == "script" and self.capacity != 3:
            # Said in the visitor's language; it starts with the field it blames.
            raise ValueError(
                _(
                    "capacity must be 3 to play the lecture's example,"
                    " which uses Queue(3) (got %(got)s)"
                )
                % {"got": self.capacity}
            )
        return self


# The form's choices for `mode`, looked up where the form shows them.
MODE_WORDS = (N_("buttons"), N_("script"))


def _number(raw: object) -> float | None:
    """A JSON number or a form's text as a number; None if it is neither."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str):
        try:
            return float(raw.strip())
        except ValueError:
            return None
    return None


class Call(BaseModel):
    """One call on the run's queue (`POST /api/runs/{id}/calls`)."""

    model_config = ConfigDict(extra="forbid")

    op: Op = Field(title=N_("Call"), description="the queue method to call")
    value: int | None = Field(
        None,
        ge=VALUE_MIN,
        le=VALUE_MAX,
        title=N_("Value"),
        description="the item to put; null: the next number",
    )
    timeout: float | None = Field(
        None,
        ge=TIMEOUT_MIN,
        le=TIMEOUT_MAX,
        title=N_("Timeout (s)"),
        description="how long a put or get may wait; null: as long as it takes",
    )

    @model_validator(mode="before")
    @classmethod
    def _numbers_in_bounds(cls, data: Any) -> Any:
        # Optional numbers have no bounds at the top of their JSON Schema,
        # where app.params looks for them: say them here, in the same words.
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name, lo, hi, integer in (
            ("value", VALUE_MIN, VALUE_MAX, True),
            ("timeout", TIMEOUT_MIN, TIMEOUT_MAX, False),
        ):
            raw = data.get(name)
            if raw is None:
                continue
            num = _number(raw)
            if num is None or not lo <= num <= hi or (integer and not num.is_integer()):
                kind = _("an integer") if integer else _("a number")
                bounds = _("%(kind)s from %(lo)s to %(hi)s") % {
                    "kind": kind,
                    "lo": f"{lo:g}",
                    "hi": f"{hi:g}",
                }
                raise ValueError(
                    _("%(field)s must be %(bounds)s, or null (got %(got)s)")
                    % {"field": name, "bounds": bounds, "got": repr(raw)}
                )
            data[name] = int(num) if integer else num
        return data

    @model_validator(mode="after")
    def _fits_the_op(self) -> Call:
        if self.op.startswith("get") and self.value is not None:
            raise ValueError(
                _("value must be left out: %(op)s() takes no value (got %(got)s)")
                % {"op": self.op, "got": self.value}
            )
        if self.op.endswith("_nowait") and self.timeout is not None:
            raise ValueError(
                _("timeout must be left out: %(op)s() never waits (got %(got)s)")
                % {"op": self.op, "got": f"{self.timeout:g}"}
            )
        return self


def call_text(op: str, value: int | None = None, timeout: float | None = None) -> str:
    """The call as a student would write it: `put(4)`, `get(timeout=2)`."""
    args = [] if value is None else [str(value)]
    if timeout is not None:
        args.append(f"timeout={timeout:g}")
    return f"{op}({', '.join(args)})"


# The callers: one call each, in a process or a thread of main.


def caller(w: Worker) -> None:
    call, q = w.params["call"], w.params["queue"]
    op, value, timeout = call["op"], call["value"], call["timeout"]
    text = call_text(op, value, timeout)
    w.emit(CALL, text, {"op": op, "value": value, "timeout": timeout})
    if w.stopping():
        w.emit(CALL_SKIPPED, text)
        return
    started = time.monotonic()

    def wait(why: str) -> float | None:
        """Say that the call waits, and how long it may still wait."""
        w.emit(CALL_WAIT, text, {"why": why, "timeout": timeout})
        w.flush()
        return None if timeout is None else max(0.0, timeout - (time.monotonic() - started))

    try:
        if op.startswith("put"):
            try:
                q.put(value, block=False)
            except queue.Full:
                if op == "put_nowait":
                    raise
                left = wait("full")
                if left is None:
                    q.put(value)
                else:
                    q.put(value, timeout=left)
            w.emit(CALL_RETURN, text, {"op": op, "value": value})
            return
        try:
            got = q.get(block=False)
        except queue.Empty:
            if op == "get_nowait":
                raise
            left = wait("empty")
            got = q.get() if left is None else q.get(timeout=left)
    except (queue.Full, queue.Empty) as exc:
        w.emit(
            CALL_RAISE,
            text,
            {
                "exception": f"queue.{type(exc).__name__}",
                "after_s": round(time.monotonic() - started, 3),
            },
        )
        return
    if got is RELEASE_TOKEN:
        w.emit(CALL_RELEASED, text)
    else:
        w.emit(CALL_RETURN, text, {"op": op, "value": got})


# Main: owns the queue, takes the calls, starts and joins the callers.


@dataclass
class _Caller:
    name: str
    op: str
    timeout: float | None
    handle: Any  # a multiprocessing Process or a threading.Thread

    @property
    def is_process(self) -> bool:
        return not isinstance(self.handle, threading.Thread)


@dataclass(frozen=True)
class Step:
    op: str
    value: int | None = None
    timeout: float | None = None  # at speed 1
    note: str = ""  # what the class should see
    lifo_note: str = ""  # ...where a LifoQueue differs

    def note_for(self, kind: str) -> str:
        return self.lifo_note if kind == "lifo" and self.lifo_note else self.note


# The lecture's sequence on Queue(3), one caller per step. In the lecture's
# own program the fifth get() waits for ever; here step 10's put frees it.
# The notes go into the events in English and are translated where shown.
STEPS: tuple[Step, ...] = (
    Step("put", 1, note=N_("there is room, so put() returns at once")),
    Step("put", 2, note=N_("still room")),
    Step("put", 3, note=N_("three items: Queue(3) is full now")),
    Step(
        "get",
        note=N_("get() takes from the head: 1, the first one in"),
        lifo_note=N_("get() takes from the top: 3, the last one in"),
    ),
    Step("put", 4, note=N_("the get made room, so this put goes in: full again")),
    Step("get", note=N_("one out")),
    Step("get", note=N_("another one out")),
    Step("get", note=N_("the last one out: the queue is empty")),
    Step("get", note=N_("empty: this get() waits until somebody puts")),
    Step("put", 5, note=N_("a put: the waiting get() takes 5 and returns")),
    Step(
        "get",
        timeout=SCRIPT_TIMEOUT_S,
        note=N_("empty, with a timeout: it waits, then raises queue.Empty"),
    ),
    Step("put", 6, note=N_("filling the queue again")),
    Step("put", 7, note=N_("two in")),
    Step("put", 8, note=N_("full")),
    Step("put_nowait", 9, note=N_("full, and put_nowait() may not wait: queue.Full at once")),
)


class _Main:
    def __init__(self, w: Worker, q: Any, processes: bool) -> None:
        self.w = w
        self.q = q
        self.processes = processes
        self.callers: dict[str, _Caller] = {}
        self._numbers = itertools.count(1)
        self._next_value = 1
        self._last_tick = 0.0

    # Time: main always takes calls and joins callers while it waits.

    def serve(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            if self.w.stopping():
                raise Stopped
            self.reap()
            self._tick()
            self.w.flush()
            left = end - time.monotonic()
            if left <= 0:
                return
            try:
                command = self.w.commands.get(timeout=min(left, POLL_S))
            except queue.Empty:
                continue
            self.take(command)

    def idle(self, ms: float) -> None:
        """Wait `ms` at speed 1, scaled by the live speed."""
        remaining = ms / 1000.0
        while remaining > 0:
            speed = max(float(self.w.signals.speed.value), 1e-3)
            real = min(remaining / speed, POLL_S)
            self.serve(real)
            remaining -= real * speed

    def _tick(self) -> None:
        if not any(c.timeout is not None for c in self.callers.values()):
            return
        now = time.monotonic()
        if now - self._last_tick >= TICK_S:
            self._last_tick = now
            self.w.emit(TICK)

    # Callers.

    def take(self, command: dict[str, Any], step: dict[str, Any] | None = None) -> str | None:
        """Start a caller for one call; its name, or None if refused."""
        op, value, timeout = command["op"], command.get("value"), command.get("timeout")
        if op.startswith("put") and value is None:
            value = self._next_value
        text = call_text(op, value, timeout)
        side, other = ("put", "get") if op.startswith("put") else ("get", "put")
        alike = sum(1 for c in self.callers.values() if c.op.startswith(side))
        reason = ""
        # The reason in words (English, for the recording), and its parts,
        # from which the page says it in the visitor's language.
        parts: dict[str, Any] = {}
        if alike >= MAX_CALLERS:
            reason = (
                f"{alike} {side} callers are still there (at most {MAX_CALLERS}):"
                f" a {other} would free one"
            )
            parts = {"limit": "side", "alive": alike, "most": MAX_CALLERS}
            parts |= {"side": side, "other": other}
        elif len(self.callers) >= MAX_ALIVE:
            reason = f"{len(self.callers)} callers are still there (at most {MAX_ALIVE})"
            parts = {"limit": "all", "alive": len(self.callers), "most": MAX_ALIVE}
        if reason:
            self.w.emit(CALL_REFUSED, text, {"reason": reason, **parts})
            return None
        if value is not None:
            self._next_value = max(self._next_value, value + 1)
        name = f"{'P' if self.processes else 'T'}{next(self._numbers)}"
        if step is not None:
            self.w.emit(STEP, text, {**step, "caller": name})
        params = {"call": {"op": op, "value": value, "timeout": timeout}, "queue": self.q}
        start = start_process if self.processes else start_thread
        handle = start(self.w, name, "caller", caller, daemon=True, params=params)
        self.callers[name] = _Caller(name, op, timeout, handle)
        return name

    def reap(self) -> None:
        for name, c in list(self.callers.items()):
            if c.is_process:
                if c.handle.exitcode is None:
                    continue
                c.handle.join()
                pid, code = c.handle.pid, c.handle.exitcode
                c.handle.close()
            else:
                if c.handle.is_alive():
                    continue
                c.handle.join()
                pid, code = os.getpid(), 0
            del self.callers[name]
            self.w.emit(REAPED, name, {"pid": pid, "exitcode": code, "thread": not c.is_process})

    def release(self) -> None:
        """Free every caller still waiting, through the queue, and join them."""
        deadline = time.monotonic() + RELEASE_S
        self.reap()
        while self.callers and time.monotonic() < deadline:
            getters = sum(1 for c in self.callers.values() if c.op.startswith("get"))
            putters = len(self.callers) - getters
            tokens, took = 0, []
            for _n in range(getters):
                try:
                    self.q.put_nowait(RELEASE_TOKEN)
                except queue.Full:
                    break
                tokens += 1
            for _n in range(putters):
                try:
                    item = self.q.get(timeout=0.02)
                except queue.Empty:
                    break
                if item is not RELEASE_TOKEN:
                    took.append(item)
            if tokens or took:
                self.w.emit(RELEASE, data={"tokens": tokens, "took": took})
            self.w.flush()
            round_end = time.monotonic() + 0.1
            while self.callers and time.monotonic() < round_end:
                time.sleep(0.01)
                self.reap()
        for c in list(self.callers.values()):
            if c.is_process:
                c.handle.terminate()
                c.handle.join(0.3)
                if c.handle.exitcode is None:
                    c.handle.kill()
                    c.handle.join()
        self.reap()
        self.w.flush()

    # The lecture's example.

    def play(self, kind: str) -> None:
        for n, step in enumerate(STEPS, 1):
            timeout = None
            if step.timeout is not None:
                speed = max(float(self.w.signals.speed.value), 1e-3)
                timeout = max(TIMEOUT_MIN, round(step.timeout / speed, 2))
            note = step.note_for(kind)
            name = self.take(
                {"op": step.op, "value": step.value, "timeout": timeout},
                step={"n": n, "of": len(STEPS), "note": note},
            )
            self.idle(PAUSE_MS)
            if name is not None and timeout is not None:
                while name in self.callers:  # let the countdown run out
                    self.serve(POLL_S)
                self.idle(PAUSE_MS)
        while self.callers:
            self.serve(POLL_S)


def _expr(kind: str, capacity: int) -> str:
    cls = "multiprocessing.Queue" if kind == "fifo" else "queue.LifoQueue"
    return f"{cls}({capacity or ''})"


def _make_queue(kind: str, capacity: int) -> Any:
    if kind == "lifo":
        return queue.LifoQueue(capacity)
    # Made in main with fork, like the callers that share it: its semaphores
    # are unlinked at once (nothing for the resource tracker to clean up).
    return multiprocessing.get_context("fork").Queue(capacity)


def main(w: Worker) -> None:
    kind, capacity = w.params["kind"], int(w.params["capacity"])
    q = _make_queue(kind, capacity)
    expr = _expr(kind, capacity)
    w.emit(
        QUEUE_MADE,
        data={
            "kind": kind,
            "capacity": capacity,
            "expr": expr,
            "callers": "process" if kind == "fifo" else "thread",
        },
    )
    w.flush()
    boss = _Main(w, q, processes=kind == "fifo")
    try:
        if w.params["mode"] == "script":
            boss.play(kind)
        else:
            while True:
                boss.serve(3600.0)
    finally:
        boss.release()
        if kind == "fifo":
            q.cancel_join_thread()  # Nones nobody took may still be buffered
            q.close()


# The view state.


@dataclass
class Chip:
    """An item in the queue, known by the caller that put it."""

    key: str
    value: int
    t: float


@dataclass
class CallerView:
    name: str
    pid: int = 0
    tid: int = 0
    text: str = ""
    op: str = ""
    timeout: float | None = None
    phase: str = STARTING
    why: str = ""
    result: Any = None
    exception: str = ""
    after_s: float | None = None
    t_call: float = 0.0
    alive: bool = True
    exitcode: int | None = None
    thread: bool = False
    step: int = 0
    error: str = ""

    @property
    def number(self) -> int:
        digits = self.name.lstrip("PT")
        return int(digits) if digits.isdigit() else 0


@dataclass
class QueueState(model.RunState):
    expr: str = ""
    owner_pid: int = 0
    chips: dict[str, Chip] = field(default_factory=dict)
    # Gets (value: their times) that arrived before the put of what they
    # took: events of different callers may arrive in any order.
    early: dict[Any, list[float]] = field(default_factory=dict)
    callers: dict[str, CallerView] = field(default_factory=dict)
    puts: int = 0
    gets: int = 0
    fulls: int = 0
    empties: int = 0
    released: int = 0
    refusal: str = ""
    release_note: str = ""
    # The same two, in parts, for the page to say in the visitor's language.
    refused_call: str = ""
    refused: dict[str, Any] = field(default_factory=dict)
    release_tokens: int = 0
    release_took: list[Any] = field(default_factory=list)
    step_n: int = 0
    step_of: int = 0
    step_text: str = ""
    step_note: str = ""
    step_caller: str = ""

    @property
    def kind(self) -> str:
        return str(self.params.get("kind", "fifo"))

    def items(self) -> list[Chip]:
        """In the order they went in: the head (FIFO) or the bottom (LIFO) first."""
        return sorted(self.chips.values(), key=lambda c: (c.t, c.key))

    def depth(self) -> int | None:
        return len(self.chips)

    def waiting(self) -> list[CallerView]:
        return [c for c in self.callers.values() if c.phase == WAITING]

    def counters(self) -> dict[str, Any]:
        return {
            "in_queue": len(self.chips),
            "puts": self.puts,
            "gets": self.gets,
            "waiting": len(self.waiting()),
            "full_raised": self.fulls,
            "empty_raised": self.empties,
        }

    def extras(self) -> dict[str, Any]:
        return {
            "queue": [c.value for c in self.items()],
            "callers": [
                {
                    "name": c.name,
                    "call": c.text,
                    "phase": c.phase,
                    "result": c.result,
                    "exception": c.exception,
                    "after_s": c.after_s,
                    "pid": c.pid,
                    "tid": c.tid,
                    "alive": c.alive,
                    "step": c.step,
                }
                for c in sorted(self.callers.values(), key=lambda c: c.number)
            ],
        }


def _caller_of(state: QueueState, e: Event) -> CallerView:
    c = state.callers.get(e.worker)
    if c is None:
        c = state.callers[e.worker] = CallerView(e.worker, pid=e.pid, tid=e.tid)
    return c


def _phase(c: CallerView, phase: str) -> None:
    if c.phase in (RETURNED, RAISED, RELEASED, SKIPPED, CRASHED):
        return  # an outcome is final
    c.phase = phase


def _add(state: QueueState, key: str, value: int, t: float) -> None:
    early = state.early.get(value, [])
    # A get already seen took this item if it came after the put.
    took = [tg for tg in early if tg >= t - STAMP_SLACK_S]
    if took:
        early.remove(min(took))
        if not early:
            del state.early[value]
    else:
        state.chips[key] = Chip(key, value, t)


def _take(state: QueueState, value: Any, t: float) -> None:
    """One item of this value, put before `t`, left the queue: the oldest
    (FIFO) or the newest (LIFO) of them."""
    same = [c for c in state.chips.values() if c.value == value and c.t <= t + STAMP_SLACK_S]
    if not same:
        state.early.setdefault(value, []).append(t)
        return
    pick = max if state.kind == "lifo" else min
    chip = pick(same, key=lambda c: (c.t, c.key))
    del state.chips[chip.key]


def _queue_made(state: QueueState, e: Event) -> None:
    data = e.data or {}
    state.expr = data.get("expr", "")
    state.owner_pid = e.pid
    model.set_state(model.worker_of(state, e), e, RUNNING)


def _call(state: QueueState, e: Event) -> None:
    data = e.data or {}
    c = _caller_of(state, e)
    c.text, c.op, c.timeout, c.t_call = e.item or "", data.get("op", ""), data.get("timeout"), e.t
    c.pid, c.tid = e.pid, e.tid
    _phase(c, CALLING)
    model.set_state(model.worker_of(state, e), e, CALLING, e.item)


def _call_wait(state: QueueState, e: Event) -> None:
    c = _caller_of(state, e)
    _phase(c, WAITING)
    c.why = (e.data or {}).get("why", "")
    # The worker's state in the words the timeline and the code view share.
    blocked = model.PUT_WAIT if c.op.startswith("put") else model.GET_WAIT
    model.set_state(model.worker_of(state, e), e, blocked, e.item)


def _call_return(state: QueueState, e: Event) -> None:
    data = e.data or {}
    c = _caller_of(state, e)
    _phase(c, RETURNED)
    c.result = data.get("value")
    if data.get("op", "").startswith("put"):
        state.puts += 1
        _add(state, e.worker, int(data["value"]), e.t)
    else:
        state.gets += 1
        _take(state, data.get("value"), e.t)
    model.set_state(model.worker_of(state, e), e, RETURNED, e.item)


def _call_raise(state: QueueState, e: Event) -> None:
    data = e.data or {}
    c = _caller_of(state, e)
    _phase(c, RAISED)
    c.exception, c.after_s = data.get("exception", ""), data.get("after_s")
    if c.exception == "queue.Full":
        state.fulls += 1
    else:
        state.empties += 1
    model.set_state(model.worker_of(state, e), e, RAISED, e.item)


def _call_released(state: QueueState, e: Event) -> None:
    _phase(_caller_of(state, e), RELEASED)
    state.released += 1
    model.set_state(model.worker_of(state, e), e, RELEASED, e.item)


def _call_skipped(state: QueueState, e: Event) -> None:
    _phase(_caller_of(state, e), SKIPPED)
    model.set_state(model.worker_of(state, e), e, SKIPPED, e.item)


def _call_refused(state: QueueState, e: Event) -> None:
    state.refusal = f"main refused {e.item}: {(e.data or {}).get('reason', '')}"
    state.refused_call, state.refused = e.item or "", dict(e.data or {})


def _reaped(state: QueueState, e: Event) -> None:
    data = e.data or {}
    name = e.item or ""
    c = state.callers.get(name)
    if c is None:
        c = state.callers[name] = CallerView(name, pid=int(data.get("pid") or 0))
    c.alive, c.exitcode, c.thread = False, data.get("exitcode"), bool(data.get("thread"))
    # The worker's own lifecycle, as if its exit had been seen by the runtime.
    exit_event = e._replace(worker=name, kind=events.EXIT, item=None, data={"exitcode": c.exitcode})
    model.LIFECYCLE[events.EXIT](state, exit_event)
    state.workers[name].pid = c.pid or state.workers[name].pid


def _crash(state: QueueState, e: Event) -> None:
    model.LIFECYCLE[events.CRASH](state, e)
    if e.worker in state.callers:
        c = state.callers[e.worker]
        _phase(c, CRASHED)
        c.error = (e.data or {}).get("error", "")


def _step(state: QueueState, e: Event) -> None:
    data = e.data or {}
    n = int(data.get("n", 0))
    if n < state.step_n:
        return
    state.step_n, state.step_of = n, int(data.get("of", 0))
    state.step_text, state.step_note = e.item or "", data.get("note", "")
    state.step_caller = data.get("caller", "")
    name = state.step_caller
    if name:
        c = state.callers.get(name)
        if c is None:
            c = state.callers[name] = CallerView(name)
        c.step = n


def _release(state: QueueState, e: Event) -> None:
    data = e.data or {}
    took = list(data.get("took", []))
    for value in took:
        _take(state, value, e.t)
    parts = []
    if data.get("tokens"):
        parts.append(f"put None {data['tokens']}x for the waiting get()s")
    if took:
        parts.append(f"took {', '.join(map(str, took))} out for the waiting put()s")
    if parts:
        state.release_note = "Stop: main " + " and ".join(parts)
        state.release_tokens, state.release_took = int(data.get("tokens") or 0), took


fold = model.make_fold(
    {
        QUEUE_MADE: _queue_made,
        CALL: _call,
        CALL_WAIT: _call_wait,
        CALL_RETURN: _call_return,
        CALL_RAISE: _call_raise,
        CALL_RELEASED: _call_released,
        CALL_SKIPPED: _call_skipped,
        CALL_REFUSED: _call_refused,
        REAPED: _reaped,
        events.CRASH: _crash,
        STEP: _step,
        RELEASE: _release,
    },
    quiet=frozenset({TICK, events.START, events.FINISH}),
)


# The view.

CARDS = 8  # callers drawn: every waiting one, then the newest
SLOTS_DRAWN = 10


def _countdown(state: QueueState, c: CallerView) -> dict[str, Any] | None:
    if c.timeout is None:
        return None
    left = max(0.0, c.timeout - max(0.0, state.last_t - c.t_call))
    return {"left": left, "tenths": min(10, max(0, round(10 * left / c.timeout)))}


def view(state: QueueState, params: dict[str, Any]) -> dict[str, Any]:
    kind = params.get("kind", "fifo")
    capacity = int(params.get("capacity", 0))
    items = state.items()
    slots = capacity if capacity else min(SLOTS_DRAWN, max(6, len(items) + 1))
    waiting = sorted(state.waiting(), key=lambda c: c.t_call)
    newest = sorted(state.callers.values(), key=lambda c: -c.number)
    cards = [c for c in newest if c.phase == WAITING]
    cards += [c for c in newest if c.phase != WAITING][: max(0, CARDS - len(cards))]
    cards.sort(key=lambda c: -c.number)
    expr = state.expr or _expr(kind, capacity)
    return {
        "kind": kind,
        "capacity": capacity,
        "items": items[:SLOTS_DRAWN],
        "more": max(0, len(items) - SLOTS_DRAWN),
        "slots": min(slots, SLOTS_DRAWN),
        "full": bool(capacity) and len(items) >= capacity,
        "wait_put": [c for c in waiting if c.op.startswith("put")],
        "wait_get": [c for c in waiting if c.op.startswith("get")],
        "cards": cards,
        "countdown": {c.name: _countdown(state, c) for c in waiting},
        "expr": expr,
        "script": params.get("mode") == "script",
        "runbar_facts": [
            expr,
            _("lecture's example") if params.get("mode") == "script" else _("buttons"),
        ],
    }


SCRIPT = string.Template('''\
"""The queue, call by call, as concviz plays it, without the server.

q is a $expr and every call runs in $callers_words, as when a
button is pressed on the page. main makes the lecture's calls one at a time
with a pause between them, and leaves a caller that waits to wait.
Run it with: python queue_calls.py
"""

import os
import queue
import threading
import time
$imports

# Slots in the queue (0 = unbounded), the pause between two calls, and the
# calls: (op, value, timeout), the lecture's example.
CAPACITY = $capacity
PAUSE_S = $pause
CALLS = [
$calls
]


def caller(name, q, op, value, timeout, outcomes):
    """Make one call on the shared queue, and say how it went."""
    args = [] if value is None else [repr(value)]
    if timeout is not None:
        args.append(f"timeout={timeout}")
    call = f"{op}({', '.join(args)})"
    where = f"pid {os.getpid()}, thread {threading.get_native_id()}"
    print(f"{name} ({where}) calls {call}", flush=True)
    try:
        if op == "put":                   # waits while the queue is full
            q.put(value, timeout=timeout)
        elif op == "put_nowait":          # full: raises queue.Full at once
            q.put_nowait(value)
        elif op == "get":                 # waits while the queue is empty
            value = q.get(timeout=timeout)
        else:                             # empty: raises queue.Empty at once
            value = q.get_nowait()
    except (queue.Full, queue.Empty) as exc:
        outcome = f"raised queue.{type(exc).__name__}"
    else:
        outcome = f"returned {value}" if op.startswith("get") else "returned"
    print(f"{name}: {call} {outcome}", flush=True)
    outcomes.put(outcome)


if __name__ == "__main__":
    q = Kind(CAPACITY)
    outcomes = Results()                  # what each caller saw, to check
    started = []
    for n, (op, value, timeout) in enumerate(CALLS, 1):
        c = Caller(target=caller, args=(f"$prefix{n}", q, op, value, timeout, outcomes))
        c.start()
        started.append((c, op))
        time.sleep(PAUSE_S)               # a caller that waits is left waiting...
        if timeout is not None:
            c.join()                      # ...but a timeout always ends
            time.sleep(PAUSE_S)
    # With fewer slots than the lecture's 3, puts may still wait here: free
    # them as concviz frees callers at Stop, through the queue itself.
    while waiting := [op for c, op in started if c.is_alive()]:
        try:
            if waiting[0].startswith("put"):
                q.get(timeout=PAUSE_S)        # make room for a waiting put
            else:
                q.put(None, timeout=PAUSE_S)  # give a waiting get something
        except (queue.Empty, queue.Full):
            pass
    for c, _ in started:
        c.join()
    seen = [outcomes.get() for _ in started]
    returned = sum(1 for outcome in seen if outcome.startswith("returned"))
    print(f"accounting: {len(seen)} calls, {returned} returned,"
          f" {len(seen) - returned} raised, no caller left waiting")
''')

_IMPORTS = {
    "fifo": "from multiprocessing import Process as Caller, Queue as Kind\n"
    "from multiprocessing import Queue as Results",
    "lifo": "from queue import LifoQueue as Kind, Queue as Results\n"
    "from threading import Thread as Caller",
}


def script(params: dict[str, Any]) -> str:
    """The lecture's example as a plain program for these parameters: it
    runs without the server and prints what each caller saw."""
    p = Params.model_validate(params)
    calls = []
    for step in STEPS:
        timeout = (
            None if step.timeout is None else max(TIMEOUT_MIN, round(step.timeout / p.speed, 2))
        )
        calls.append(f"    ({step.op!r}, {step.value!r}, {timeout!r}),")
    return SCRIPT.substitute(
        expr=_expr(p.kind, p.capacity),
        callers_words="a new child process" if p.kind == "fifo" else "a new thread",
        imports=_IMPORTS[p.kind],
        capacity=p.capacity,
        pause=f"{PAUSE_MS / 1000 / p.speed:g}",
        calls="\n".join(calls),
        prefix="P" if p.kind == "fifo" else "T",
    )


# Where each caller is in the script, by its state.
CODE_LINES = {
    f"caller:{model.PUT_WAIT}": "q.put(value, timeout=timeout)",
    f"caller:{model.GET_WAIT}": "value = q.get(timeout=timeout)",
    f"caller:{CALLING}": "calls {call}",
}


EXPERIMENT = Experiment(
    slug=SLUG,
    title=N_("The queue, call by call"),
    summary=N_("put, get, put_nowait, get_nowait and timeouts on one bounded queue; FIFO vs LIFO."),
    lecture_part="3-4",
    params=Params,
    roles=(Role("main", "", main, fixed_name="main"),),
    program=script({}),
    script=script,
    code_lines=CODE_LINES,
    quick_params={"mode": "script", "speed": 20},
    modules=(__name__,),
    new_state=QueueState,
    fold=fold,
    frame_template="partials/queue/_frame.html",
    controls_template="partials/queue/_controls.html",
    stylesheet="experiments/queue.css",
    view=view,
    main_in_process=True,
    workers_needed=lambda params: 1 + MAX_ALIVE,
    takes_calls=True,
    call_model=Call,
    notes={"finished": N_("the lecture's example played to its end")},
    outcome_states=frozenset({RETURNED, RAISED}),
)
