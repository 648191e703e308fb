"""Items into and out of queues and pipes' ends, and the threads that wait
to put or to get them.

Batches from different processes arrive out of step, so a `get` may come
before the `put` of the same item: it waits in the queue's `early` until
its arrival.
"""

from __future__ import annotations

from typing import Any

from app.events import Event
from app.programs.folds.objects import obj_of
from app.programs.folds.workers import go, thread_of, wait
from app.programs.state import GET_WAIT, ITEMS_SHOWN, PUT_WAIT, ObjView, ProgramState

# Queues whose items may leave before older ones: the value tells which.
OUT_OF_ORDER = frozenset({"LifoQueue", "PriorityQueue"})


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
    one not there yet is remembered, its arrival will be reported late. One
    not shown, while the queue holds more than the ITEMS_SHOWN it shows, is
    one of those: it arrived long ago (a producer far ahead of its consumer
    at full speed), and is no early one."""
    obj.gets += 1
    items = obj.items
    if items and items[0] == value:  # nearly always: first in, first out
        items.popleft()
        return
    hidden = obj.puts - obj.gets >= len(items)  # more went in than are shown
    if hidden and obj.type not in OUT_OF_ORDER:  # older than any shown: no need to look
        return
    if value in items:
        items.remove(value)
    elif not hidden:
        obj.early[value] = obj.early.get(value, 0) + 1


def _size(obj: ObjView, d: dict[str, Any]) -> None:
    size = d.get("size")
    obj.size = int(size) if size is not None else max(0, obj.puts - obj.gets)


def put_wait(state: ProgramState, e: Event) -> None:
    wait(thread_of(state, e), e, "put", e.item or "", PUT_WAIT)


def put(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    obj = obj_of(state, e)
    arrive(obj, str(d.get("v", "")))
    _size(obj, d)
    if obj.counts_tasks:
        obj.unfinished += 1  # a task to mark done (task_done and qjoin say the exact count)
    go(thread_of(state, e), e)


def get_wait(state: ProgramState, e: Event) -> None:
    wait(thread_of(state, e), e, "get", e.item or "", GET_WAIT)


def get(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    obj = obj_of(state, e)
    value = str(d.get("v", ""))
    leave(obj, value)
    _size(obj, d)
    w = thread_of(state, e)
    go(w, e)
    w.item = value


def task_done(state: ProgramState, e: Event) -> None:
    obj = obj_of(state, e)
    obj.tasks_counted = True
    d = e.data or {}
    # A manager's queue does not say the count: one less.
    obj.unfinished = int(d["unfinished"]) if "unfinished" in d else max(0, obj.unfinished - 1)
    go(thread_of(state, e), e)


def qjoined(state: ProgramState, e: Event) -> None:
    """A join() returned: every task was marked done (whatever count a
    task_done said, racing another worker's)."""
    obj_of(state, e).unfinished = 0
    go(thread_of(state, e), e)


def qjoin(state: ProgramState, e: Event) -> None:
    obj = obj_of(state, e)
    obj.tasks_counted = True
    d = e.data or {}
    if "unfinished" in d:
        obj.unfinished = int(d["unfinished"])
    wait(thread_of(state, e), e, "qjoin", e.item or "")


def send(state: ProgramState, e: Event) -> None:
    obj = obj_of(state, e)
    inbox = state.objs.get(obj.peer, obj) if obj.peer else obj
    arrive(inbox, str((e.data or {}).get("v", "")))
    inbox.size = len(inbox.items)
    go(thread_of(state, e), e)


def send_wait(state: ProgramState, e: Event) -> None:
    """A message bigger than the pipe holds: its writing waits for the
    other end to read (`sent` when all of it is in)."""
    obj_of(state, e)
    wait(thread_of(state, e), e, (e.data or {}).get("call") or "send", e.item or "")


def recv_wait(state: ProgramState, e: Event) -> None:
    obj_of(state, e)
    wait(thread_of(state, e), e, (e.data or {}).get("call") or "recv", e.item or "")


def recv(state: ProgramState, e: Event) -> None:
    obj = obj_of(state, e)
    value = str((e.data or {}).get("v", ""))
    leave(obj, value)
    obj.size = len(obj.items)
    w = thread_of(state, e)
    go(w, e)
    w.item = value
