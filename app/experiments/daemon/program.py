"""Daemon threads and daemon processes: who outlives whom.

Two versions of one small program run side by side, each a fresh Python
program (this file again, given the version's name):

- the thread version: main starts a daemon thread and a normal thread; each
  sleeps, then prints 'over'. Main works a while itself, and its code ends.
  Python then waits for every normal thread, and the process exits: a daemon
  thread still running is stopped with it and never prints 'over'.
- the process version: the same with child processes. When main's code
  ends, multiprocessing's exit hook terminates a daemon child still running
  (it sends SIGTERM), then waits for the normal one.

Each version prints what happens and, at its very end, how each child
ended up. This program shows their lines and checks, from their own words,
who printed 'over' and who was stopped.

Run it with: python daemon.py   (one version alone: python daemon.py thread)
"""

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import time
from multiprocessing import Process
from threading import Thread, get_native_id

DAEMON_MS = 3000  # the daemon sleeps this long, then prints 'over'
NORMAL_MS = 2000  # the normal one sleeps this long, then prints 'over'
MAIN_MS = 1000  # main's own work, before its code ends

VERSIONS = ("thread", "process")
CHILDREN = []  # this version's daemon and normal one, for at_exit


def say(text):
    print(text + "\n", end="", flush=True)  # one write: lines of threads never mix


def slow_task(name, ms):
    say(f"{name} is running (pid {os.getpid()}, thread {get_native_id()})")
    if name.endswith("process"):
        signal.signal(signal.SIGTERM, lambda signum, frame: last_words(name, signum))
    time.sleep(ms / 1000)
    say(f"{name} is over")  # a daemon stopped before never gets here


def last_words(name, signum):
    """terminate() sends SIGTERM. Say so, then let the signal do what it
    does by default: end the process at once (exit code -15)."""
    with contextlib.suppress(BrokenPipeError):  # a Stop ends its reader first
        say(f"{name} got SIGTERM")
    time.sleep(0.01)  # a moment for the line to get out
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def version(kind):
    """Main starts a daemon and a normal thread (or child process), does its
    own work, and its code ends."""
    Worker = Thread if kind == "thread" else Process
    daemon = Worker(target=slow_task, args=(f"daemon {kind}", DAEMON_MS), daemon=True)
    normal = Worker(target=slow_task, args=(f"normal {kind}", NORMAL_MS))
    daemon.name, normal.name = f"daemon {kind}", f"normal {kind}"
    CHILDREN.extend([daemon, normal])
    daemon.start()
    normal.start()
    say(f"main (pid {os.getpid()}): started a daemon {kind} and a normal {kind}")
    time.sleep(MAIN_MS / 1000)  # main's own work
    say("main: my code ends here")
    # Python's exit now: it waits for every normal thread; multiprocessing
    # terminates the daemon children, then joins the normal ones.


def at_exit():
    """Runs after those exit steps: how did each one end up?"""
    for child in CHILDREN:
        if isinstance(child, Thread):
            how = "is still running" if child.is_alive() else "is done"
        else:
            how = f"ended with exit code {child.exitcode}"
        say(f"at exit: the {child.name} {how}")


def run_both():
    """Start both versions at once; show each one's lines, then check them."""
    print("main: starting the thread version and the process version")
    started = {
        kind: subprocess.Popen([sys.executable, __file__, kind], stdout=subprocess.PIPE, text=True)
        for kind in VERSIONS
    }
    said = {}
    for kind, child in started.items():
        said[kind] = [line.rstrip("\n") for line in child.stdout]
        for line in said[kind]:
            print(f"  {kind} version | {line}")
        code = child.wait()
        print(f"main: the {kind} version (pid {child.pid}) exited with code {code}")
        assert code == 0, f"the {kind} version failed"
    return said["thread"], said["process"]


if __name__ == "__main__":
    if len(sys.argv) > 1:  # one version, as a program of its own
        atexit.register(at_exit)  # before multiprocessing's exit hook: runs after it
        version(sys.argv[1])
        sys.exit()
    threads, processes = run_both()

    # The thread version: Python waited for the normal thread before at_exit
    # ran; a daemon thread that did not say 'over' was still running then.
    assert threads.index("normal thread is over") < threads.index(
        "at exit: the normal thread is done"
    )
    thread_over = "daemon thread is over" in threads
    assert thread_over or "at exit: the daemon thread is still running" in threads
    # The process version: the normal child said 'over' and ended on its own
    # (exit code 0); a daemon child that did not say 'over' was terminated.
    assert "normal process is over" in processes
    assert "at exit: the normal process ended with exit code 0" in processes
    process_over = "daemon process is over" in processes
    sigterm = f"at exit: the daemon process ended with exit code {-signal.SIGTERM}"
    assert process_over or sigterm in processes

    if thread_over:
        thread_daemon = "daemon thread printed over"
    else:
        thread_daemon = "daemon thread never printed over"
    if not process_over:
        process_daemon = "daemon process terminated at main end"
    elif sigterm in processes:
        process_daemon = "daemon process printed over, then was terminated at main end"
    else:
        process_daemon = "daemon process printed over"
    print(f"accounting: {thread_daemon}; {process_daemon}; both normal ones printed over")
