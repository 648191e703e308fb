"""What a traced program's stage is made of: its processes, threads and
objects as the fold (`app.programs.model`) keeps them, and the states a
thread can be in."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from app.i18n import _
from app.model import RunState, WorkerView
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.calls import written
from app.programs.redis_state import RedisView

CONSOLE_LINES = 400
ITEMS_SHOWN = 64  # items kept per queue for the picture; the size is exact
TASKS_KEPT = 200
# A pool's task whose worker's process ended while it ran, one whose
# future was cancelled before it ran, and one its pool was terminated
# before it ran.
LOST = "lost"
CANCELLED = "cancelled"
NEVER_RAN = "never_ran"


# A Redis stream entry of one field, as the tracer shows it: its value.
_ONE_FIELD = re.compile(r"""^\{'[^']*': '([^']*)'\}$""")


def item_text(v: Any) -> str:
    """An item as the program wrote it: the tracer sends its repr."""
    text = str(v if v is not None else "")
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


# Thread states, as the timeline colours them.
RUNNING = "running"
HELD = "held"  # on the timeline: running, held by step mode until the class's permit
SLEEPING = "sleeping"
PUT_WAIT = "put_wait"
GET_WAIT = "get_wait"
BLOCKED = "blocked"
FINISHED = "finished"
CRASHED = "crashed"
KILLED = "killed"
CUT_OFF = "cut_off"
# A thread its process did not wait for, though no daemon (os._exit).
ENDED_WITH = "ended_with_process"
# A pool's worker that its pool's terminate() ended (the end of a `with Pool()`).
POOL_ENDED = "ended_by_pool"
OVER = frozenset({FINISHED, CRASHED, KILLED, CUT_OFF, ENDED_WITH, POOL_ENDED})

# The runtime's own kinds.
QUIET = "quiet"  # data: s, the seconds without an event
LIMIT = "limit"  # data: limit, value (a limit was reached; the run stops)
RAW_OUT = "raw_out"  # data: stream, text (a line written past Python, `app.programs.output`)
STALLS = "stalls"  # data: stalls (threads that wait in the kernel, `app.programs.stalls`)


@dataclass
class ThreadView(WorkerView):
    """A thread of the program (`WorkerView`, plus where it is and what it waits for)."""

    thread_name: str = ""
    proc_name: str = ""
    main_thread: bool = False
    daemon: bool = False
    line: int | None = None
    file: str = ""
    # What it waits for: the call ("get", "put", "acquire", "join", ...), the
    # object's key or the joined worker's name, and the timeout (None: none).
    op: str = ""
    on: str = ""
    timeout: float | None = None
    awaits: str = ""  # a wait for a pool's result: its task (a map's: their base)
    sleep_s: float = 0.0
    # A wait in the kernel that the tracer does not see, as the runtime last
    # sampled it (`app.programs.stalls`), while the thread is otherwise
    # running; its next event after `stall_t` clears it.
    stall: dict[str, Any] | None = None
    stall_t: float = 0.0
    cancelled: bool = False  # a threading.Timer cancelled before its function ran

    @property
    def held(self) -> bool:
        """Step mode holds it: it has run up to its next action (`wants`),
        and waits there for the class's permit."""
        return self.wants is not None and self.state == RUNNING


@dataclass
class ProcView:
    pid: int
    name: str  # as its parent's label says it (the user's variable), else its own
    own_name: str = ""  # its name (Process-2), where the user's variable names it
    ppid: int = 0
    main: bool = False
    method: str = ""
    daemon: bool = False
    alive: bool = True
    exitcode: int | None = None
    signal: str = ""
    cut_off: bool = False
    # Still there when the run ended (a Stop, a limit, orphans of a main
    # that ended): concviz ended it, and its exit status went to nobody here.
    with_run: bool = False
    code_ended: bool = False  # its main code ran to its end; it waits to exit
    os_fork: bool = False  # a child of the user's os.fork(): os._exit() is its way to end
    pool: str = ""  # the key of the pool whose worker it is
    pool_ended: bool = False  # ended by that pool's terminate() (SIGTERM)
    since: float = 0.0
    manager: bool = False  # a Manager()'s server: it holds the objects, says nothing
    command: str = ""  # the command it runs, if the user's code ran one (subprocess)
    signals: set[str] = field(default_factory=set)  # those its user's code handles
    event_loop: int | None = None  # the line that started its asyncio loop, if one runs
    stall: dict[str, Any] | None = None  # an untraced command's wait in the kernel


@dataclass
class SegmentView:
    """A shared memory segment's: its name in /dev/shm, its size in bytes,
    the processes that map it (pid -> since when) and how many handles of
    it each has open, and whether its name is gone (`app.programs.folds.shm`)."""

    name: str
    size: int = 0
    mapped: dict[int, float] = field(default_factory=dict)
    handles: dict[int, int] = field(default_factory=dict)
    unlinked: bool = False


@dataclass
class ObjView:
    key: str
    type: str
    lib: str
    name: str
    line: int | None = None
    maxsize: int = 0
    # A forked child's copy of a threading lock, locked at the fork by a
    # thread the child does not have (till a thread of its own releases it).
    locked_at_fork: bool = False
    copy_in: str = ""  # the process whose copy of a threading lock it is, if it is one
    items: deque[str] = field(default_factory=deque)
    size: int = 0
    early: dict[str, int] = field(default_factory=dict)  # gets before their puts
    puts: int = 0
    gets: int = 0
    unfinished: int = 0
    tasks_counted: bool = False  # its task_done() or join() was called
    owner: str = ""  # a lock's holder (a worker's name)
    depth: int = 0  # an RLock's
    holders: list[str] = field(default_factory=list)  # a semaphore's
    # A semaphore one thread releases and others take (a signal, as in a
    # bounded buffer's "full" and "empty"): no one holds it.
    signals: bool = False
    value: int | None = None
    # A Value's or Array's lock: what it guards ("counter.value") and what
    # that held when the lock was last let go.
    guards: str = ""
    shows: str | None = None
    is_set: bool = False
    parties: int = 0
    waiting: int = 0
    broken: bool = False  # a barrier's: aborted, or a wait on it timed out
    peer: str = ""
    # A pool's latest tasks, id: its function (its call, once it runs: "f(7)"),
    # state, who runs or ran it; and how many were given to it and ended, ever.
    tasks: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    task_errors: dict[str, str] = field(default_factory=dict)  # a failed task's exception
    tasks_given: int = 0
    tasks_done: int = 0
    tasks_failed: int = 0
    workers: int = 0  # a pool's size: the most workers it runs at once
    terminated: bool = False  # a pool's: Pool.terminate(), no task starts any more
    never_ran: int = 0  # the tasks it had not started when it was terminated
    redis: RedisView | None = None  # a Redis list's or stream's
    # A socket's: AF_INET, AF_UNIX...; its address and its other end's
    # ("127.0.0.1:5000", a path, or "": none, as an end of a socket pair).
    family: str = ""
    local: str = ""
    remote: str = ""
    segment: SegmentView | None = None  # a shared memory segment's

    @property
    def label(self) -> str:
        """Its name on the page, in the reader's language."""
        if not self.copy_in:
            return self.name
        return _("%(name)s (%(proc)s's copy)") % {"name": self.name, "proc": self.copy_in}

    @property
    def pair_end(self) -> bool:
        """An end of a socket pair: a Unix socket with no address at either end."""
        return self.family == "AF_UNIX" and not self.local and not self.remote

    @property
    def feeds(self) -> bool:
        """A multiprocessing queue with a feeder thread: a process that put
        in it waits at its exit until what it put is in the queue's pipe."""
        return self.lib == "multiprocessing" and self.type in ("Queue", "JoinableQueue")

    @property
    def shows_unfinished(self) -> bool:
        """Its unfinished tasks are worth a tag: a JoinableQueue's, or a
        queue's whose task_done() or join() the program uses."""
        return self.counts_tasks and (self.type == "JoinableQueue" or self.tasks_counted)

    @property
    def counts_tasks(self) -> bool:
        """A queue that counts unfinished tasks (task_done, join): queue's
        and multiprocessing's JoinableQueue; a manager's are queue's."""
        if self.type == "JoinableQueue":
            return True
        counting = ("Queue", "LifoQueue", "PriorityQueue")
        return self.lib in ("queue", "Manager") and self.type in counting

    @property
    def kind(self) -> str:
        """queue, lock, semaphore, event, condition, barrier, pipe, pool,
        socket, shm, or value (a Manager's object that holds values)."""
        t = self.type
        if t.endswith("Queue"):
            return "queue"
        if t in ("Lock", "RLock"):
            return "lock"
        if t.endswith("Semaphore"):
            return "semaphore"
        if t == "Connection":
            return "pipe"
        if t in ("Pool", "ProcessPoolExecutor", "ThreadPoolExecutor"):
            return "pool"
        if t in ("SharedMemory", "ShareableList"):
            return "shm"
        if self.lib == "Manager" and t in K.MANAGER_VALUES:
            return "value"
        return t.lower()


@dataclass(slots=True)
class Journey:
    """One item's way through a queue (`app.programs.journeys`; times in
    seconds since the run started)."""

    item: str
    queue: str = ""  # the name of the queue or pipe it went through
    producer: str = ""
    made: float | None = None  # started making it (a lesson's word)
    put: float | None = None  # in the queue
    consumer: str = ""
    got: float | None = None  # taken out
    done: float | None = None  # its taker moved on
    # A Redis stream's entry taken over from a consumer that held it too
    # long (XAUTOCLAIM, XCLAIM): (when, by whom, from whom), in order.
    claims: tuple[tuple[float, str, str], ...] = ()

    @property
    def waited(self) -> float | None:
        return self.got - self.put if self.got is not None and self.put is not None else None

    @property
    def label(self) -> str:
        """The item in a few words: a stream entry of one field
        (``{'item': 'P1#3'}``) by its value."""
        m = _ONE_FIELD.match(self.item)
        return m.group(1) if m else self.item


@dataclass
class ConsoleLine:
    t: float
    worker: str
    stream: str  # stdout, stderr, or note (said by concviz, not the program)
    text: str
    # Not the program's screen: what the stream goes into ("pipe": its
    # parent reads it; "file", "socket", "devnull").
    into: str = ""


@dataclass
class Partial:
    """A line begun and not ended yet, and who wrote on it, in order."""

    writers: list[str]
    text: str = ""
    # Its beginning is on the console already (a prompt, shown as input()
    # met the end of input): the newline that ends it there adds no line.
    shown: bool = False

    @property
    def worker(self) -> str:
        """Who the line is said to be of: its writer, or all of them."""
        return ", ".join(self.writers)


@dataclass
class ProgramState(RunState):
    procs: dict[int, ProcView] = field(default_factory=dict)
    objs: dict[str, ObjView] = field(default_factory=dict)
    # (pid, tid) -> the worker's unique name
    names: dict[tuple[int, int], str] = field(default_factory=dict)
    console: deque[ConsoleLine] = field(default_factory=lambda: deque(maxlen=CONSOLE_LINES))
    console_total: int = 0  # every console line so far: the console keeps the latest
    # Unfinished lines, by stream, what it goes into and, unless that is the
    # screen (which every thread and process writes on), the process: each
    # with who wrote on it so far.
    partial: dict[tuple[str, str, int], Partial] = field(default_factory=dict)
    # The lines the latest event completed (a lesson's overlay reads what
    # its program prints from here).
    printed: list[ConsoleLine] = field(default_factory=list)
    output_bytes: int = 0
    lost: int = 0
    quiet: bool = False  # nothing has happened for a while
    # The runtime's last sample of waits in the kernel, by process: each of
    # its threads' waits (`app.programs.stalls`), traced or not.
    kernel: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    # What the hang diagnosis said when the program last went quiet stuck,
    # until a worker moves again (`app.programs.diagnosis.said`).
    stuck_at_end: list[Any] = field(default_factory=list)
    # And a deadlock of some workers while the rest went on, until one of
    # them moves (`deadlocked`: its workers).
    deadlock_at_end: list[Any] = field(default_factory=list)
    deadlocked: set[str] = field(default_factory=set)
    limit: str = ""
    # Items' journeys (the latest JOURNEYS_KEPT), what each worker took and
    # has not moved on from, and the items the latest event finished with.
    journeys: dict[str, Journey] = field(default_factory=dict)
    holding: dict[str, Journey] = field(default_factory=dict)
    finished_with: list[Journey] = field(default_factory=list)

    def threads(self) -> list[ThreadView]:
        return [w for w in self.workers.values() if isinstance(w, ThreadView)]

    def thread(self, name: str) -> ThreadView | None:
        """The thread the stage shows under this name, if there is one."""
        w = self.workers.get(name)
        return w if isinstance(w, ThreadView) else None

    def main(self) -> ThreadView | None:
        return self.thread("main")

    def live_threads(self) -> list[ThreadView]:
        return [w for w in self.threads() if w.alive and w.state not in OVER]

    def proc_label(self, pid: int) -> str:
        """The name the stage gives the process `pid`: its main thread's."""
        for w in self.threads():
            if w.pid == pid and w.main_thread:
                return w.name
        p = self.procs.get(pid)
        return p.name if p is not None else f"pid {pid}"

    def mapping(self, seg: SegmentView) -> list[int]:
        """The live processes that map the segment `seg`."""
        return [pid for pid in seg.mapped if (p := self.procs.get(pid)) is None or p.alive]

    def obj_name(self, key: str) -> str:
        obj = self.objs.get(key)
        return obj.label if obj is not None else key

    def wanted_call(self, w: ThreadView) -> str:
        """The call `w` waits in step mode to make, as `written` says it."""
        op, item = w.wants or ("", None)
        return written(op, self.obj_name(item) if item else "")

    def counters(self) -> dict[str, Any]:
        return {
            "processes": sum(1 for p in self.procs.values() if p.alive),
            "threads": len(self.live_threads()),
            "blocked": sum(1 for w in self.live_threads() if w.op),
            "objects": len(self.objs),
            "output_bytes": self.output_bytes,
            "lost": self.lost,
            **self.lesson_counters(),
        }

    def lesson_counters(self) -> dict[str, Any]:
        """A lesson's own counters, after the program's (its overlay's state)."""
        return {}

    def lesson(self) -> dict[str, Any] | None:
        """A lesson's own fields of the run object, all under its "lesson"
        key (its overlay's state); None for a program that is no lesson."""
        return None

    def extras(self) -> dict[str, Any]:
        from app.programs.runjson import extras  # it reads this module's types

        return extras(self)
