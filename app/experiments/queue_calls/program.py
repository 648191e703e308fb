"""The queue, call by call (parts 3 and 4 of the lecture).

One bounded queue q, owned by main, and one caller per call: every put, get,
put_nowait or get_nowait is made by a caller of its own, so a call that has
to wait waits in its caller while main goes on.

- KIND "fifo": q is a multiprocessing.Queue; each caller is a new child
  process of main.
- KIND "lifo": q is a queue.LifoQueue, which lives in main's memory only;
  each caller is a new thread of main.

MODE "script" plays the lecture's example (CALLS) on Queue(3), one call
every PAUSE_S seconds. MODE "buttons" makes the calls the presenter's
buttons send, under concviz; run on its own, nobody presses a button, and it
plays the example too.

Run it with: python queue_calls.py
"""

import queue
import time
from multiprocessing import Process, Queue, RawArray
from threading import Thread

try:
    from concviz_live import next_call  # the presenter's buttons, under concviz
except ImportError:
    next_call = None  # run on its own: nobody presses a button

KIND = "fifo"  # "fifo" (processes) or "lifo" (threads)
CAPACITY = 3  # slots in q (0 = unbounded)
MODE = "buttons"  # "buttons": the presenter's calls; "script": the lecture's example
SCRIPT_TIMEOUT_S = 2.0  # the example's get(timeout=...), in seconds
PAUSE_S = 1.5  # the example's pause between two calls
MAX_CALLERS = 8  # callers alive on one side (puts, or gets), at most
MAX_ALIVE = 10  # callers alive at once, at most

# The lecture's example, one caller per call: (op, value, timeout).
CALLS = [
    ("put", 1, None),
    ("put", 2, None),
    ("put", 3, None),  # Queue(3) is full now
    ("get", None, None),
    ("put", 4, None),
    ("get", None, None),
    ("get", None, None),
    ("get", None, None),  # the queue is empty now
    ("get", None, None),  # waits until somebody puts
    ("put", 5, None),
    ("get", None, SCRIPT_TIMEOUT_S),  # waits, then raises queue.Empty
    ("put", 6, None),
    ("put", 7, None),
    ("put", 8, None),
    ("put_nowait", 9, None),  # full, and it may not wait: queue.Full at once
]
RETURNED, RAISED = 1, 2  # how a call ended, for the accounting


def call_text(op, value=None, timeout=None):
    """The call as it is written: put(4), get(timeout=2)."""
    args = [] if value is None else [str(value)]
    if timeout is not None:
        args.append(f"timeout={timeout:g}")
    return f"{op}({', '.join(args)})"


def caller(name, q, op, value, timeout, outcomes, slot):
    """Make one call on q, and say how it went."""
    call = call_text(op, value, timeout)
    print(f"{name} calls {call}", flush=True)
    started = time.monotonic()
    try:
        if op == "put":  # waits while q is full (at most timeout seconds)
            q.put(value, timeout=timeout)
        elif op == "put_nowait":  # q is full: queue.Full at once
            q.put_nowait(value)
        elif op == "get":  # waits while q is empty (at most timeout seconds)
            value = q.get(timeout=timeout)
        else:  # get_nowait: q is empty: queue.Empty at once
            value = q.get_nowait()
    except (queue.Full, queue.Empty) as exc:
        waited = time.monotonic() - started
        print(f"{name}: {call} raised queue.{type(exc).__name__} after {waited:.1f} s", flush=True)
        outcome = RAISED
    else:
        got = f" {value}" if op.startswith("get") else ""
        print(f"{name}: {call} returned{got}", flush=True)
        outcome = RETURNED
    if outcomes is not None:
        outcomes[slot] = outcome


def start_caller(n, q, op, value, timeout, outcomes=None):
    """A new caller for one call: a child process (fifo) or a thread (lifo)."""
    kind, prefix = (Process, "P") if KIND == "fifo" else (Thread, "T")
    name = f"{prefix}{n}"
    args = (name, q, op, value, timeout, outcomes, n - 1)
    c = kind(target=caller, args=args, name=name)
    c.start()
    return c


def play(q):
    """The lecture's example: one caller per call, PAUSE_S apart."""
    outcomes = RawArray("b", len(CALLS))  # how each call ended (shared memory)
    callers = []
    for n, (op, value, timeout) in enumerate(CALLS, 1):
        print(f"main: step {n} of {len(CALLS)}: {call_text(op, value, timeout)}", flush=True)
        c = start_caller(n, q, op, value, timeout, outcomes)
        callers.append(c)
        time.sleep(PAUSE_S)  # a caller that waits is left waiting...
        if timeout is not None:
            c.join()  # ...but one with a timeout ends: main waits for it
            time.sleep(PAUSE_S)
    for c in callers:
        c.join()
    returned = sum(1 for outcome in outcomes if outcome == RETURNED)
    raised = sum(1 for outcome in outcomes if outcome == RAISED)
    assert returned + raised == len(CALLS)
    print(
        f"accounting: {len(CALLS)} calls, {returned} returned, {raised} raised,"
        " no caller left waiting",
        flush=True,
    )


def take_calls(q):
    """The presenter's calls, one caller each, until the run is stopped."""
    callers = []  # (caller, "put" or "get")
    next_value, n = 1, 0
    while True:
        call = next_call(timeout=0.2)  # the next press of a button, if any
        callers = [(c, side) for c, side in callers if c.is_alive()]  # the ones that ended go
        if call is None:
            continue
        op, value, timeout = call["op"], call["value"], call["timeout"]
        if op.startswith("put") and value is None:
            value = next_value  # no value given: the next number
        side, other = ("put", "get") if op.startswith("put") else ("get", "put")
        alike = sum(1 for _c, s in callers if s == side)
        if alike >= MAX_CALLERS:
            print(
                f"main refused {call_text(op, value, timeout)}: {alike} {side} callers are"
                f" still there (at most {MAX_CALLERS}): a {other} would free one",
                flush=True,
            )
            continue
        if len(callers) >= MAX_ALIVE:
            print(
                f"main refused {call_text(op, value, timeout)}: {len(callers)} callers are"
                f" still there (at most {MAX_ALIVE})",
                flush=True,
            )
            continue
        if value is not None:
            next_value = max(next_value, value + 1)
        n += 1
        callers.append((start_caller(n, q, op, value, timeout), side))


if __name__ == "__main__":
    q = Queue(CAPACITY) if KIND == "fifo" else queue.LifoQueue(CAPACITY)
    if MODE == "buttons" and next_call is not None:
        take_calls(q)
    else:
        play(q)
