"""Producer/consumer around one bounded queue (part 5 of the lecture).

Producers make numbered items ("P1#3": P1's third), taking a random time for
each, and put them into one shared queue; consumers take them out and take a
random time to use each. When the queue is full a producer waits at its
tail; when it is empty a consumer waits at its head.

Main keeps PRODUCERS producers and CONSUMERS consumers working: under
concviz the presenter changes both while it runs (live()); on its own the
program keeps its constants. A producer main no longer wants is told by its
own stop event and leaves before its next item; a consumer, by a sentinel
(None) in the queue: whoever takes it leaves. Once every producer is done,
main puts one sentinel per consumer still working, and checks that every
item made was used exactly once. ITEMS_PER_PRODUCER = 0 runs until stopped.

Run it with: python producer_consumer.py
"""

import queue
import random
import time

try:
    from concviz_live import live  # the presenter's sliders, under concviz
except ImportError:

    def live(name, value):  # run on its own: the constant
        return value


PRODUCERS = 2
CONSUMERS = 2
CAPACITY = 5  # slots in the queue; 0 = unbounded
ITEMS_PER_PRODUCER = 10  # 0 = endless
PRODUCE_MIN_MS = 0  # making one item takes from...
PRODUCE_MAX_MS = 2000  # ...to this long
CONSUME_MIN_MS = 0  # using one item takes from...
CONSUME_MAX_MS = 2000  # ...to this long
BACKEND = "process"  # "process": multiprocessing; "thread": threading

if BACKEND == "process":
    from multiprocessing import Event, Queue
    from multiprocessing import Process as Worker
else:
    from queue import Queue
    from threading import Event
    from threading import Thread as Worker


def producer(name, q, stop, tallies):
    made = 0
    while ITEMS_PER_PRODUCER == 0 or made < ITEMS_PER_PRODUCER:
        if stop.is_set():  # main wants fewer producers
            print(f"{name} leaves: fewer producers wanted", flush=True)
            break
        time.sleep(random.uniform(PRODUCE_MIN_MS, PRODUCE_MAX_MS) / 1000)  # make an item
        made += 1
        q.put(f"{name}#{made}")  # waits here while the queue is full
    tallies.put((name, [f"{name}#{n}" for n in range(1, made + 1)]))


def consumer(name, q, tallies):
    used = []
    while True:
        item = q.get()  # waits here while the queue is empty
        if item is None:  # a sentinel: leave
            break
        time.sleep(random.uniform(CONSUME_MIN_MS, CONSUME_MAX_MS) / 1000)  # use the item
        used.append(item)
    tallies.put((name, used))


if __name__ == "__main__":
    q = Queue(CAPACITY)
    tallies = Queue()  # what each worker made or used, sent as it leaves
    producers = []  # (worker, its stop event), oldest first
    consumers = []
    sentinels = 0  # put so far: one per consumer asked to leave
    made, used = {}, {}
    while True:
        # As many producers and consumers working as wanted now.
        want_producers = live("PRODUCERS", PRODUCERS)
        want_consumers = live("CONSUMERS", CONSUMERS)
        working = [stop for p, stop in producers if not stop.is_set()]
        for stop in working[want_producers:]:
            stop.set()  # that producer leaves before its next item
        # A worker asked to leave still runs until it is gone: new ones start
        # only while fewer than wanted are alive, so that there are never
        # more workers at once than the presenter asked for.
        alive = sum(w.is_alive() for w in [p for p, stop in producers] + consumers)
        room = want_producers + want_consumers - alive
        for _ in range(len(working), want_producers):
            if room <= 0:
                break
            room -= 1
            stop = Event()
            name = f"P{len(producers) + 1}"
            p = Worker(target=producer, args=(name, q, stop, tallies), name=name)
            producers.append((p, stop))
            p.start()
        for _ in range(len(consumers) - sentinels, want_consumers):
            if room <= 0:
                break
            room -= 1
            name = f"C{len(consumers) + 1}"
            c = Worker(target=consumer, args=(name, q, tallies), name=name)
            consumers.append(c)
            c.start()
        for _ in range(want_consumers, len(consumers) - sentinels):
            q.put(None)  # one consumer leaves: whoever takes this
            sentinels += 1
        if len(made) == len(producers):
            break  # every producer is done: no more items will come
        try:
            name, items = tallies.get(timeout=0.2)  # a worker that left, if any
        except queue.Empty:
            continue
        (made if name.startswith("P") else used)[name] = items

    for p, _ in producers:
        # A tally can arrive before the producer's last items are in the
        # queue (a process's put() hands them to a thread that sends them):
        # once it has exited they are, and the sentinels go in behind them.
        p.join()
    for _ in range(len(consumers) - sentinels):
        q.put(None)  # one sentinel per consumer still working
    while len(used) < len(consumers):
        name, items = tallies.get()
        used[name] = items
    for c in consumers:
        c.join()
    made_items = [item for items in made.values() for item in items]
    used_items = [item for items in used.values() for item in items]
    assert sorted(made_items) == sorted(used_items), "an item was lost or used twice"
    print(
        f"accounting: {len(made_items)} produced by {len(producers)} producers,"
        f" {len(used_items)} consumed by {len(consumers)} consumers, each exactly once"
    )
