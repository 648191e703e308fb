"""Two threads need both locks. One takes fork then knife, the other knife
then fork: each ends up holding one and waiting for the other, for ever.

Run: python deadlock.py [scale]
"""

import sys
import threading
import time

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
fork = threading.Lock()
knife = threading.Lock()


def left_handed():
    with fork:
        time.sleep(0.2 * SCALE)  # long enough for the other to take the knife
        with knife:
            print("left-handed eats")


def right_handed():
    with knife:
        time.sleep(0.2 * SCALE)
        with fork:
            print("right-handed eats")


if __name__ == "__main__":
    a = threading.Thread(target=left_handed, name="lefty")
    b = threading.Thread(target=right_handed, name="righty")
    a.start()
    b.start()
    a.join()
    b.join()
    print("dinner is over")  # never printed
