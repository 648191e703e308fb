"""A thread and main share the process's memory: the thread's change is
main's. A child process has memory of its own: its change stays there.

Run: python shared_global.py [scale]
"""

import os
import sys
import threading
import time
from multiprocessing import Process

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
total = 0


def set_to_ten():
    global total
    time.sleep(0.3 * SCALE)
    total = 10
    print("set total to 10 in pid", os.getpid())


if __name__ == "__main__":
    print("main runs in pid", os.getpid())
    t = threading.Thread(target=set_to_ten, name="setter-thread")
    t.start()
    t.join()
    print("after the thread, main sees total =", total)

    total = 0
    p = Process(target=set_to_ten, name="setter-process")
    p.start()
    p.join()
    print("after the process, main sees total =", total)
