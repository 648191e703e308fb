"""Benchmark: items per second through a Redis stream, against a
multiprocessing.Queue, for 1, 4 and 16 consumers.

The same work on both sides: one producer process puts N small items
("P1#1" ...); C consumer processes take them until all are taken, with no
work per item. Through the broker, the broker lesson's way: the producer
XADDs to a stream, each consumer XREADGROUPs one entry at a time from one
consumer group and XACKs it, each call a round trip to a real Redis server
(the one concviz embeds, or `--redis URL`). Through the queue: put and get
on one `multiprocessing.Queue`. Timed from the producer's first item to the
last item taken, with `time.monotonic_ns()` in the workers (system-wide on
Linux), so that process start-up is not counted on either side. The two
sides alternate, `--rounds` times, and the median is printed.

    python bench/broker.py [--items 5000] [--consumers 1,4,16] [--rounds 3] [--redis URL]

Not part of the test suite (a smoke run is: tests/test_benches.py).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STREAM, GROUP = "bench", "consumers"


# Through the broker.


def stream_producer(url: str, n: int, started: mp.Value) -> None:  # type: ignore[valid-type]
    import redis

    r = redis.Redis.from_url(url)
    started.value = time.monotonic_ns()
    for i in range(1, n + 1):
        r.xadd(STREAM, {"item": f"P1#{i}"})


def stream_consumer(url: str, name: str, n: int, taken: mp.Value, last: mp.Value) -> None:  # type: ignore[valid-type]
    import redis

    r = redis.Redis.from_url(url)
    while True:
        reply = r.xreadgroup(GROUP, name, {STREAM: ">"}, count=1, block=100)
        if reply:
            entry_id = reply[0][1][0][0]
            r.xack(STREAM, GROUP, entry_id)
            with taken.get_lock():
                taken.value += 1
                if taken.value == n:
                    last.value = time.monotonic_ns()
        elif taken.value >= n:
            return


def through_stream(url: str, n: int, consumers: int) -> float:
    import redis

    r = redis.Redis.from_url(url)
    r.delete(STREAM)
    r.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    started, last = mp.Value("q", 0), mp.Value("q", 0)
    taken = mp.Value("q", 0)
    workers = [
        mp.Process(target=stream_consumer, args=(url, f"C{c}", n, taken, last))
        for c in range(1, consumers + 1)
    ]
    for w in workers:
        w.start()
    producer = mp.Process(target=stream_producer, args=(url, n, started))
    producer.start()
    for w in [producer, *workers]:
        w.join()
    r.delete(STREAM)
    return n / ((last.value - started.value) / 1e9)


# Through a multiprocessing.Queue.


def queue_producer(q: mp.Queue, n: int, consumers: int, started: mp.Value) -> None:  # type: ignore[type-arg,valid-type]
    started.value = time.monotonic_ns()
    for i in range(1, n + 1):
        q.put(f"P1#{i}")
    for _ in range(consumers):
        q.put(None)


def queue_consumer(q: mp.Queue, n: int, taken: mp.Value, last: mp.Value) -> None:  # type: ignore[type-arg,valid-type]
    while q.get() is not None:
        with taken.get_lock():
            taken.value += 1
            if taken.value == n:
                last.value = time.monotonic_ns()


def through_queue(n: int, consumers: int) -> float:
    q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    started, last, taken = mp.Value("q", 0), mp.Value("q", 0), mp.Value("q", 0)
    workers = [
        mp.Process(target=queue_consumer, args=(q, n, taken, last)) for _ in range(consumers)
    ]
    for w in workers:
        w.start()
    producer = mp.Process(target=queue_producer, args=(q, n, consumers, started))
    producer.start()
    for w in [producer, *workers]:
        w.join()
    return n / ((last.value - started.value) / 1e9)


def main() -> None:
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=5000)
    ap.add_argument("--consumers", default="1,4,16")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--redis", default=None, help="a running Redis server (default: embedded)")
    args = ap.parse_args()

    from app import broker

    broker.configure(args.redis)
    try:
        with broker.lease() as lease:
            url = lease.env["REDIS_URL"]
            info = broker.current()
            where = "embedded" if info.embedded else info.url
            print(f"Redis {info.version} ({where}); {args.items} items, median of {args.rounds}")
            print(f"{'consumers':>9}  {'stream items/s':>14}  {'mp.Queue items/s':>16}  ratio")
            for consumers in [int(c) for c in args.consumers.split(",")]:
                streamed, queued = [], []
                for _ in range(args.rounds):
                    streamed.append(through_stream(url, args.items, consumers))
                    queued.append(through_queue(args.items, consumers))
                s, q = statistics.median(streamed), statistics.median(queued)
                print(f"{consumers:>9}  {s:>14,.0f}  {q:>16,.0f}  {s / q:.2f}")
    finally:
        broker.shutdown()


if __name__ == "__main__":
    main()
