"""Two ways to start a thread: hand Thread a target, or subclass it and
write run(). Who prints first is up to the scheduler.

Run: python two_ways_to_thread.py [scale]
"""

import sys
import threading
import time

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0


def greet(name):
    time.sleep(0.5 * SCALE)
    print("hello from", name)


class Greeter(threading.Thread):
    def __init__(self, name):
        super().__init__(name=name)

    def run(self):
        time.sleep(0.5 * SCALE)
        print("hello from", self.name)


if __name__ == "__main__":
    first = threading.Thread(target=greet, args=("ada",), name="ada")
    second = Greeter("grace")
    first.start()
    second.start()
    print("main goes on while they sleep")
    first.join()
    second.join()
    print("both threads are done")
