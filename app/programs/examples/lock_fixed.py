"""The same ten threads, with a lock around read-pause-write: one at a
time, so no update is lost (and it takes ten times as long).

Run: python lock_fixed.py [scale]
"""

import sys
import threading
import time

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
counter = 10
guard = threading.Lock()


def take_one():
    global counter
    with guard:
        seen = counter
        time.sleep(0.1 * SCALE)
        counter = seen - 1


if __name__ == "__main__":
    threads = [threading.Thread(target=take_one) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("expected 0, got", counter)
