"""The lock race: read, hold, write back.

THREADS workers each take one off a shared counter that starts at INITIAL:
they read it into a local `a`, hold it for HOLD_MS, and write back `a - 1`.
Without the lock, the workers that read before any of them writes all write
the same value, and the other updates are lost. With the lock around the
three steps, one worker at a time is inside and nothing is lost.

The workers are threads of this process (BACKEND = "thread": the counter is
a global they share) or child processes (BACKEND = "process": the counter is
a multiprocessing.Value in memory they share). The race is run REPEATS times.

Run it with: python lock.py
"""

import contextlib
import multiprocessing
import threading
import time

THREADS = 5  # workers: threads or processes, as BACKEND says
INITIAL = 10  # the counter's value when a round starts
HOLD_MS = 3000  # between reading the counter and writing it back
USE_LOCK = False  # try the other one
BACKEND = "thread"  # "thread" or "process"
REPEATS = 1  # rounds of the whole race

counter = INITIAL  # the threads' counter: one global of this process


def take_one_thread(name, lock):
    global counter
    # With the lock, a thread waits at `with` while another one holds it.
    with lock if USE_LOCK else contextlib.nullcontext():
        a = counter  # read
        print(f"{name} read a = {a}", flush=True)
        time.sleep(HOLD_MS / 1000)  # hold: meanwhile the others run
        counter = a - 1  # write back what it read, minus one
        print(f"{name} wrote counter = {a - 1}", flush=True)


def take_one_process(name, shared, lock):
    # The Value has a lock of its own, but it covers one read or one write,
    # never the read, hold and write together: that is what `lock` is for.
    with lock if USE_LOCK else contextlib.nullcontext():
        a = shared.value  # read
        print(f"{name} read a = {a}", flush=True)
        time.sleep(HOLD_MS / 1000)  # hold: meanwhile the others run
        shared.value = a - 1  # write back what it read, minus one
        print(f"{name} wrote counter = {a - 1}", flush=True)


def race(shared, lock):
    """One round: every worker takes one off; the counter's final value."""
    global counter
    if BACKEND == "process":
        shared.value = INITIAL
        workers = [
            multiprocessing.Process(
                target=take_one_process, args=(f"P{i}", shared, lock), name=f"P{i}"
            )
            for i in range(1, THREADS + 1)
        ]
    else:
        counter = INITIAL
        workers = [
            threading.Thread(target=take_one_thread, args=(f"T{i}", lock), name=f"T{i}")
            for i in range(1, THREADS + 1)
        ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return shared.value if BACKEND == "process" else counter


def main():
    if BACKEND == "process":
        shared = multiprocessing.Value("i", INITIAL)  # memory the processes share
        lock = multiprocessing.Lock()
    else:
        shared = None
        lock = threading.Lock()
    expected = INITIAL - THREADS
    finals = []
    for n in range(1, REPEATS + 1):
        print(f"round {n} starts: counter = {INITIAL}, expected {expected}", flush=True)
        final = race(shared, lock)
        finals.append(final)
        print(f"round {n}: counter = {final} (expected {expected})", flush=True)
        if USE_LOCK:
            assert final == expected, "the lock let an update get lost"
        if n < REPEATS:
            time.sleep(0.25)  # so that each round's result shows
    lost = sum(final - expected for final in finals)
    print(
        f"accounting: {REPEATS} round(s) of {THREADS} {BACKEND} worker(s), expected"
        f" {expected} each, got {finals}; {lost} update(s) lost"
    )


if __name__ == "__main__":
    main()
