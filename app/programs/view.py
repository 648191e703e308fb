"""What a program's stage shows, from its folded state (pure).

Processes as boxes with their threads inside (the program's first process
first, each child after its parent), the program's objects by kind with who
waits on them (Redis lists and streams: `redis_view`), the source with
every thread on its current line, the console with each line in its
thread's colour, and the hang diagnosis.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from app.codeview import CodeLine
from app.i18n import N_, _
from app.programs import redis_view
from app.programs.calls import as_on_line
from app.programs.diagnosis import said
from app.programs.redis_state import RedisView
from app.programs.state import (
    BLOCKED,
    CANCELLED,
    LOST,
    NEVER_RAN,
    ConsoleLine,
    ObjView,
    ProcView,
    ProgramState,
    ThreadView,
)

CONSOLE_SHOWN = 40
COLOURS = 8  # worker colours, wc-0 .. wc-7 in the stylesheet
ITEMS_DRAWN = 12  # a queue's items drawn; past that, a count
TASKS_SHOWN = 8
ENDED_DRAWN = 12  # ended processes drawn (the latest); past that, a count


@dataclass
class Box:
    proc: ProcView
    threads: list[ThreadView]
    parent: str  # the name of the process that started it ("" for the first)

    @property
    def name(self) -> str:
        """Its main thread's label, as the console and the timeline say it
        (three processes named "worker" are worker, worker #2, worker #3)."""
        main = next((w for w in self.threads if w.main_thread), None)
        return main.name if main is not None else shown_name(self.proc)


@dataclass
class Waiter:
    worker: str
    op: str
    colour: int
    end: str = ""  # the end of a Redis list it waits at


@dataclass
class ObjBox:
    obj: ObjView
    waiters: list[Waiter] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    more: int = 0  # items not drawn
    # A pool's latest: its call, state, its words, and who runs or ran it.
    tasks: list[tuple[str, str, str, str]] = field(default_factory=list)
    tasks_more: int = 0  # a pool's tasks not listed
    groups: list[redis_view.GroupBox] = field(default_factory=list)  # a Redis stream's
    mapped: list[str] = field(default_factory=list)  # a shared memory segment's processes


def colours(state: ProgramState) -> dict[str, int]:
    """Each worker's colour, by order of appearance: stable through a run."""
    return {name: i % COLOURS for i, name in enumerate(state.workers)}


def shown_name(p: ProcView) -> str:
    """The program's first process is `main`, as its events call it."""
    return "main" if p.main and p.name == "MainProcess" else p.name


def boxes(state: ProgramState) -> list[Box]:
    by_parent: dict[int, list[ProcView]] = {}
    pids = set(state.procs)
    roots = []
    for p in state.procs.values():
        if p.ppid in pids and p.ppid != p.pid:
            by_parent.setdefault(p.ppid, []).append(p)
        else:
            roots.append(p)
    threads: dict[int, list[ThreadView]] = {}
    for w in state.threads():
        threads.setdefault(w.pid, []).append(w)
    out: list[Box] = []

    def walk(p: ProcView, parent: str) -> None:
        # Main thread first, then in the order they were born (`since` moves
        # with each change of state: cards would change places every frame).
        ts = sorted(threads.get(p.pid, []), key=lambda w: not w.main_thread)
        box = Box(p, ts, parent)
        out.append(box)
        for child in by_parent.get(p.pid, []):
            walk(child, box.name)

    for root in sorted(roots, key=lambda p: (not p.main, p.since)):
        walk(root, "")
    # Threads whose process never announced itself (it was killed first).
    for pid, ts in threads.items():
        if pid not in pids:
            out.append(Box(ProcView(pid, ts[0].proc_name or str(pid), alive=False), ts, ""))
    return out


def drawn(all_boxes: list[Box]) -> tuple[list[Box], int]:
    """The boxes drawn: every live process, the program's first, and the
    latest ENDED_DRAWN of the others that ended (a pool that replaces dying
    workers for ever makes hundreds); and how many are left out."""
    ended = [b for b in all_boxes if not b.proc.alive and not b.proc.main]
    if len(ended) <= ENDED_DRAWN:
        return all_boxes, 0
    out = {id(b) for b in sorted(ended, key=lambda b: b.proc.since)[:-ENDED_DRAWN]}
    return [b for b in all_boxes if id(b) not in out], len(out)


def objects(state: ProgramState, colour: dict[str, int]) -> dict[str, list[ObjBox]]:
    waiters: dict[str, list[Waiter]] = {}
    for w in state.live_threads():
        if w.op and w.on:
            waiters.setdefault(w.on, []).append(Waiter(w.name, w.op, colour.get(w.name, 0)))
    out: dict[str, list[ObjBox]] = {}
    for obj in state.objs.values():
        if obj.kind == "pipe" and obj.peer and obj.peer in state.objs and obj.key > obj.peer:
            continue  # a pipe is drawn once, from its first end
        box = ObjBox(obj, list(waiters.get(obj.key, [])))
        items = out_order(obj.type, obj.items)
        size = obj.size
        if obj.kind == "pipe" and obj.peer in state.objs:
            box.waiters += waiters.get(obj.peer, [])
            items += state.objs[obj.peer].items
            size = len(items)
        box.items = items[:ITEMS_DRAWN]
        box.more = max(0, max(len(items), size) - len(box.items))
        # The latest first, in the order they were given to the pool.
        latest = sorted(obj.tasks, key=_task_order)[-TASKS_SHOWN:][::-1]
        box.tasks = [
            (fn, st, _task_words(st, obj.task_errors.get(task)), where)
            for task, (fn, st, where) in ((task, obj.tasks[task]) for task in latest)
        ]
        box.tasks_more = max(0, obj.tasks_given - len(box.tasks))
        if obj.redis is not None:
            _redis(state, box, obj.redis, colour)
        if obj.segment is not None:
            box.mapped = [state.proc_label(pid) for pid in state.mapping(obj.segment)]
        out.setdefault(obj.kind, []).append(box)
    return out


def out_order(kind: str, items: Iterable[str]) -> list[str]:
    """A queue's items (shown as they came) in the order they will leave,
    the next one first: a LifoQueue's newest first, a PriorityQueue's least
    first when every item reads back as a value that compares (their
    reprs: numbers, strings, tuples of them), else as they came."""
    if kind == "LifoQueue":
        return list(reversed(list(items)))
    items = list(items)
    if kind != "PriorityQueue" or len(items) < 2:
        return items
    try:
        return sorted(items, key=_value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return items


@functools.lru_cache(maxsize=1024)
def _value(text: str) -> Any:
    return ast.literal_eval(text)


def _redis(state: ProgramState, box: ObjBox, rv: RedisView, colour: dict[str, int]) -> None:
    """A Redis list's waiters at their ends; a stream's backlog and groups."""
    for wt in box.waiters:
        wt.end = redis_view.ends(rv, wt.worker)
    if rv.groups:
        items = redis_view.backlog(rv)
        box.items = items[:ITEMS_DRAWN]
        box.more = len(items) - len(box.items)
        box.groups = redis_view.groups(state, rv, colour)


@functools.lru_cache(maxsize=8)
def _lines(source: str) -> tuple[str, ...]:
    """The source's lines, split once per program, not with every frame."""
    return tuple(source.splitlines())


def code(source: str, state: ProgramState) -> list[CodeLine]:
    lines = [CodeLine(i + 1, text) for i, text in enumerate(_lines(source))]
    for w in state.live_threads():
        if w.line and not w.file and 0 < w.line <= len(lines):
            lines[w.line - 1].workers.append(w.name)
    return lines


def stall_words(stall: dict[str, Any]) -> str:
    """A wait in the kernel (`app.programs.stalls`), in the reader's language."""
    wait = stall.get("wait")
    if wait == "child":
        child = int(stall.get("child", -1))
        if child > 0:
            return _("waiting for process %(pid)s to end (in C code)") % {"pid": child}
        return _("waiting for a child process to end (in C code)")
    if wait == "poll":
        return _("waiting in %(call)s() for input or output (in C code)") % {"call": stall["call"]}
    if wait == "accept":
        return _("waiting for a connection (in C code)")
    if wait == "connect":
        return _("waiting to connect (in C code)")
    if wait == "open":
        return _("waiting to open a file (in C code): a named pipe opens once its other end does")
    if wait == "sleep":
        return _("sleeping (in C code)")
    files = {
        "pipe": _("a pipe"),
        "socket": _("a socket"),
        "tty": _("the terminal"),
        "fifo": _("a named pipe"),
    }
    what = files.get(str(stall.get("file")), _("a file"))
    if stall.get("std"):
        what = _("its %(stream)s, %(file)s") % {"stream": stall["std"], "file": what}
    if wait == "read":
        return _("waiting to read %(what)s: it is empty for now (in C code)") % {"what": what}
    if stall.get("file") == "pipe":
        return _("waiting to write to %(what)s: it is full (in C code)") % {"what": what}
    if stall.get("file") == "socket":
        return _("waiting to write to %(what)s: the other end does not read (in C code)") % {
            "what": what
        }
    return _("waiting to write to %(what)s (in C code)") % {"what": what}


def doing(state: ProgramState, w: ThreadView) -> str:
    """What a thread does now, in the reader's language."""
    if w.stall is not None and w.alive and w.state == BLOCKED:
        return stall_words(w.stall)
    if w.alive and w.held:  # as its timeline lane says
        return _("held: waits for the class's go-ahead")
    target = state.obj_name(w.on)
    words = {
        "get": _("waiting in %(obj)s.get(): it is empty"),
        "put": _("waiting in %(obj)s.put(): it is full"),
        "qjoin": _("waiting in %(obj)s.join() for unfinished tasks"),
        "acquire": _("waiting to acquire %(obj)s"),
        "join": _("waiting for %(obj)s to end (join)"),
        "exit": _("code done; waiting for its other threads and processes"),
        "wait": _("waiting for %(obj)s to be set"),
        "cwait": _("waiting on %(obj)s"),
        "bwait": _("waiting at %(obj)s"),
        "recv": _("waiting in %(obj)s.recv()"),
        "recv_bytes": _("waiting in %(obj)s.recv_bytes()"),
        "send": _("waiting in %(obj)s.send() for the other end to read"),
        "send_bytes": _("waiting in %(obj)s.send_bytes() for the other end to read"),
        "result": _("waiting for a result from %(obj)s"),
        "work": _("waiting for a task from %(obj)s"),
        "loop": _("in its asyncio event loop, which has nothing to run"),
        "loop_io": _("in its asyncio event loop, waiting for input or output"),
        "loop_timer": _("in its asyncio event loop, waiting for its next timer"),
        "accept": _("waiting in %(obj)s.accept() for a connection"),
        "sock_read": _("waiting in %(obj)s.recv(): nothing has come yet"),
        "sock_write": _("waiting in %(obj)s.sendall(): the other end does not read"),
        "pipe_read": _("waiting in os.read() on a pipe: nothing has come yet"),
        "pipe_write": _("waiting in os.write() to a pipe: it is full"),
        "fd_read": _("waiting in os.read(): nothing has come yet"),
        "fd_write": _("waiting in os.write(): no room yet"),
        "select": _("waiting in select() for input or output"),
        "input": _("waiting in input(): nothing has come yet"),
    }
    obj = state.objs.get(w.on)
    if w.op == "get" and obj is not None and obj.lib == "redis":
        words["get"] = (
            _("waiting for a new entry of %(obj)s (a Redis stream)")
            if obj.type == "RedisStream"
            else _("waiting in %(obj)s (a Redis list): it is empty")
        )
    if w.op == "exit":
        waited = _exit_waits_for(state, w)
        if waited:
            return _("code done; waiting for %(obj)s to end") % {"obj": waited}
    if w.op in words:
        text = words[w.op] % {"obj": target}  # a join's: a worker's label, or a pool's name
        if w.timeout is not None:
            text += " " + _("(timeout %(s)s s)") % {"s": f"{w.timeout:g}"}
        return text
    if w.cancelled and w.state == "finished":
        return _("cancelled: its function never ran (Timer.cancel())")
    states = {
        "running": _("running"),
        "sleeping": _("sleeping %(s)s s") % {"s": f"{w.sleep_s:g}"},
        "finished": _("finished"),
        "crashed": _("crashed"),
        "killed": _("killed"),
        "cut_off": _("cut off (daemon)"),
        "ended_with_process": _("ended unfinished with its process (os._exit waits for no thread)"),
        "ended_by_pool": _("ended by its pool's terminate()"),
    }
    return states.get(w.state, w.state)


def _exit_waits_for(state: ProgramState, w: ThreadView) -> str:
    """Who a process whose main code is done waits for before it exits, as
    Python's exit does: its threads that are no daemons, its children that
    are none ("" if the stage shows none: a queue's feeder is not drawn)."""
    threads = [
        t.name for t in state.live_threads() if t.pid == w.pid and t is not w and not t.daemon
    ]
    children = [
        state.proc_label(p.pid)
        for p in state.procs.values()
        if p.alive and p.ppid == w.pid and not p.daemon and not p.manager
    ]
    return ", ".join(threads + children)


# What became of a pool's task.
TASK_WORDS = {
    "queued": N_("queued"),
    "running": N_("running"),
    "done": N_("done"),
    "failed": N_("failed"),
    LOST: N_("not finished: its worker's process ended"),
    CANCELLED: N_("cancelled"),
    NEVER_RAN: N_("never ran: its pool was terminated"),
}


def _task_words(st: str, error: str | None) -> str:
    """What became of a task; a failed one's with its exception."""
    words = _(TASK_WORDS.get(st, st))
    if st != "failed" or not error:
        return words
    return _("failed: %(error)s") % {"error": error if len(error) <= 80 else error[:79] + "…"}


def _task_order(task: str) -> tuple[int, ...]:
    """A task's key ("1317.2.3": the pool's job 2, item 3) in the order given."""
    return tuple(int(part) if part.isdigit() else 0 for part in task.split("."))


def console(state: ProgramState) -> list[ConsoleLine]:
    """The console's lines, and last the lines begun and not ended yet, as a
    terminal shows them meanwhile: a prompt, or a progress bar that rewrites
    its line with carriage returns."""
    begun = [
        ConsoleLine(state.last_t, line.worker, stream, line.text, into)
        for (stream, into, _), line in state.partial.items()
    ]
    return [*state.console, *begun]


def view(state: Any, params: dict[str, Any]) -> dict[str, Any]:
    assert isinstance(state, ProgramState)
    colour = colours(state)
    lines = console(state)
    begun = len(lines) - len(state.console)
    shown, ended_more = drawn(boxes(state))
    return {
        "boxes": shown,
        "boxes_ended_more": ended_more,
        "objects": objects(state, colour),
        "program_code": code(str(params.get("source", "")), state),
        "filename": params.get("filename", ""),
        "console": lines[-CONSOLE_SHOWN:],
        # Lines before those (the run's export holds every one).
        "console_earlier": max(0, state.console_total + begun - CONSOLE_SHOWN),
        "diagnosis": [_(s.message) % s.parts for s in said(state)],
        "colour": colour,
        "doing": lambda w: doing(state, w),
        "stall_words": stall_words,
        "wanted": wanted(state, str(params.get("source", ""))),
    }


def wanted(state: ProgramState, source: str) -> dict[str, str]:
    """What each thread waiting for a go-ahead in step mode will do, as the
    program writes it on its line, arguments and all
    (`tallies.get(timeout=0.2)`: a poll, which a permit lets by at once); a
    thread's start or join by the name on its line (`t0.start()`, not the
    thread's own name); else as `written` says it (`spoon.acquire()` for a
    `with spoon:`)."""
    lines = source.splitlines()
    out = {}
    for w in state.threads():
        if w.wants is None:
            continue
        op = w.wants[0]
        call = state.wanted_call(w)
        text = lines[w.line - 1] if not w.file and w.line and 0 < w.line <= len(lines) else ""
        receiver, _, method = call.removesuffix("()").rpartition(".")
        if op in ("start", "join"):
            call = as_on_line(text, op) or call
        elif call.endswith("()"):
            call = as_on_line(text, method, receiver) or call
        out[w.name] = call
    return out
