"""When does it end? Hot-dog stands make hot dogs, eaters eat them, and main
waits for the end. The same program with four endings (MODE):

- "naive": a plain Queue. The eaters loop on get() and nobody tells them the
  stands are done: once the last hot dog is eaten they wait for ever, and so
  does main, in join(). (This program must end: main gives up after
  HANG_AFTER_MS more and terminates them.)
- "joinable": a JoinableQueue. An eater calls task_done() after each hot
  dog; main waits in q.join() until no task is unfinished. Its code then
  ends, and Python terminates the daemon eaters.
- "no-join": the same daemon eaters, but main skips q.join(): they are
  terminated in the middle of their work, and hot dogs are lost.
- "sentinel": a plain Queue. Main puts one STOP per eater; an eater that
  takes one leaves, with exit code 0.

Run it with: python joinable.py
"""

import atexit
import random
import time
from multiprocessing import JoinableQueue, Process, Queue, RawArray

MODE = "naive"  # "naive", "joinable", "no-join" or "sentinel"
PRODUCERS = 3  # hot-dog stands
CONSUMERS = 2  # eaters
ITEMS_PER_PRODUCER = 5  # hot dogs each stand makes
CAPACITY = 0  # Queue(maxsize): 0 = unbounded
PRODUCE_MIN_MS = 1000  # making one hot dog takes from...
PRODUCE_MAX_MS = 3000  # ...to this long
CONSUME_MIN_MS = 1000  # eating one takes from...
CONSUME_MAX_MS = 3000  # ...to this long
HANG_AFTER_MS = 3000  # naive: how long main waits once every hot dog is eaten

STOP = None  # the sentinel
DAEMONS = MODE in ("joinable", "no-join")
ITEMS = [f"P{p} #{n}" for p in range(1, PRODUCERS + 1) for n in range(1, ITEMS_PER_PRODUCER + 1)]


def producer(name, q):
    for n in range(1, ITEMS_PER_PRODUCER + 1):
        time.sleep(random.uniform(PRODUCE_MIN_MS, PRODUCE_MAX_MS) / 1000)  # make one
        q.put(f"{name} #{n}")  # waits here while the queue is full


def consumer(name, q, taken, eaten):
    while True:  # nothing in the loop ends it, but a STOP
        item = q.get()  # waits here while the queue is empty
        if item is STOP:
            print(f"{name} took STOP and leaves", flush=True)
            return  # its process ends with exit code 0
        taken[ITEMS.index(item)] += 1  # (for the accounting at the end)
        time.sleep(random.uniform(CONSUME_MIN_MS, CONSUME_MAX_MS) / 1000)  # eat it
        eaten[ITEMS.index(item)] += 1
        print(f"{name} ate {item}", flush=True)  # flushed: a daemon may be cut off
        if DAEMONS:
            q.task_done()  # one unfinished task less


def join_or_give_up(c, eaten):
    """c.join(), in a program that must end. The lesson's c.join() waits for
    ever; this one gives up once every hot dog is eaten (no stand is left:
    nothing can ever come) and HANG_AFTER_MS more have passed."""
    while c.is_alive() and sum(eaten) < len(ITEMS):
        c.join(HANG_AFTER_MS / 1000)
    c.join(HANG_AFTER_MS / 1000)  # main waits here: c never ends


def count_at_exit():
    """no-join: runs as the program exits, once Python's exit has terminated
    the daemon eaters (multiprocessing's exit hook does it, and runs first:
    it is registered later, with the first queue)."""
    done = sum(eaten)
    held = sum(taken) - done
    print(
        f"accounting: {len(ITEMS)} put, {done} eaten by the time main exited;"
        f" {len(ITEMS) - done} unfinished ({len(ITEMS) - sum(taken)} in the queue,"
        f" {held} being eaten): the daemons {names} were terminated as main exited,"
        " and what they had not eaten by then is lost"
    )


if __name__ == "__main__":
    if MODE == "no-join":
        atexit.register(count_at_exit)  # before the first queue: runs after its hook
    kind = JoinableQueue if DAEMONS else Queue  # a JoinableQueue counts unfinished tasks
    q = kind(CAPACITY)
    taken = RawArray("i", len(ITEMS))  # how often each hot dog was taken and eaten,
    eaten = RawArray("i", len(ITEMS))  # in shared memory: for the accounting
    producers = [
        Process(target=producer, args=(f"P{i}", q), name=f"P{i}") for i in range(1, PRODUCERS + 1)
    ]
    consumers = [
        Process(target=consumer, args=(f"C{i}", q, taken, eaten), name=f"C{i}", daemon=DAEMONS)
        for i in range(1, CONSUMERS + 1)
    ]
    for w in producers + consumers:
        w.start()
    for p in producers:
        p.join()
    # Every hot dog is in the queue now, or already eaten.
    names = ", ".join(c.name for c in consumers)

    if MODE == "naive":
        # Nobody tells the eaters that no more hot dogs will come.
        join_or_give_up(consumers[0], eaten)
        stuck = [c.name for c in consumers if c.is_alive()]
        print(
            f"main: {consumers[0].name}.join() does not return: every hot dog is eaten,"
            f" the queue is empty, and {', '.join(stuck)} wait in get() for ever."
            " That is the hang."
        )
        for c in consumers:
            c.terminate()  # the lesson's program never gets here
            c.join()
        assert stuck == [c.name for c in consumers]
        assert list(taken) == list(eaten) == [1] * len(ITEMS)
        print(
            f"accounting: {len(ITEMS)} put, {sum(eaten)} eaten, each exactly once;"
            f" then the hang: {names} blocked in get() with the queue empty,"
            " until main terminated them"
        )

    elif MODE == "joinable":
        q.join()  # returns once every put had its task_done()
        assert list(taken) == list(eaten) == [1] * len(ITEMS)
        print(
            f"accounting: {len(ITEMS)} put, {sum(eaten)} eaten and task_done(), each"
            f" exactly once; q.join() returned with 0 unfinished; main's code ends,"
            f" and the daemons {names} are terminated with it: 0 lost"
        )

    elif MODE == "no-join":
        pass  # no q.join(): main does not wait for the eaters (count_at_exit)

    else:  # sentinel
        for _ in consumers:
            q.put(STOP)  # one sentinel per eater
        for c in consumers:
            c.join()
        assert all(c.exitcode == 0 for c in consumers)
        assert list(taken) == list(eaten) == [1] * len(ITEMS)
        print(
            f"accounting: {len(ITEMS)} put, {sum(eaten)} eaten, each exactly once;"
            f" {len(consumers)} STOP put, one taken by each eater, which left with"
            " exit code 0"
        )
    # main's code ends here. In "joinable" and "no-join", Python's exit now
    # terminates every daemon child still alive: the eaters.
