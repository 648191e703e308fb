"""What a thread is (parts 8-10 of the lecture).

A process is the workshop: it holds the memory and the other resources. A
thread is one line of work inside it, and the thing the OS schedules. The
run's `main` is a real process that plays the lesson's program in three acts:

1. *Two ways to start a thread*: `Thread(target=greet)` (T1) and a subclass
   of `Thread` whose `run()` is overridden (T2). Both report the pid of the
   process they live in (main's) and a native thread id of their own.
2. *Who prints first?*: main starts a thread that writes one line and then
   writes a line itself, `repeat` times. Both lines go to the same pipe, one
   `write()` each, so the pipe's order is the order of printing. Nothing is
   traced inside the race window: the tally is what the OS and the GIL did.
3. *Memory*: a global starts at 100. A thread (T3) sets it to 10 and main
   then reads 10; a child process (P1, forked from main) sets its own copy
   to 10 and main still reads 100.
"""

from __future__ import annotations

import os
import string
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app import events, model, worker
from app.events import Event
from app.experiments.spec import Experiment, Role
from app.i18n import N_, _
from app.worker import Worker, WorkerSpec, start_process, start_thread

SLUG = "threads"

# Event kinds of this experiment.
ACT = "act"  # item: the act main begins (ways, race, memory)
SAY = "say"  # item: a line the worker printed
ROUND = "round"  # item: the round number; data: first (child | main), child_tid
X_SET = "x_set"  # item: thread | process; data: value (main sets the global)
X_SEEN = "x_seen"  # item: thread | process; data: value (a changer reads it first)
X_WROTE = "x_wrote"  # item: thread | process; data: value (a changer set it)
X_READ = "x_read"  # item: thread | process; data: value (main reads it after the join)

ACTS = ("ways", "race", "memory")
START_VALUE = 100
CHANGED_VALUE = 10

# The global the memory act changes. Main sets it back to START_VALUE before
# each half, so a preloaded or reused module cannot leave another value.
x = START_VALUE


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    repeat: int = Field(
        10,
        ge=1,
        le=100,
        title=N_("Start-order rounds"),
        description=N_("how many times main starts a thread and prints right after it"),
    )
    pause_ms: int = Field(
        250,
        ge=0,
        le=5000,
        title=N_("Pause between rounds (ms)"),
        description=N_("between two rounds; scaled by speed"),
    )
    step_ms: int = Field(
        1000,
        ge=0,
        le=10000,
        title=N_("Time per step (ms)"),
        description=N_("how long each step of acts 1 and 3 stays on screen; scaled by speed"),
    )
    speed: float = Field(
        1.0,
        ge=0.1,
        le=20.0,
        title=N_("Program speed"),
        json_schema_extra={
            "live": True,
            "description": N_("time factor for every pause and step; changes live"),
        },
    )


# Act 1: two ways to start a thread.


def greet(w: Worker) -> None:
    """T1's target, and T2's work: say hello, then stay alive for a step."""
    w.emit(SAY, f"{w.name}: hello from pid {os.getpid()}, thread {threading.get_native_id()}")
    w.sleep(w.params["step_ms"])


class Greeter(threading.Thread):
    """The second way: a subclass whose run() is what the new thread does."""

    def __init__(self, parent: Worker, name: str) -> None:
        super().__init__(name=name)
        self._spec = WorkerSpec(name, "subclass", greet, parent.params)
        self._sink = parent.sink
        self._signals = parent.signals

    def run(self) -> None:
        worker.run(self._spec, None, self._sink, self._signals)


def _join(w: Worker, handle: Any) -> None:
    """Join a thread or process, and still notice a Stop. What main said
    before goes out first: a join may block for long, and held back it
    would come after what the joined one said since."""
    w.flush()
    while handle.is_alive():
        handle.join(0.05)
        w.pacer.check()


def _report_exit(w: Worker, name: str, pid: int, exitcode: int | None) -> None:
    """What the supervisor does for main, main does for its own children:
    say that one has ended, after its last event."""
    w.flush()
    w.sink.put([(time.monotonic_ns(), name, pid, 0, events.EXIT, None, {"exitcode": exitcode})])


def two_ways(w: Worker) -> None:
    w.emit(ACT, "ways")
    t1 = start_thread(w, "T1", "target", greet)
    w.emit(SAY, "main: I started T1 and carry on")
    t2 = Greeter(w, "T2")
    w.flush()
    t2.start()
    w.emit(SAY, "main: I started T2 and carry on")
    for name, t in (("T1", t1), ("T2", t2)):
        _join(w, t)
        _report_exit(w, name, os.getpid(), None)


# Act 2: who prints first?


def _child_prints(fd: int, tids: list[int]) -> None:
    os.write(fd, b"child\n")  # print("child"): one write() of one line
    tids.append(threading.get_native_id())


def race(w: Worker) -> None:
    w.emit(ACT, "race")
    read_end, write_end = os.pipe()
    try:
        for n in range(1, w.params["repeat"] + 1):
            tids: list[int] = []
            child = threading.Thread(target=_child_prints, args=(write_end, tids), name=f"R{n}")
            w.flush()  # nothing of ours is sent during the race
            child.start()
            os.write(write_end, b"main\n")  # main prints right after start()
            child.join()
            lines = os.read(read_end, 64).decode().split()
            w.emit(
                ROUND,
                str(n),
                {"first": lines[0], "order": lines, "child_tid": tids[0] if tids else 0},
            )
            w.sleep(w.params["pause_ms"])
    finally:
        os.close(read_end)
        os.close(write_end)


# Act 3: memory.


def change_x(w: Worker) -> None:
    """Read the global, then set it to 10: in a thread of main, or in a
    child process with a copy of main's memory."""
    global x
    where = w.params["where"]
    w.emit(X_SEEN, where, {"value": x})
    w.sleep(w.params["step_ms"] / 2)
    x = CHANGED_VALUE
    w.emit(X_WROTE, where, {"value": x})
    w.sleep(w.params["step_ms"] / 2)


def memory(w: Worker) -> None:
    global x
    w.emit(ACT, "memory")
    step = w.params["step_ms"]

    x = START_VALUE
    w.emit(X_SET, "thread", {"value": x})
    w.sleep(step / 2)
    t3 = start_thread(w, "T3", "changer", change_x, params={**w.params, "where": "thread"})
    _join(w, t3)
    _report_exit(w, "T3", os.getpid(), None)
    w.emit(X_READ, "thread", {"value": x})
    w.sleep(step)

    x = START_VALUE
    w.emit(X_SET, "process", {"value": x})
    w.sleep(step / 2)
    p1 = start_process(w, "P1", "changer", change_x, params={**w.params, "where": "process"})
    try:
        _join(w, p1)
    finally:
        if p1.is_alive():  # a Stop: the child sees it too, but do not wait long
            p1.join(2.0)
            if p1.is_alive():
                p1.kill()
                p1.join()
        _report_exit(w, "P1", p1.pid or 0, p1.exitcode)
        p1.close()
    w.emit(X_READ, "process", {"value": x})


def main(w: Worker) -> None:
    two_ways(w)
    w.sleep(w.params["step_ms"])
    race(w)
    w.sleep(w.params["step_ms"])
    memory(w)


SCRIPT = string.Template('''\
"""What a thread is, as concviz runs it, without the server.

Act 1: two ways to start a thread, each saying which process (pid) and which
thread (native id) it is. Act 2: who prints first, a new thread or main,
$repeat time(s). Act 3: a thread changes a global for main; a child process
changes only its own copy. Run it with: python threads.py
"""

import os
import threading
import time
from multiprocessing import Process

REPEAT = $repeat  # rounds of "who prints first?"
PAUSE_MS = $pause_ms  # between two rounds
STEP_MS = $step_ms  # how long each step of acts 1 and 3 lasts
SPEED = $speed  # 2.0 = twice as fast

seen = {}  # who -> (pid, thread id): one dict, shared by this process's threads
x = 100  # the global of act 3


def pause(ms):
    time.sleep(ms / 1000 / SPEED)


def hello(who):
    pid, tid = os.getpid(), threading.get_native_id()
    seen[who] = (pid, tid)
    print(f"{who}: hello from pid {pid}, thread {tid}", flush=True)


# Act 1: two ways to start a thread.
def greet(who):
    hello(who)
    pause(STEP_MS)  # stay alive for a step, then end


class Greeter(threading.Thread):
    def run(self):  # way 2: start() runs this in the new thread
        greet(self.name)


def two_ways():
    hello("main")
    t1 = threading.Thread(target=greet, args=("T1",), name="T1")  # way 1
    t1.start()
    print("main: I started T1 and carry on", flush=True)
    t2 = Greeter(name="T2")
    t2.start()
    print("main: I started T2 and carry on", flush=True)
    t1.join()
    t2.join()
    print("main: T1 and T2 have ended", flush=True)


# Act 2: who prints first? Each side writes one line into the same pipe,
# so the pipe holds the lines in the order they were printed.
def child_prints(fd):
    os.write(fd, b"child\\n")  # print("child"): one write() of one line


def race():
    read_end, write_end = os.pipe()
    tally = {"child": 0, "main": 0}
    for n in range(1, REPEAT + 1):
        t = threading.Thread(target=child_prints, args=(write_end,))
        t.start()
        os.write(write_end, b"main\\n")  # main prints right after start()
        t.join()
        first, then = os.read(read_end, 64).decode().split()
        tally[first] += 1
        print(f"round {n}: {first} printed first, then {then}", flush=True)
        pause(PAUSE_MS)
    os.close(read_end)
    os.close(write_end)
    print(f"tally: child first {tally['child']}, main first {tally['main']}",
          flush=True)
    return tally


# Act 3: memory. A thread shares main's memory; a child process has its own.
def change_x(who):
    global x
    pid, tid = os.getpid(), threading.get_native_id()
    print(f"{who} (pid {pid}, thread {tid}) reads x = {x}", flush=True)
    pause(STEP_MS / 2)
    x = 10  # main's x, from a thread; its own copy, from a child process
    print(f"{who} sets x = {x}", flush=True)
    pause(STEP_MS / 2)


def memory():
    global x
    x = 100
    print("main sets x = 100", flush=True)
    pause(STEP_MS / 2)
    t3 = threading.Thread(target=change_x, args=("T3",), name="T3")
    t3.start()
    t3.join()
    after_thread = x
    print(f"main reads x = {x} after the thread T3", flush=True)  # 10
    pause(STEP_MS)

    x = 100
    print("main sets x = 100", flush=True)
    pause(STEP_MS / 2)
    # On Linux the child process is a fork: it starts with a copy of main's memory.
    p1 = Process(target=change_x, args=("P1",), name="P1")
    p1.start()
    p1.join()
    print(f"main reads x = {x} after the child process P1", flush=True)  # still 100
    assert p1.exitcode == 0 and p1.pid != os.getpid()
    return after_thread, x


if __name__ == "__main__":
    two_ways()
    pause(STEP_MS)
    tally = race()
    pause(STEP_MS)
    after_thread, after_process = memory()
    pid = os.getpid()
    assert seen["T1"][0] == seen["T2"][0] == pid  # one process...
    assert len({tid for _, tid in seen.values()}) == 3  # ...three threads
    assert tally["child"] + tally["main"] == REPEAT
    assert (after_thread, after_process) == (10, 100)
    print(f"accounting: main, T1 and T2 in pid {pid} with 3 thread ids;"
          f" {REPEAT} round(s), child first {tally['child']},"
          f" main first {tally['main']};"
          f" x = {after_thread} after the thread, {after_process} after the process")
''')


def script(params: dict[str, Any]) -> str:
    """The plain program for these parameters: it runs without the server,
    prints the same three acts and ends with an accounting line."""
    p = Params.model_validate(params)
    return SCRIPT.substitute(
        repeat=p.repeat, pause_ms=p.pause_ms, step_ms=p.step_ms, speed=f"{p.speed:g}"
    )


# Where each worker is in the script. The fold gives workers only the
# lifecycle states: each is "starting" from its start to its end, when it is
# "finished" (on no line). So a worker is on the line where it spends its
# life; main, whose act the state does not tell, on the program it runs.
CODE_LINES = {
    "main:starting": 'if __name__ == "__main__":',
    "target:starting": "pause(STEP_MS)  # stay alive",
    "subclass:starting": "greet(self.name)",
    "changer:starting": "x = 10  #",
}


# The view state.


@dataclass
class MemorySide:
    """One half of act 3: main sets the global, a changer (thread or
    process) changes it, main reads it back."""

    set_to: int | None = None
    changer: str = ""
    changer_pid: int = 0
    changer_tid: int = 0
    seen: int | None = None  # what the changer read before writing
    wrote: int | None = None
    main_read: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "set_to": self.set_to,
            "changer": self.changer,
            "changer_pid": self.changer_pid,
            "changer_tid": self.changer_tid,
            "child_saw": self.seen,
            "child_wrote": self.wrote,
            "main_read": self.main_read,
        }


@dataclass
class Line:
    seq: int
    t: float
    worker: str
    text: str


@dataclass
class ThreadsState(model.RunState):
    act: str = ""
    rounds: dict[int, str] = field(default_factory=dict)  # round -> who printed first
    round_tids: dict[int, int] = field(default_factory=dict)
    memory: dict[str, MemorySide] = field(
        default_factory=lambda: {"thread": MemorySide(), "process": MemorySide()}
    )
    console: deque[Line] = field(default_factory=lambda: deque(maxlen=8))

    @property
    def child_first(self) -> int:
        return sum(1 for first in self.rounds.values() if first == "child")

    @property
    def main_first(self) -> int:
        return sum(1 for first in self.rounds.values() if first == "main")

    def counters(self) -> dict[str, Any]:
        return {
            "rounds": len(self.rounds),
            "child_first": self.child_first,
            "main_first": self.main_first,
        }

    def extras(self) -> dict[str, Any]:
        return {
            "tally": {
                "rounds": len(self.rounds),
                "child_first": self.child_first,
                "main_first": self.main_first,
            },
            "memory": {mode: side.to_dict() for mode, side in self.memory.items()},
        }


def _run_start(state: ThreadsState, e: Event) -> None:
    model.LIFECYCLE[events.RUN_START](state, e)
    # main runs in a process of its own, but this lesson runs threads and one
    # child process, which the view says in words (RUNS), not as a backend.
    state.backend = ""


def _act(state: ThreadsState, e: Event) -> None:
    if e.item in ACTS and ACTS.index(e.item) >= ACTS.index(state.act or "ways"):
        state.act = e.item


def _say(state: ThreadsState, e: Event) -> None:
    model.log_in_time_order(state.console, Line(e.seq, e.t, e.worker, e.item or ""))


def _round(state: ThreadsState, e: Event) -> None:
    data = e.data or {}
    n = int(e.item or 0)
    state.rounds[n] = data.get("first", "")
    state.round_tids[n] = int(data.get("child_tid", 0))


def _side(state: ThreadsState, e: Event) -> MemorySide | None:
    return state.memory.get(e.item or "")


def _x_set(state: ThreadsState, e: Event) -> None:
    side = _side(state, e)
    if side is not None:
        side.set_to = (e.data or {}).get("value")


def _changer(state: ThreadsState, e: Event) -> MemorySide | None:
    side = _side(state, e)
    if side is not None:
        side.changer, side.changer_pid, side.changer_tid = e.worker, e.pid, e.tid
    return side


def _x_seen(state: ThreadsState, e: Event) -> None:
    side = _changer(state, e)
    if side is not None:
        side.seen = (e.data or {}).get("value")


def _x_wrote(state: ThreadsState, e: Event) -> None:
    side = _changer(state, e)
    if side is not None:
        side.wrote = (e.data or {}).get("value")


def _x_read(state: ThreadsState, e: Event) -> None:
    side = _side(state, e)
    if side is not None:
        side.main_read = (e.data or {}).get("value")


fold = model.make_fold(
    {
        events.RUN_START: _run_start,
        ACT: _act,
        SAY: _say,
        ROUND: _round,
        X_SET: _x_set,
        X_SEEN: _x_seen,
        X_WROTE: _x_wrote,
        X_READ: _x_read,
    },
    quiet=frozenset({ROUND}),
)


def fold_all(evs: list[Event]) -> ThreadsState:
    state = ThreadsState()
    for e in evs:
        fold(state, e)
    return state


# The view: what the templates need, derived from the state alone.

# What the lesson runs: main's process, threads in it, and one child process.
RUNS = N_("threads of one process, and one child process")

# name, how it was started (the pieces of code between which a line may
# break), and in words.
WAYS = (
    ("main", (N_("the main thread"),), N_("started by the OS with the process")),
    ("T1", ("Thread(", "target=greet)"), N_("way 1: a function to run")),
    ("T2", ("class Greeter(Thread):", " run()"), N_("way 2: a subclass")),
)


def view(state: ThreadsState, params: dict[str, Any]) -> dict[str, Any]:
    main_w = state.workers.get("main")
    cards = []
    for name, how, way in WAYS:
        w = state.workers.get(name)
        cards.append(
            {
                "name": name,
                # main's "how" is words; the others' are code, shown as is
                "how": tuple(_(part) for part in how) if name == "main" else how,
                "way": _(way),
                "w": w,
                "same_pid": bool(w and main_w and w.pid == main_w.pid),
                "own_tid": bool(w and main_w and w.tid and w.tid != main_w.tid),
            }
        )
    repeat = int(params.get("repeat", 0))
    rounds = [(n, state.rounds[n]) for n in sorted(state.rounds)]
    tids = set(state.round_tids.values()) - {0}
    main_pid = main_w.pid if main_w else 0
    sides = []
    for mode in ("thread", "process"):
        side = state.memory[mode]
        changer = state.workers.get(side.changer) if side.changer else None
        sides.append(
            {
                "mode": mode,
                "side": side,
                "changer": changer,
                "same_pid": bool(changer and changer.pid == main_pid),
            }
        )
    return {
        "cards": cards,
        "main_w": main_w,
        "repeat": repeat,
        "rounds": rounds,
        "round_tids": len(tids),
        "child_pct": round(100 * state.child_first / len(rounds)) if rounds else 0,
        "sides": sides,
        "console": list(state.console),
        "runbar_facts": [_(RUNS), _("%(n)s rounds") % {"n": repeat}],
    }


EXPERIMENT = Experiment(
    slug=SLUG,
    title=N_("What a thread is"),
    summary=N_("Two ways to start a thread; threads share a global, a child process does not."),
    lecture_part="8-10",
    params=Params,
    roles=(Role("main", "main", main, fixed_name="main"),),
    program=script({}),
    script=script,
    code_lines=CODE_LINES,
    quick_params={"repeat": 10, "pause_ms": 20, "step_ms": 200, "speed": 20},
    modules=(__name__,),
    new_state=ThreadsState,
    fold=fold,
    frame_template="partials/threads/_frame.html",
    stylesheet="experiments/threads.css",
    controls_template="partials/threads/_controls.html",
    view=view,
    main_in_process=True,
    workers_needed=lambda params: 3,  # main and its two threads
    notes={"finished": N_("main's program ran to its end")},
)
