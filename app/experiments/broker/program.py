"""Producers and consumers that share no memory and no pipe: only a Redis
server between them, the broker. Each is a process of its own; they could
as well run on different machines.

Producers add items to the stream "orders" (XADD). The consumers are one
consumer group, "workers": each entry goes to one of them (XREADGROUP
with ">": new entries only). An entry handed to a consumer stays *pending*
at that consumer until it says it is done (XACK). A consumer that dies
before its XACK leaves its entry pending at a dead name. Nobody else gets
it by itself: each consumer also asks the broker, before each read, for an
entry left pending longer than CLAIM_IDLE_MS (XAUTOCLAIM), and takes it
over. So every item is processed at least once, and an item whose first
consumer got far enough may be processed twice. The program counts that.

Main keeps PRODUCERS producers and CONSUMERS consumers alive (under
concviz the presenter changes both while it runs, and may kill a consumer:
main starts another in its place). Once every producer is done and every
item made is acknowledged, main checks the broker's records: every item
processed and acknowledged once, how many were processed twice, how many
consumers were killed. ITEMS_PER_PRODUCER = 0 runs until stopped.

Run it with a Redis server at hand (6.2 or newer):
    REDIS_URL=redis://localhost:6379/0 python broker.py
It empties the keys "orders", "processed" and "acked" of that database first.
One more worker for a lesson already running, from any machine that reaches
its broker (concviz's `concviz worker --join` does this):
    REDIS_URL=... python broker.py consumer [NAME]    (or: producer [NAME])
It leaves after its current item on Ctrl-C.
"""

import multiprocessing.connection
import os
import random
import signal
import socket
import sys
import time
from multiprocessing import Process, RawValue

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

try:
    from concviz_live import live  # the presenter's sliders, under concviz
except ImportError:

    def live(name, value):  # run on its own: the constant
        return value


REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
PRODUCERS = 2
CONSUMERS = 2
ITEMS_PER_PRODUCER = 10  # 0 = endless
PRODUCE_MIN_MS = 200  # making one item takes from...
PRODUCE_MAX_MS = 1000  # ...to this long
CONSUME_MIN_MS = 500  # processing one item takes from...
CONSUME_MAX_MS = 2000  # ...to this long
CLAIM_IDLE_MS = 5000  # an entry pending this long is taken over by another consumer
BLOCK_MS = 500  # a consumer waits this long for a new entry, then looks around again

STREAM = "orders"
GROUP = "workers"
PROCESSED = "processed"  # item -> how many times its work was done
ACKED = "acked"  # item -> how many XACKs removed it from the pending list
BROKER_GONE = 3  # a worker's exit code when it lost the broker


def connect():
    # Bounded waits everywhere: a broker that goes away ends the program
    # with a message, instead of leaving it waiting for an answer forever.
    return redis.Redis.from_url(
        REDIS_URL,
        decode_responses=True,
        socket_timeout=5,
        socket_connect_timeout=5,
        retry=Retry(ExponentialBackoff(cap=0.5), 3),
    )


def producer(name, stop):
    r = connect()
    made = 0
    try:
        while ITEMS_PER_PRODUCER == 0 or made < ITEMS_PER_PRODUCER:
            if stop.value:  # main wants fewer producers
                print(f"{name} leaves: fewer producers wanted", flush=True)
                break
            time.sleep(random.uniform(PRODUCE_MIN_MS, PRODUCE_MAX_MS) / 1000)  # make an item
            made += 1
            r.xadd(STREAM, {"item": f"{name}#{made}"})
    except (redis.ConnectionError, redis.TimeoutError):
        sys.exit(BROKER_GONE)  # main finds out too, and says so


def next_entry(r, name):
    """An entry for consumer `name`: first one left pending too long at some
    consumer (taken over), else a new one; None after BLOCK_MS with neither.
    Redis takes whole milliseconds, hence the int()s."""
    _cursor, claimed, *_ = r.xautoclaim(STREAM, GROUP, name, int(CLAIM_IDLE_MS), count=1)
    if claimed:
        return claimed[0]
    reply = r.xreadgroup(GROUP, name, {STREAM: ">"}, count=1, block=int(BLOCK_MS))
    return reply[0][1][0] if reply else None


def consumer(name, stop):
    r = connect()
    try:
        while not stop.value:  # main wants fewer consumers, or all is done
            entry = next_entry(r, name)
            if entry is None:
                continue
            entry_id, fields = entry
            item = fields["item"]
            time.sleep(random.uniform(CONSUME_MIN_MS, CONSUME_MAX_MS) / 1000)  # process it
            r.hincrby(PROCESSED, item, 1)  # the work is done...
            acked = r.xack(STREAM, GROUP, entry_id)  # ...and then acknowledged
            r.hincrby(ACKED, item, acked)  # 0: another consumer acknowledged it first
    except (redis.ConnectionError, redis.TimeoutError):
        sys.exit(BROKER_GONE)  # main finds out too, and says so


def all_acknowledged(r):
    """Every entry of the stream delivered to the group, none pending."""
    group = r.xinfo_groups(STREAM)[0]
    last = r.xinfo_stream(STREAM)["last-generated-id"]
    return group["pending"] == 0 and group["last-delivered-id"] == last


def start(workers, prefix, target):
    name = f"{prefix}{len(workers) + 1}"
    # A flag with no lock, not an Event: a consumer killed while it reads
    # an Event's flag would leave its lock taken, and main's set() waiting.
    stop = RawValue("b", 0)
    w = Process(target=target, args=(name, stop), name=name)
    workers.append((w, stop))
    w.start()


def keep(workers, wanted, prefix, target, room):
    """Ask workers beyond `wanted` to leave, and start new ones while fewer
    than wanted work (at most `room` of them). A worker that ended well
    (a producer done with its items) still counts; one that was killed does
    not: another takes its place. Returns the room left."""
    working = [(w, stop) for w, stop in workers if not w.exitcode and not stop.value]
    for _w, stop in working[wanted:]:
        stop.value = 1  # it leaves after its current item
    for _ in range(len(working), wanted):
        if room <= 0:
            break
        room -= 1
        start(workers, prefix, target)
    return room


def run(r, producers, consumers):
    r.delete(STREAM, PROCESSED, ACKED)
    r.xgroup_create(STREAM, GROUP, id="0", mkstream=True)  # the group reads from the start
    killed = []
    while True:
        want_producers = live("PRODUCERS", PRODUCERS)
        want_consumers = live("CONSUMERS", CONSUMERS)
        for w, _stop in producers + consumers:
            if w.exitcode == -signal.SIGKILL and w.name not in killed:
                killed.append(w.name)
                print(f"main: {w.name} was killed; what it held stays pending until claimed")
            elif w.exitcode and w.exitcode > 0:
                r.ping()  # if the broker is gone, this says so
                sys.exit(f"main: {w.name} failed (exit code {w.exitcode})")
        # Never more workers alive at once than wanted: a worker asked to
        # leave counts until it is gone.
        alive = sum(w.is_alive() for w, _stop in producers + consumers)
        room = want_producers + want_consumers - alive
        room = keep(producers, want_producers, "P", producer, room)
        keep(consumers, want_consumers, "C", consumer, room)
        producers_done = not any(p.is_alive() for p, _stop in producers)
        # The broker is asked every round, so that main notices when it is gone.
        if all_acknowledged(r) and producers_done:
            break  # the producers are done and the backlog is empty
        # Until a worker ends, or a moment has passed.
        multiprocessing.connection.wait([w.sentinel for w, _stop in producers + consumers], 0.2)
    for _w, stop in producers + consumers:
        stop.value = 1
    for w, _stop in producers + consumers:
        w.join()
    return sum(1 for name in killed if name.startswith("C"))


def accounting(r, killed):
    items = [fields["item"] for _id, fields in r.xrange(STREAM)]
    processed = r.hgetall(PROCESSED)
    acked = r.hgetall(ACKED)
    lost = [item for item in items if item not in processed]
    assert not lost, f"items never processed: {lost}"
    assert all(acked.get(item) == "1" for item in items), "an item was not acknowledged once"
    twice = sum(1 for item in items if int(processed[item]) > 1)
    print(
        f"accounting: {len(items)} items made, each acknowledged exactly once;"
        f" processed twice: {twice}; consumers killed: {killed}"
    )


def one_worker(role, name):
    """One producer or consumer of a lesson already running, on its own,
    until Ctrl-C (or SIGTERM): it leaves after its current item."""
    stop = RawValue("b", 0)

    def leave(signum, frame):
        stop.value = 1

    signal.signal(signal.SIGINT, leave)
    signal.signal(signal.SIGTERM, leave)
    (producer if role == "producer" else consumer)(name, stop)


if __name__ == "__main__":
    if sys.argv[1:2] in (["consumer"], ["producer"]):
        name = sys.argv[2] if len(sys.argv) > 2 else f"{socket.gethostname()}-{os.getpid()}"
        one_worker(sys.argv[1], name)
        sys.exit()
    r = connect()
    producers, consumers = [], []  # (process, its stop event), oldest first
    try:
        killed = run(r, producers, consumers)
        accounting(r, killed)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        sys.exit(f"main: the broker is gone: {exc}")
    finally:
        for w, _stop in producers + consumers:
            if w.is_alive():
                w.kill()
