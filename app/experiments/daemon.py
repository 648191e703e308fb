"""Daemon threads and daemon processes: who outlives whom (part 11 of the lecture).

Two fresh Python programs run side by side, each a real interpreter started
with ``python -I -c`` (what a student gets from ``python demo.py``):

- the *thread version*: main starts a daemon thread (sleeps `daemon_ms`) and
  a normal thread (sleeps `normal_ms`), does its own work (`main_ms`), and its
  code ends. Python then waits for every non-daemon thread and exits; the
  daemon thread is stopped with the process and never prints "over".
- the *process version*: the same with `multiprocessing` children. When
  main's code ends, multiprocessing's exit hook terminates the daemon child
  at once and then waits for the normal one.

::

    run's main (a real process: the terminal that runs both programs)
      |-- python -I -c <thread version>   --stdout pipe (one JSON line per print)-->
      |-- python -I -c <process version>  --stdout pipe ------------------------->
      |     waits on each program's pidfd      -> the exit, observed as it happens
      |     lists /proc/<pid>/task every tick  -> each thread's end, observed
      '-- relays every line, with the program's own clock stamp, as an event

Why fresh interpreters and not the run's main itself: two programs must run
at once, and a forked multiprocessing child is not a fresh program. Its
bootstrap runs multiprocessing's exit hook (which also stops the event
queue's feeder thread) *before* it waits for non-daemon threads, the
opposite of a real program's order, so events of a thread that outlives
main's code would be lost, and the thread/process ordering would not be the
one students get at home.

Nothing leaks: each program is started in a session of its own and killed
as a group on Stop; each program process and child asks the kernel for
SIGKILL when its parent dies (PR_SET_PDEATHSIG), and the run's main has the
runtime's watchdog on the server.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing.connection
import os
import signal
import string
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app import events, model
from app.events import Event
from app.experiments.spec import Experiment, Role
from app.i18n import N_, _
from app.worker import Worker

SLUG = "daemon"

# Event kinds. Programs send START, SAY, SPAWNED, CODE_END and REAPED; the
# run's main adds GONE, EXIT (of the programs and their children) and TICK.
SAY = "say"  # item: the line printed
SPAWNED = "spawned"  # item: the child's name; data: pid or tid (the parent says so)
CODE_END = "code_end"  # main's code reached its last line
GONE = "gone"  # a thread is no longer in /proc/<pid>/task; data: tid
REAPED = "reaped"  # a program's main collected a child's exit code; data: exitcode
TICK = "tick"  # the clock moves on (keeps the timeline growing)

PROGRAMS = ("thread", "process")
PREFIX = {"thread": "thr", "process": "proc"}
# How often the run's main looks at /proc and sends a tick: the timeline's
# resolution, and its frame rate while nothing else happens.
POLL_S = 0.02
TICK_NS = 50_000_000
# A program that has not ended this long after it should have is killed.
# A round of the watch loop that took longer than PAUSED_S means the run was
# paused (the server stops every process of it); that time does not count.
OVERTIME_S = 15.0
PAUSED_S = 1.0
STDERR_KEEP = 4000  # bytes of a program's stderr kept for a failure message


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    daemon_ms: int = Field(
        3000,
        ge=0,
        le=10000,
        title=N_("Daemon sleeps (ms)"),
        description=N_("the daemon thread / process sleeps this long, then prints 'over'"),
    )
    normal_ms: int = Field(
        2000,
        ge=0,
        le=10000,
        title=N_("Normal sleeps (ms)"),
        description=N_("the normal thread / process sleeps this long, then prints 'over'"),
    )
    main_ms: int = Field(
        1000,
        ge=0,
        le=10000,
        title=N_("Main works (ms)"),
        description=N_("main's own work before its code ends (0 in the lecture)"),
    )
    # At half speed both programs take about 4 s: long enough to watch who
    # is still there when main's code ends (at speed 1 it was over in 2 s).
    speed: float = Field(
        0.5,
        ge=0.1,
        le=20.0,
        title=N_("Speed of both programs"),
        description=N_("time factor: every duration is divided by it (fixed at start)"),
    )


# The program each interpreter runs: the lesson's program (SCRIPT, below)
# plus one report() per print and per thread or child started. Every report
# is one write() of one line to stdout, a pipe to the run's main; lines are
# shorter than PIPE_BUF, so lines of different threads and processes never mix.
RUNNER = r"""
import atexit, ctypes, json, os, sys, threading, time

KIND = sys.argv[1]
DAEMON_S, NORMAL_S, MAIN_S = (float(a) for a in sys.argv[2:5])
WATCHER = int(sys.argv[5])
P = "thr" if KIND == "thread" else "proc"


def die_with(parent):
    ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    if os.getppid() != parent:
        os._exit(70)


def report(who, kind, item=None, data=None):
    line = [time.monotonic_ns(), who, os.getpid(), threading.get_native_id(), kind, item, data]
    os.write(1, json.dumps(line).encode() + b"\n")


def sleep(seconds):
    # time.sleep, except that time spent stopped by the OS (the teacher
    # paused the run: SIGSTOP) does not count, as everywhere else in concviz.
    left = seconds
    while left > 0:
        before = time.monotonic()
        time.sleep(min(left, 0.01))
        spent = time.monotonic() - before
        left -= spent if spent < 0.25 else min(left, 0.01)


def slow_task(who, label, seconds, parent):
    if parent:
        die_with(parent)
    report(who, "start", data={"role": label})
    report(who, "say", label + " is running")
    sleep(seconds)
    report(who, "say", label + " is over")


die_with(WATCHER)
report(P + "-main", "start", data={"role": "main"})
if KIND == "thread":
    daemon = threading.Thread(
        target=slow_task, args=("thr-daemon", "daemon thread", DAEMON_S, 0), daemon=True
    )
    normal = threading.Thread(target=slow_task, args=("thr-normal", "normal thread", NORMAL_S, 0))
    daemon.start()
    report(P + "-main", "spawned", "thr-daemon", {"tid": daemon.native_id})
    normal.start()
    report(P + "-main", "spawned", "thr-normal", {"tid": normal.native_id})
else:
    children = []

    def exit_codes():
        for p in children:
            report(P + "-main", "reaped", p.name, {"pid": p.pid, "exitcode": p.exitcode})

    # Registered before multiprocessing registers its own exit hook, so it
    # runs after that hook has terminated and joined the children.
    atexit.register(exit_codes)
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    me = os.getpid()
    daemon = ctx.Process(
        target=slow_task,
        args=("proc-daemon", "daemon process", DAEMON_S, me),
        name="proc-daemon",
        daemon=True,
    )
    normal = ctx.Process(
        target=slow_task, args=("proc-normal", "normal process", NORMAL_S, me), name="proc-normal"
    )
    children += [daemon, normal]
    daemon.start()
    report(P + "-main", "spawned", "proc-daemon", {"pid": daemon.pid})
    normal.start()
    report(P + "-main", "spawned", "proc-normal", {"pid": normal.pid})
sleep(MAIN_S)
report(P + "-main", "say", "main: my code ends here")
report(P + "-main", "code_end")
"""


# The lesson's program, as a plain script for given parameters: shown on the
# page (with default parameters) and downloadable. It runs both versions as
# fresh programs, one after the other, prints what they print with the time
# since each started, and checks from their own words who printed 'over'.
SCRIPT = string.Template('''\
"""Daemon threads and daemon processes: who outlives whom, as concviz runs
it, without the server.

Two fresh Python programs, one after the other (durations at speed $speed):

- the thread version: main starts a daemon thread (it sleeps $daemon_s s) and
  a normal thread ($normal_s s), works $main_s s itself, and its code ends.
  Python waits for the normal thread, then the process exits and stops the
  daemon thread with it.
- the process version: the same with child processes. When main's code ends,
  multiprocessing terminates the daemon child, then waits for the normal one.

This script shows what each version prints and checks, from their own
words, who printed 'over' and who was stopped.
Run it with: python daemon.py   (one version only: python daemon.py thread)
"""

import atexit
import os
import signal
import subprocess
import sys
import time
from multiprocessing import Process
from threading import Thread

# Seconds: the daemon and the normal one sleep, then say 'over'; main works.
DAEMON_S = $daemon_s
NORMAL_S = $normal_s
MAIN_S = $main_s
CHILDREN = []  # (name, thread or process), for at_exit


def say(text):
    print(text + "\\n", end="", flush=True)  # one write: lines of threads never mix


def slow_task(name, seconds):
    say(f"{name} is running (pid {os.getpid()})")
    time.sleep(seconds)
    say(f"{name} is over")                # a daemon stopped before never gets here


def program(kind):
    """One version: main starts a daemon and a normal thread (or child
    process), does its own work, and its code ends."""
    Worker = Thread if kind == "thread" else Process
    daemon = Worker(target=slow_task, args=(f"daemon {kind}", DAEMON_S), daemon=True)
    normal = Worker(target=slow_task, args=(f"normal {kind}", NORMAL_S))
    CHILDREN.extend([(f"daemon {kind}", daemon), (f"normal {kind}", normal)])
    daemon.start()
    normal.start()
    say(f"main (pid {os.getpid()}): started a daemon {kind} and a normal {kind}")
    time.sleep(MAIN_S)                    # main's own work
    say("main: my code ends here")
    # Python's exit now: it waits for every normal thread; multiprocessing
    # terminates the daemon children, then joins the normal ones.


def at_exit():
    """Runs after those exit steps: how did each child end up?"""
    for name, child in CHILDREN:
        if isinstance(child, Thread):
            how = "still running" if child.is_alive() else "done"
            say(f"at exit: the {name} is {how}")
        else:
            say(f"at exit: the {name} ended with exit code {child.exitcode}")


def run(kind):
    """Start one version as a fresh program and show what it prints, with
    the time since its start; its lines, once it has exited."""
    say(f"--- the {kind} version: a fresh Python program")
    start = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-I", __file__, kind], stdout=subprocess.PIPE, text=True
    )
    lines = []
    for line in child.stdout:
        lines.append(line.rstrip("\\n"))
        say(f"{time.monotonic() - start:5.2f} s  {lines[-1]}")
    code = child.wait()
    say(f"{time.monotonic() - start:5.2f} s  the {kind} version exited with code {code}")
    assert code == 0, f"the {kind} version failed"
    return lines


if __name__ == "__main__":
    if len(sys.argv) > 1:                 # one version, as a program of its own
        atexit.register(at_exit)          # before multiprocessing's exit hook: runs after it
        program(sys.argv[1])              # main's code, then Python's exit steps
        sys.exit()
    threads, processes = run("thread"), run("process")

    # The thread version: Python waited for the normal thread before at_exit
    # ran; a daemon thread that did not say 'over' was still running then.
    assert threads.index("normal thread is over") < threads.index(
        "at exit: the normal thread is done")
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
        words = "printed 'over' too: it was done before the program ended"
    else:
        thread_daemon = "daemon thread never printed over"
        words = "never did: it was still running when the process exited, and was stopped with it"
    say(f"thread version: the normal thread printed 'over'; the daemon thread {words}")
    if not process_over:
        process_daemon = "daemon process terminated at main end"
        words = f"never did: it was terminated when main's code ended (exit code {-signal.SIGTERM})"
    elif sigterm in processes:
        process_daemon = "daemon process printed over, then was terminated at main end"
        words = "printed 'over', but main's code ended before it had exited: terminated"
    else:
        process_daemon = "daemon process printed over"
        words = "printed 'over' too: it had exited before main's code ended"
    say(f"process version: the normal process printed 'over'; the daemon process {words}")
    say(f"accounting: {thread_daemon}; {process_daemon}; both normal ones printed over")
''')


def _seconds(ms: int, speed: float) -> str:
    return f"{ms / 1000 / speed:.4g}"


def script(params: dict[str, Any]) -> str:
    """The plain program for these parameters: it runs without the server and
    prints the same story, checked, ending with an accounting line."""
    p = Params.model_validate(params)
    return SCRIPT.substitute(
        daemon_s=_seconds(p.daemon_ms, p.speed),
        normal_s=_seconds(p.normal_ms, p.speed),
        main_s=_seconds(p.main_ms, p.speed),
        speed=f"{p.speed:g}",
    )


# Where each worker is in the script. The fold gives the programs' threads
# and children one state while they live (`starting`, until they are seen to
# end), and their role says which they are: each child is in slow_task's
# sleep; each program's main is in program(), or past its end in Python's
# exit steps. Ended workers are on no line.
CODE_LINES = {
    f"daemon thread:{model.STARTING}": "time.sleep(seconds)",
    f"normal thread:{model.STARTING}": "time.sleep(seconds)",
    f"daemon process:{model.STARTING}": "time.sleep(seconds)",
    f"normal process:{model.STARTING}": "time.sleep(seconds)",
    f"main:{model.STARTING}": "program(sys.argv[1])",
}


# The run's main: start both programs, relay what they print, watch them end.


class _Program:
    """One program's interpreter, as its parent sees it."""

    def __init__(self, kind: str, seconds: tuple[float, float, float]) -> None:
        self.kind = kind
        self.prefix = PREFIX[kind]
        self.popen = subprocess.Popen(
            [
                sys.executable,
                "-I",
                "-c",
                RUNNER,
                kind,
                *(f"{s:.6f}" for s in seconds),
                str(os.getpid()),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: Stop kills it whole
            close_fds=True,
        )
        self.pid = self.popen.pid
        assert self.popen.stdout is not None
        assert self.popen.stderr is not None
        self.out = self.popen.stdout.fileno()
        self.err = self.popen.stderr.fileno()
        os.set_blocking(self.out, False)
        os.set_blocking(self.err, False)
        self.pidfd = _pidfd(self.pid)
        self.buf = b""
        self.stderr = b""
        self.out_open = self.err_open = True
        self.exitcode: int | None = None
        self.threads: dict[int, str] = {}  # tid -> name: threads still to see end
        self.children: dict[str, tuple[int, int | None]] = {}  # name -> pid, pidfd

    @property
    def exited(self) -> bool:
        return self.exitcode is not None

    @property
    def done(self) -> bool:
        return self.exited and not self.out_open and not self.children

    def fds(self) -> list[int]:
        fds = [fd for fd, open_ in ((self.out, self.out_open), (self.err, self.err_open)) if open_]
        if not self.exited and self.pidfd is not None:
            fds.append(self.pidfd)
        fds += [fd for _pid, fd in self.children.values() if fd is not None]
        return fds

    def read(self) -> list[events.RawEvent]:
        """Complete lines the program has printed so far."""
        self.out_open = _drain(self.out, self._take_out)
        self.err_open = _drain(self.err, self._take_err)
        out: list[events.RawEvent] = []
        *lines, self.buf = self.buf.split(b"\n")
        for line in lines:
            raw = _parse(line)
            if raw is None:
                continue
            out.append(raw)
            self._learn(raw)
        return out

    def _take_out(self, data: bytes) -> None:
        self.buf += data

    def _take_err(self, data: bytes) -> None:
        self.stderr = (self.stderr + data)[-STDERR_KEEP:]

    def _learn(self, raw: events.RawEvent) -> None:
        """Threads and children to watch, from what main says it started."""
        kind, item, data = raw[4], raw[5], raw[6] or {}
        if kind != SPAWNED or not item:
            return
        if "tid" in data and not self.exited:
            self.threads[int(data["tid"])] = item
        elif "pid" in data and item not in self.children:
            self.children[item] = (int(data["pid"]), _pidfd(int(data["pid"])))

    def look(self, now: int, ready: set[int]) -> list[events.RawEvent]:
        """What ended since the last look: threads, children, the program."""
        out: list[events.RawEvent] = []
        ended = not self.exited and (
            self.pidfd in ready if self.pidfd is not None else self.popen.poll() is not None
        )
        if ended:
            out += self.read()  # its last lines come before its end
        if self.threads:
            alive = set() if ended else _tasks(self.pid)
            for tid, name in list(self.threads.items()):
                if tid not in alive:
                    del self.threads[tid]
                    out.append((now, name, self.pid, tid, GONE, None, {"tid": tid}))
        fds = [fd for _pid, fd in self.children.values() if fd is not None]
        if ended and fds:  # children end before their parent does: look again
            ready = ready | _ready(fds, 0)
        for name, (pid, fd) in list(self.children.items()):
            if (fd in ready) if fd is not None else not _running(pid):
                del self.children[name]
                if fd is not None:
                    os.close(fd)
                out.append((now, name, pid, 0, events.EXIT, None, {"exitcode": None}))
        if ended:
            self.exitcode = self.popen.wait()
            data: dict[str, Any] = {"exitcode": self.exitcode}
            if self.exitcode and self.stderr:
                data["stderr"] = self.stderr.decode("utf-8", "replace")
            out.append((now, f"{self.prefix}-main", self.pid, 0, events.EXIT, None, data))
        return out

    def kill(self) -> list[events.RawEvent]:
        """Stop: kill the program and its children, and say so."""
        alive = {
            child
            for child, (pid, fd) in self.children.items()
            if (not _ready([fd], 0) if fd is not None else _running(pid))
        }
        out: list[events.RawEvent] = []
        if not self.exited:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)  # the program and its children
            self.exitcode = self.popen.wait()
            now = time.monotonic_ns()
            for tid, thread in self.threads.items():  # they died with their process
                out.append((now, thread, self.pid, tid, GONE, None, {"tid": tid}))
            self.threads.clear()
            data: dict[str, Any] = {"exitcode": self.exitcode}
            out.append((now, f"{self.prefix}-main", self.pid, 0, events.EXIT, None, data))
        for child, (pid, fd) in self.children.items():
            if child in alive and fd is not None:
                with contextlib.suppress(ProcessLookupError):  # a pidfd never hits a reused pid
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
                _ready([fd], 1.0)
            code: int | None = -int(signal.SIGKILL) if child in alive else None
            data = {"exitcode": code}
            out.append((time.monotonic_ns(), child, pid, 0, events.EXIT, None, data))
        return out

    def close(self) -> None:
        for _pid, fd in self.children.values():
            if fd is not None:
                os.close(fd)
        self.children.clear()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        for stream in (self.popen.stdout, self.popen.stderr):
            if stream is not None:
                stream.close()


def _ready(fds: list[int], timeout: float) -> set[int]:
    """The descriptors among `fds` that are readable within `timeout`."""
    return {fd for fd in multiprocessing.connection.wait(fds, timeout) if isinstance(fd, int)}


def _pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable when `pid` exits (Linux 5.3+), or
    None: then the process is polled instead."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _running(pid: int) -> bool:
    """Alive and not a zombie, by /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def _tasks(pid: int) -> set[int]:
    """The thread ids of a process, as the kernel lists them now."""
    try:
        return {int(t) for t in os.listdir(f"/proc/{pid}/task")}
    except OSError:
        return set()


def _drain(fd: int, take: Any) -> bool:
    """Read what a non-blocking pipe holds; False once it is closed."""
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not data:
            return False
        take(data)


def _parse(line: bytes) -> events.RawEvent | None:
    try:
        t_ns, who, pid, tid, kind, item, data = json.loads(line)
    except ValueError:
        return None
    return (int(t_ns), str(who), int(pid), int(tid), str(kind), item, data)


def main(w: Worker) -> None:
    speed = float(w.params["speed"])
    seconds = (
        w.params["daemon_ms"] / 1000 / speed,
        w.params["normal_ms"] / 1000 / speed,
        w.params["main_ms"] / 1000 / speed,
    )
    deadline = time.monotonic() + max(seconds) + OVERTIME_S
    programs: list[_Program] = []
    try:
        for kind in PROGRAMS:
            programs.append(_Program(kind, seconds))
            w.emit(SPAWNED, f"{PREFIX[kind]}-main", {"pid": programs[-1].pid, "program": kind})
        w.flush()
        next_tick = 0
        last = time.monotonic()
        while not all(p.done for p in programs):
            w.pacer.check()  # Stop: the finally below kills both programs
            before, last = last, time.monotonic()
            if last - before > PAUSED_S:  # we were paused (SIGSTOP), the programs too
                deadline += last - before
            if last > deadline:
                raise RuntimeError("a program did not end in time; both were killed")
            fds = [fd for p in programs for fd in p.fds()]
            ready = _ready(fds, POLL_S)
            now = time.monotonic_ns()
            batch: list[events.RawEvent] = []
            for p in programs:
                batch += p.read()
                batch += p.look(now, ready)
            if now >= next_tick:
                batch.append((now, w.name, os.getpid(), w.tracer.tid, TICK, None, None))
                next_tick = now + TICK_NS
            if batch:
                batch.sort(key=lambda raw: raw[0])
                w.flush()
                w.sink.put(batch)
        failed = [p for p in programs if p.exitcode]
        if failed:
            p = failed[0]
            tail = p.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            raise RuntimeError(f"the {p.kind} version exited with code {p.exitcode}: {tail[0]}")
    finally:
        leftovers: list[events.RawEvent] = []
        for p in programs:
            leftovers += p.read()
            leftovers += p.kill()
            p.close()
        if leftovers:
            w.flush()
            w.sink.put(leftovers)


# The view state: one track per thread or process of each program.


@dataclass
class Track:
    name: str
    program: str  # thread | process
    role: str  # main | normal | daemon
    pid: int = 0
    tid: int = 0
    start: float | None = None  # its first sign of life
    over: float | None = None  # when it printed "... is over"
    code_end: float | None = None  # main only: its code's last line
    end: float | None = None  # observed: gone from /proc (thread) or exited (process)
    exitcode: int | None = None

    @property
    def label(self) -> str:
        """Its name in words (English: look it up with `_` where shown)."""
        return LABELS[self.program, self.role]

    def to_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "tid": self.tid,
            "start": self.start,
            "over": self.over,
            "code_end": self.code_end,
            "end": self.end,
            "exitcode": self.exitcode,
        }


@dataclass
class Printed:
    seq: int
    t: float
    text: str


LABELS = {
    ("thread", "main"): N_("main thread"),
    ("thread", "normal"): N_("normal thread"),
    ("thread", "daemon"): N_("daemon thread"),
    ("process", "main"): N_("main process"),
    ("process", "normal"): N_("normal process"),
    ("process", "daemon"): N_("daemon process"),
}


def _tracks() -> dict[str, Track]:
    return {
        f"{PREFIX[program]}-{role}": Track(f"{PREFIX[program]}-{role}", program, role)
        for program in PROGRAMS
        for role in ("main", "normal", "daemon")
    }


@dataclass
class DaemonState(model.RunState):
    tracks: dict[str, Track] = field(default_factory=_tracks)
    printed: dict[str, deque[Printed]] = field(
        default_factory=lambda: {p: deque(maxlen=8) for p in PROGRAMS}
    )

    def counters(self) -> dict[str, Any]:
        return {
            f"{name}_end": round(track.end, 3) if track.end is not None else None
            for name, track in self.tracks.items()
        }

    def extras(self) -> dict[str, Any]:
        return {"timeline": {name: track.to_dict() for name, track in self.tracks.items()}}


def _seen(track: Track, t: float) -> None:
    if track.start is None or t < track.start:
        track.start = t


def _start(state: DaemonState, e: Event) -> None:
    model.LIFECYCLE[events.START](state, e)
    track = state.tracks.get(e.worker)
    if track is not None:
        track.pid, track.tid = e.pid, e.tid
        _seen(track, e.t)


def _spawned(state: DaemonState, e: Event) -> None:
    track = state.tracks.get(e.item or "")
    if track is None:
        return
    data = e.data or {}
    track.pid = int(data.get("pid", track.pid or e.pid))
    track.tid = int(data.get("tid", track.tid))
    if e.worker != "main":  # the run's main launching a program is not its start
        _seen(track, e.t)


def _say(state: DaemonState, e: Event) -> None:
    track = state.tracks.get(e.worker)
    if track is None:
        return
    text = e.item or ""
    if text.endswith(" is over"):
        track.over = e.t
    state.printed[track.program].append(Printed(e.seq, e.t, text))


def _code_end(state: DaemonState, e: Event) -> None:
    track = state.tracks.get(e.worker)
    if track is not None:
        track.code_end = e.t


def _ended(state: DaemonState, e: Event, exitcode: int | None) -> None:
    track = state.tracks.get(e.worker)
    if track is None:
        return
    if track.end is None or e.t < track.end:
        track.end = e.t
    if exitcode is not None:
        track.exitcode = exitcode


def _gone(state: DaemonState, e: Event) -> None:
    _ended(state, e, None)
    w = model.worker_of(state, e)
    w.alive = False
    track = state.tracks.get(e.worker)
    stopped = track is not None and track.over is None
    model.set_state(w, e, model.KILLED if stopped else model.FINISHED)


def _exit(state: DaemonState, e: Event) -> None:
    code = (e.data or {}).get("exitcode")
    model.LIFECYCLE[events.EXIT](state, e)
    _ended(state, e, code)


def _reaped(state: DaemonState, e: Event) -> None:
    """A program's main says how its child ended (its exit code); the
    time of the end is what the run's main saw."""
    code = (e.data or {}).get("exitcode")
    track = state.tracks.get(e.item or "")
    if track is None or code is None:
        return
    track.exitcode = code
    w = state.workers.get(track.name)
    if w is not None:
        w.exitcode = code
        if code < 0:
            w.state = model.KILLED


fold = model.make_fold(
    {
        events.START: _start,
        events.EXIT: _exit,
        SPAWNED: _spawned,
        SAY: _say,
        CODE_END: _code_end,
        GONE: _gone,
        REAPED: _reaped,
    },
    quiet=frozenset({TICK}),
)


def fold_all(evs: list[Event]) -> DaemonState:
    state = DaemonState()
    for e in evs:
        fold(state, e)
    return state


# The view: the timelines as SVG geometry (user units; the SVG scales to the
# stage's width), worked out here so that the template only places them.

SVG_W = 1000
PLOT_X0, PLOT_X1 = 262.0, 975.0
AXIS_H = 36
ROW_H = 68
BAR_Y, BAR_H = 6, 30
_TICK_STEPS = (0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
_SIGNALS = {-signal.SIGTERM: "SIGTERM", -signal.SIGKILL: "SIGKILL"}


def _secs(t: float) -> str:
    return f"{t:.2f} s"


def planned(params: dict[str, Any]) -> dict[str, float]:
    """When each kind of track would say 'over' (or end its code), in
    seconds after it starts."""
    speed = float(params.get("speed", 1.0)) or 1.0
    return {
        "daemon": params.get("daemon_ms", 0) / 1000 / speed,
        "normal": params.get("normal_ms", 0) / 1000 / speed,
        "main": params.get("main_ms", 0) / 1000 / speed,
    }


def _row(
    track: Track, t0: float, now: float, due: float, x: Any, y: float, live: bool
) -> dict[str, Any]:
    bars: list[dict[str, Any]] = []
    marks: list[dict[str, Any]] = []
    ghost: dict[str, Any] | None = None
    bar_top, text_y = y + BAR_Y, y + BAR_Y + BAR_H + 21
    start = track.start
    end = track.end if track.end is not None else (now if live else None)
    if start is not None and end is not None:
        if track.role == "main":
            split = track.code_end if track.code_end is not None else end
            bars.append({"x": x(start), "w": max(3.0, x(split) - x(start)), "cls": "run main"})
            if track.code_end is not None:
                width = max(0.0, x(end) - x(split))
                waiting = (
                    _("waits for the normal thread")
                    if track.program == "thread"
                    else _("atexit: ends the daemon, joins the normal")
                )
                bars.append(
                    {
                        "x": x(split),
                        "w": width,
                        "cls": "wait",
                        "text": waiting if width > 330 else "",
                    }
                )
                marks.append(
                    {
                        "x": x(split),
                        "text": _("code ends %(t)s") % {"t": _secs(split - t0)},
                        "cls": "code",
                        "anchor": "end" if x(split) > PLOT_X0 + 190 else "start",
                    }
                )
        else:
            bars.append(
                {"x": x(start), "w": max(3.0, x(end) - x(start)), "cls": f"run {track.role}"}
            )
        if track.over is not None:
            marks.append(
                {
                    "x": x(track.over),
                    "text": _("✓ over %(t)s") % {"t": _secs(track.over - t0)},
                    "cls": "ok",
                    "anchor": "end",
                }
            )
        if track.end is not None:
            ended_at = _secs(track.end - t0)
            if track.role == "main":
                text = (
                    _("■ exit %(t)s") % {"t": ended_at}
                    if track.exitcode in (None, 0)
                    else _("■ exit %(t)s, code %(code)s") % {"t": ended_at, "code": track.exitcode}
                )
                marks.append(
                    {
                        "x": x(track.end),
                        "text": text,
                        "cls": "exit",
                        # right of the exit when there is room: left of it
                        # is where main's "code ends" stands
                        "anchor": "start" if x(track.end) < PLOT_X1 - 230 else "end",
                    }
                )
            elif track.over is None:
                how = _("✗ stopped %(t)s") if track.program == "thread" else _("✗ terminated %(t)s")
                sig = _SIGNALS.get(track.exitcode or 0, "")
                text = how % {"t": ended_at} + (f" ({sig})" if sig else "")
                anchor = "start" if x(track.end) < PLOT_X1 - 260 else "end"
                marks.append({"x": x(track.end), "text": text, "cls": "stop", "anchor": anchor})
        if track.role != "main" and track.over is None:
            due_t = start + due
            left = x(end)
            if x(due_t) - left > 2:
                never = track.end is not None
                ghost = {
                    "x": left,
                    "w": x(due_t) - left,
                    "due_x": x(due_t),
                    "text": _ghost_text(never, x(due_t) - left),
                    "cls": f"ghost {track.role}" + (" never" if never else ""),
                }
    for bar in bars:
        bar["y"], bar["h"] = bar_top, BAR_H
    for mark in marks:
        mark["y"] = text_y
        mark["y0"], mark["y1"] = bar_top - 4, bar_top + BAR_H + 4
    ids = (
        f"pid {track.pid}"
        if track.program == "process" or track.role == "main"
        else f"tid {track.tid}"
    )
    return {
        "id": track.name,
        "label": _(track.label),
        "ids": ids if (track.pid or track.tid) else "",
        "y": y,
        "label_y": bar_top + BAR_H - 8,
        "bar_y": bar_top,
        "bar_h": BAR_H,
        "ids_y": text_y,
        "bars": bars,
        "marks": marks,
        "ghost": ({**ghost, "y": bar_top, "h": BAR_H} if ghost else None),
        "role": track.role,
    }


def _ghost_text(never: bool, width: float) -> str:
    """The words inside a ghost box, as many as fit (18px bold: ~10.5 units
    a character)."""
    if not never:
        return _("‘over’ due") if width > 120 else ""
    if width > 235:
        return _("‘over’ never printed")
    if width > 150:
        return _("never printed")
    return _("never") if width > 65 else ""


def _ticks(span: float) -> list[float]:
    step = next((s for s in _TICK_STEPS if span / s <= 8), _TICK_STEPS[-1])
    return [i * step for i in range(int(span / step) + 1)]


def view(state: DaemonState, params: dict[str, Any]) -> dict[str, Any]:
    due = planned(params)
    live = state.status in ("starting", "running")
    now = state.last_t
    starts = {program: state.tracks[f"{PREFIX[program]}-main"].start for program in PROGRAMS}
    # One scale for both programs, so that their times line up.
    elapsed = [
        (max((t.end or now) for t in state.tracks.values() if t.program == p) - t0)
        for p, t0 in starts.items()
        if t0 is not None
    ]
    span = max([max(due.values()) * 1.12, 0.2, *(e * 1.03 for e in elapsed)])

    def scale(t0: float) -> Any:
        return lambda t: round(
            PLOT_X0 + (PLOT_X1 - PLOT_X0) * min(max(t - t0, 0.0), span) / span, 1
        )

    height = AXIS_H + 3 * ROW_H
    programs = []
    for program in PROGRAMS:
        prefix = PREFIX[program]
        main_track = state.tracks[f"{prefix}-main"]
        t0 = starts[program]
        rows = []
        if t0 is not None:
            x = scale(t0)
            for i, role in enumerate(("main", "normal", "daemon")):
                track = state.tracks[f"{prefix}-{role}"]
                rows.append(_row(track, t0, now, due[role], x, AXIS_H + i * ROW_H, live))
        axis = [
            {"x": round(PLOT_X0 + (PLOT_X1 - PLOT_X0) * t / span, 1), "label": f"{t:g} s"}
            for t in _ticks(span)
        ]
        now_x = scale(t0)(now) if (t0 is not None and live) else None
        # While the result is hidden, the page draws nothing after main's
        # code ends: who is still there then is the question.
        code_end = main_track.code_end if t0 is not None else None
        cut_x = scale(t0)(code_end) if t0 is not None and code_end is not None else None
        tracks = {role: state.tracks[f"{prefix}-{role}"] for role in ("main", "normal", "daemon")}
        programs.append(
            {
                "kind": program,
                "prefix": prefix,
                "pid": main_track.pid,
                "t0": t0,
                "rows": rows,
                "axis": axis,
                "now_x": now_x,
                "height": height,
                "tracks": tracks,
                "facts": _facts(program, tracks, t0),
                "cut_t": code_end,
                "cut_x": cut_x,
                "open_facts": _facts(program, tracks, t0)[:1] if cut_x is not None else [],
                "printed": list(state.printed[program]),
            }
        )
    return {
        "programs": programs,
        "svg_w": SVG_W,
        "plot_x0": PLOT_X0,
        "plot_x1": PLOT_X1,
        "axis_h": AXIS_H,
        "due": due,
        "runbar_facts": [
            _("daemon %(daemon)s s, normal %(normal)s s, main %(main)s s")
            % {key: f"{due[key]:g}" for key in ("daemon", "normal", "main")}
        ],
    }


def _facts(program: str, tracks: dict[str, Track], t0: float | None) -> list[str]:
    """What was observed, in words: each sentence only once its fact is in."""
    if t0 is None:
        return []
    main, normal, daemon = tracks["main"], tracks["normal"], tracks["daemon"]
    threads = program == "thread"
    out = []
    if main.code_end is not None:
        out.append(_("main's code ended at %(t)s.") % {"t": _secs(main.code_end - t0)})
    if normal.over is not None:
        said = (
            _("The normal thread printed ‘over’ at %(t)s.")
            if threads
            else _("The normal process printed ‘over’ at %(t)s.")
        )
        out.append(said % {"t": _secs(normal.over - t0)})
    if daemon.end is not None and daemon.over is None:
        ended = (
            _("The daemon thread was stopped at %(t)s, before printing ‘over’.")
            if threads
            else _("The daemon process was terminated at %(t)s, before printing ‘over’.")
        )
        out.append(ended % {"t": _secs(daemon.end - t0)})
    elif daemon.over is not None:
        quicker = (
            _("The daemon thread printed ‘over’ at %(t)s: it was quicker.")
            if threads
            else _("The daemon process printed ‘over’ at %(t)s: it was quicker.")
        )
        out.append(quicker % {"t": _secs(daemon.over - t0)})
    if main.end is not None:
        out.append(
            _("The program exited at %(t)s (exit code %(code)s).")
            % {"t": _secs(main.end - t0), "code": main.exitcode}
        )
    return out


EXPERIMENT = Experiment(
    slug=SLUG,
    title=N_("Daemon threads and processes"),
    summary=N_("Who outlives whom, on a timeline."),
    lecture_part="11",
    params=Params,
    roles=(Role("main", "main", main, fixed_name="main"),),
    program=script({}),
    script=script,
    code_lines=CODE_LINES,
    quick_params={"speed": 5},
    modules=(__name__,),
    new_state=DaemonState,
    fold=fold,
    frame_template="partials/daemon/_frame.html",
    stylesheet="experiments/daemon.css",
    view=view,
    main_in_process=True,
    # main, and two programs of three (main and two threads or children).
    workers_needed=lambda params: 7,
    notes={"finished": N_("both programs have exited")},
    # Who was still there when main's code ended, and who was stopped.
    outcome_states=frozenset({model.FINISHED, model.KILLED}),
)
