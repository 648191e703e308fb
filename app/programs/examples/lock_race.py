"""Ten threads each take one from a shared counter: read it, pause, write
it back. They all read before anyone writes, so most updates are lost.

Run: python lock_race.py [scale]
"""

import sys
import threading
import time

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
counter = 10


def take_one():
    global counter
    seen = counter  # read
    time.sleep(0.1 * SCALE)  # someone else runs meanwhile
    counter = seen - 1  # write what we read, minus one


if __name__ == "__main__":
    threads = [threading.Thread(target=take_one) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("expected 0, got", counter)
