"""Three cooks make five hot dogs each; two daemon eaters mark each one done.
Main waits with join() until every hot dog is eaten, then ends, and the
daemon eaters, still waiting for more, are cut off with it.

Run: python joinable_hotdogs.py [scale]
"""

import random
import sys
import time
from multiprocessing import JoinableQueue, Process

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0


def cook(tray, who):
    for n in range(1, 6):
        time.sleep(random.uniform(0.2, 1.0) * SCALE)
        tray.put(f"{who} hot dog {n}")


def eat(tray):
    while True:
        hotdog = tray.get()
        time.sleep(random.uniform(0.2, 1.0) * SCALE)
        print("eaten:", hotdog)
        tray.task_done()  # one fewer unfinished task


if __name__ == "__main__":
    tray = JoinableQueue()
    cooks = [Process(target=cook, args=(tray, who), name=who) for who in ("ann", "bob", "cy")]
    eaters = [Process(target=eat, args=(tray,), name=f"eater{i}", daemon=True) for i in (1, 2)]
    for p in cooks + eaters:
        p.start()
    for p in cooks:
        p.join()
    tray.join()  # returns once all 15 were marked done
    print("every hot dog eaten; main ends and the daemon eaters go with it")
