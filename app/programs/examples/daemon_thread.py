"""A daemon thread lives only as long as the program's ordinary threads:
the 3 s daemon is cut off when main and the 2 s worker are done.

Run: python daemon_thread.py [scale]
"""

import sys
import threading
import time

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0


def work(seconds, name):
    print(name, "starts, needs", seconds, "s")
    time.sleep(seconds * SCALE)
    print(name, "finished")  # the daemon never gets here


if __name__ == "__main__":
    keeper = threading.Thread(target=work, args=(3, "daemon"), name="daemon", daemon=True)
    worker = threading.Thread(target=work, args=(2, "worker"), name="worker")
    keeper.start()
    worker.start()
    print("main is done with its own code")
