"""The cook stops after five dishes, but the eater loops on get() for ever:
nothing tells it that no more dishes will come.

Run: python endless_eater.py [scale]
"""

import sys
import time
from multiprocessing import Process, Queue

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0


def cook(counter):
    for n in range(1, 6):
        time.sleep(0.5 * SCALE)
        counter.put(f"dish {n}")
    print("cook: done for the day")


def eat(counter):
    while True:
        dish = counter.get()  # after the last dish, this waits for ever
        print("ate", dish)


if __name__ == "__main__":
    counter = Queue()
    chef = Process(target=cook, args=(counter,), name="cook")
    guest = Process(target=eat, args=(counter,), name="eater")
    chef.start()
    guest.start()
    chef.join()
    guest.join()  # never returns
    print("this line is never reached")
