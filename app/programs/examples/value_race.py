"""Four processes each add 1 to a shared multiprocessing.Value, five thousand
times. `counter.value += 1` is two steps, each under the value's own lock:
a read, then a write. Between them another process may write, and its
update is lost. Taking `counter.get_lock()` around both makes them one.

Run: python value_race.py
"""

from multiprocessing import Process, Value

WORKERS = 4
ADDS = 5000


def add(counter, times):
    for _ in range(times):
        counter.value += 1  # read under the lock, then write under it again


if __name__ == "__main__":
    counter = Value("i", 0)
    workers = [Process(target=add, args=(counter, ADDS)) for _ in range(WORKERS)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(f"expected {WORKERS * ADDS}, got {counter.value}")
