"""Every way to call put and get on a bounded multiprocessing queue.

Run: python queue_calls.py [scale]   (scale shortens the timeouts; default 1)
"""

import queue
import sys
from multiprocessing import Queue

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0

if __name__ == "__main__":
    box = Queue(3)  # room for three items
    for fruit in ("apple", "pear", "plum"):
        box.put(fruit)
    print("three items in, is it full?", box.full())

    try:
        box.put("fig", block=False)  # no room and no waiting: Full at once
    except queue.Full:
        print("put(block=False) on a full queue raised Full")

    try:
        box.put("fig", timeout=2 * SCALE)  # waits, then gives up
    except queue.Full:
        print("put(timeout=...) waited, then raised Full")

    for _ in range(3):
        print("got", box.get())  # first in, first out

    try:
        box.get_nowait()  # nothing there: Empty at once
    except queue.Empty:
        print("get_nowait() on an empty queue raised Empty")

    try:
        box.get(timeout=2 * SCALE)
    except queue.Empty:
        print("get(timeout=...) waited, then raised Empty")
