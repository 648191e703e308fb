"""What a thread is: three acts, each printed as it happens.

Act 1: two ways to start a thread, each saying which process (pid) and
which thread (native id) it is. Act 2: who prints first, a new thread or
main, REPEAT times. Act 3: a thread changes a global for main; a child
process changes only its own copy.

Run it with: python threads.py
"""

import os
import threading
import time
from multiprocessing import Process

REPEAT = 10  # rounds of "who prints first?"
PAUSE_MS = 250  # between two rounds
STEP_MS = 1000  # how long each step of acts 1 and 3 lasts

seen = {}  # who -> (pid, thread id): one dict, shared by this process's threads
x = 100  # the global of act 3


def pause(ms):
    time.sleep(ms / 1000)


def hello(who):
    pid, tid = os.getpid(), threading.get_native_id()
    seen[who] = (pid, tid)
    print(f"{who}: hello from pid {pid}, thread {tid}")


# Act 1: two ways to start a thread.
def greet(who):
    hello(who)
    pause(STEP_MS)  # stay alive for a step, then end


class Greeter(threading.Thread):
    def run(self):  # way 2: start() runs this in the new thread
        greet(self.name)


def two_ways():
    print("act 1: two ways to start a thread")
    hello("main")
    t1 = threading.Thread(target=greet, args=("T1",), name="T1")  # way 1
    t1.start()
    print("main: I started T1 and carry on")
    t2 = Greeter(name="T2")
    t2.start()
    print("main: I started T2 and carry on")
    t1.join()
    t2.join()
    print("main: T1 and T2 have ended")


# Act 2: who prints first? Each side writes one line into the same pipe,
# so the pipe holds the lines in the order they were printed.
def child_prints(fd):
    os.write(fd, b"child\n")  # print("child"): one write() of one line


def race():
    print("act 2: who prints first?")
    read_end, write_end = os.pipe()
    tally = {"child": 0, "main": 0}
    for n in range(1, REPEAT + 1):
        t = threading.Thread(target=child_prints, args=(write_end,), name=f"R{n}")
        t.start()
        os.write(write_end, b"main\n")  # main prints right after start()
        t.join()
        first, then = os.read(read_end, 64).decode().split()
        tally[first] += 1
        print(f"round {n}: {first} printed first, then {then}")
        pause(PAUSE_MS)
    os.close(read_end)
    os.close(write_end)
    print(f"tally: child first {tally['child']}, main first {tally['main']}")
    return tally


# Act 3: memory. A thread shares main's memory; a child process has its own.
def change_x(who):
    global x
    print(f"{who} reads x = {x}")
    pause(STEP_MS / 2)
    x = 10  # main's x, from a thread; its own copy, from a child process
    print(f"{who} sets x = {x}")
    pause(STEP_MS / 2)


def memory():
    global x
    print("act 3: memory")
    x = 100
    print("main sets x = 100")
    pause(STEP_MS / 2)
    t3 = threading.Thread(target=change_x, args=("T3",), name="T3")
    t3.start()
    t3.join()
    after_thread = x
    print(f"main reads x = {x} after the thread T3")  # 10
    pause(STEP_MS)

    x = 100
    print("main sets x = 100")
    pause(STEP_MS / 2)
    # The child process has memory of its own: what it changes, main never sees.
    p1 = Process(target=change_x, args=("P1",), name="P1")
    p1.start()
    p1.join()
    print(f"main reads x = {x} after the child process P1")  # still 100
    assert p1.exitcode == 0 and p1.pid != os.getpid()
    return after_thread, x


if __name__ == "__main__":
    two_ways()
    pause(STEP_MS)
    tally = race()
    pause(STEP_MS)
    after_thread, after_process = memory()
    pid = os.getpid()
    assert seen["T1"][0] == seen["T2"][0] == pid  # one process...
    assert len({tid for _, tid in seen.values()}) == 3  # ...three threads
    assert tally["child"] + tally["main"] == REPEAT
    assert (after_thread, after_process) == (10, 100)
    print(
        f"accounting: main, T1 and T2 in pid {pid} with 3 thread ids;"
        f" {REPEAT} round(s), child first {tally['child']},"
        f" main first {tally['main']};"
        f" x = {after_thread} after the thread, {after_process} after the process"
    )
