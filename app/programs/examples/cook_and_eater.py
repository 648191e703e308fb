"""A cook process makes ten dishes, an eater process eats them; the queue
between them lets each go at its own pace.

Run: python cook_and_eater.py [scale]   (scale shortens the delays; default 1)
"""

import random
import sys
import time
from multiprocessing import Process, Queue

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
DISHES = 10


def cook(counter):
    for n in range(1, DISHES + 1):
        time.sleep(random.uniform(0, 2) * SCALE)  # cooking takes a while
        counter.put(f"dish {n}")
        print("cooked dish", n)


def eat(counter):
    for _ in range(DISHES):
        dish = counter.get()  # waits while the counter is empty
        time.sleep(random.uniform(0, 2) * SCALE)
        print("ate", dish)


if __name__ == "__main__":
    counter = Queue()
    chef = Process(target=cook, args=(counter,), name="cook")
    guest = Process(target=eat, args=(counter,), name="eater")
    chef.start()
    guest.start()
    chef.join()
    guest.join()
    print("all", DISHES, "dishes made and eaten")
