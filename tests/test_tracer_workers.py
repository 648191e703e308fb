"""The tracer inside an unmodified program: its processes and threads, their
names, their order, and what the library does on its own (not reported)."""

from __future__ import annotations

import pytest
from tracerharness import Traced, folded, trace

from app.programs import view


def test_objects_are_named_after_the_variables_the_program_gives_them() -> None:
    run = trace(
        """
        import multiprocessing as mp
        import queue
        from multiprocessing import Pipe, Queue

        class Kitchen:
            def __init__(self):
                self.q = queue.Queue()

        if __name__ == "__main__":
            q = Queue(3)
            k = Kitchen()
            a, b = Pipe()
            left, right = mp.Lock(), mp.Event()
            queues = [queue.Queue() for _ in range(2)]
            forks = []
            for _ in range(2):
                forks.append(mp.Lock())
            x, y = [mp.Event() for _ in range(2)]
            bells = [mp.Event(), mp.Event()]
            bells += [mp.Lock() for _ in range(1)]
            bells.extend([mp.Event()])
            bells.append(mp.Lock())
            locks = {"left": mp.Lock(), "right": mp.Lock()}

            class Table:
                def __init__(self, n):
                    self.forks = [mp.Lock() for _ in range(n)]

            table = Table(2)
            inbox = Queue(2) if table else queue.LifoQueue(2)
        """
    )
    assert run.new("q") == {
        "line": 11,
        "type": "Queue",
        "lib": "multiprocessing",
        "name": "q",
        "maxsize": 3,
    }
    assert run.new("k.q")["lib"] == "queue"  # made in k's constructor: k's q
    assert run.new("k.q")["line"] == 8
    a, b = run.new("a"), run.new("b")
    assert (a["type"], a["peer"], b["peer"]) == ("Connection", run.key("b"), run.key("a"))
    assert a["duplex"] is True
    assert (run.new("left")["type"], run.new("right")["type"]) == ("Lock", "Event")
    # Made into a list: items of it, numbered in the order they were made.
    assert [run.new(f"queues[{i}]")["lib"] for i in (0, 1)] == ["queue", "queue"]
    assert [run.new(f"forks[{i}]")["line"] for i in (0, 1)] == [18, 18]
    # Made on a line that names no one variable: after their type and line.
    assert run.new("<Event>@19")["type"] == "Event"
    assert run.new("<Event>@19 #2")["type"] == "Event"
    # However a list grows, an item is named by its place in it.
    assert [run.new(f"bells[{i}]")["line"] for i in range(5)] == [20, 20, 21, 22, 23]
    # In a dict display, by its key; in a list its owner's constructor made, the owner's.
    assert run.new("locks['left']")["line"] == run.new("locks['right']")["line"] == 24
    assert [run.new(f"table.forks[{i}]")["line"] for i in (0, 1)] == [28, 28]
    # Either of a conditional's two: the variable's.
    assert run.new("inbox")["type"] == "Queue"
    keys = [e.item for e in run.of("new")]
    assert len(set(keys)) == len(keys) == 22


def test_processes_start_end_and_are_reaped_with_their_exit_codes_and_signals() -> None:
    run = trace(
        """
        import multiprocessing as mp
        import sys

        def fail():
            sys.exit(3)

        def hang(ready):
            ready.set()
            mp.Event().wait()

        if __name__ == "__main__":
            ready = mp.Event()
            quits = mp.Process(target=fail, name="quits")
            killed = mp.Process(target=hang, args=(ready,))
            quits.start()
            killed.start()
            ready.wait()
            killed.kill()
            quits.join()
            killed.join(timeout=30)
            print(quits.exitcode, killed.exitcode)
        """
    )
    spawn = run.one("spawn", "quits").data
    assert spawn["line"] == 16
    assert spawn["target"] == "fail"
    assert spawn["method"] == "fork"
    quits = [e for e in run.events if e.pid == spawn["pid"]]
    assert [e.kind for e in quits] == ["proc", "thread", "end", "exit"]
    assert quits[0].data == {
        "name": "quits",
        "ppid": run.by("main")[0].pid,
        "main": False,
        "method": "fork",
        "daemon": False,
    }
    assert quits[-1].data == {"exitcode": 3}
    assert run.one("reaped", "quits").data == {
        "pid": spawn["pid"],
        "exitcode": 3,
        "signal": None,
        "cut_off": False,
    }
    killed = run.of("spawn")[1]
    assert killed.item == "killed"  # its variable: its name is multiprocessing's (Process-2)
    assert killed.data["target"] == "hang"
    reaped = run.one("reaped", "killed").data
    assert (reaped["exitcode"], reaped["signal"]) == (-9, "SIGKILL")
    assert run.one("joined", "killed").data == {"alive": False, "exitcode": -9}
    assert not [e for e in run.events if e.pid == killed.data["pid"] and e.kind == "exit"]
    join = run.one("join", "quits").data
    assert join == {"line": 20, "what": "process", "pid": spawn["pid"], "timeout": None}
    assert run.one("join", "killed").data["timeout"] == 30
    assert run.printed("main") == "3 -9\n"


def test_a_process_is_announced_after_its_parent_started_it_and_before_its_own_events() -> None:
    run = trace(
        """
        import multiprocessing as mp

        def child():
            print("child")

        if __name__ == "__main__":
            for method in ("fork", "spawn", "forkserver"):
                p = mp.get_context(method).Process(target=child, name=method)
                p.start()
                p.join()
        """
    )
    main_pid = run.by("main")[0].pid
    for method in ("fork", "spawn", "forkserver"):
        pid = run.one("spawn", method).data["pid"]
        mine = [k for k, e in enumerate(run.events) if e.pid == pid]
        assert mine, method
        assert run.index("spawn", method) < mine[0]
        first = run.events[mine[0]]
        assert (first.kind, first.worker, first.data["method"]) == ("proc", method, method)
        assert first.data["ppid"] == main_pid
        assert run.printed(method) == "child\n"
    # The forkserver and the resource tracker run no user code: never shown.
    assert {e.pid for e in run.of("proc")} == {main_pid} | {e.data["pid"] for e in run.of("spawn")}


def test_threads_started_both_ways_announce_themselves_after_their_start() -> None:
    run = trace(
        """
        import threading

        def work(n):
            print("work", n)

        class Worker(threading.Thread):
            def run(self):
                print("run")

        if __name__ == "__main__":
            t = threading.Thread(target=work, args=(1,), name="T")
            w = Worker()
            t.start()
            w.start()
            t.join()
            w.join(5)
        """
    )
    t = run.one("start_thread", "T").data
    assert t["target"] == "work"
    assert t["line"] == 14
    assert t["daemon"] is False
    w = run.of("start_thread")[1]
    assert w.item.startswith("Thread-")
    assert w.data["target"] == "Worker.run"
    for item, tid in (("T", t["tid"]), (w.item, w.data["tid"])):
        mine = run.by(item)
        assert [e.kind for e in mine] == ["thread", "out", "end"]
        assert {e.tid for e in mine} == {tid}
        assert mine[-1].data == {"error": None}
        assert run.index("start_thread", item) < run.events.index(mine[0])
    assert run.one("join", "T").data == {
        "line": 16,
        "what": "thread",
        "tid": t["tid"],
        "timeout": None,
    }
    assert run.index("end", None, "T") < run.index("joined", "T")
    assert run.one("joined", w.item).data == {"alive": False}


def test_a_daemon_thread_still_running_at_the_end_of_main_is_cut_off() -> None:
    run = trace(
        """
        import threading

        forever = threading.Event()
        threading.Thread(target=forever.wait, name="sleeper", daemon=True).start()
        threading.Thread(target=print, args=("done",), name="quick").start()
        """
    )
    assert run.one("start_thread", "sleeper").data["daemon"] is True
    main_end = [e for e in run.of("end") if e.worker == "main"]
    assert [e.data for e in main_end] == [{"daemon_threads": ["sleeper"]}]
    assert not [e for e in run.by("sleeper") if e.kind == "end"]
    assert run.one("exit").data == {"exitcode": 0}


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver", "set_start_method"])
def test_a_queue_crosses_into_a_child_under_each_start_method_and_keeps_its_key(
    method: str,
) -> None:
    context = (
        'mp.set_start_method("spawn")\n    ctx = mp'
        if method == "set_start_method"
        else f'ctx = mp.get_context("{method}")'
    )
    run = trace(
        f"""
import multiprocessing as mp

def child(q):
    q.put("from the child")

if __name__ == "__main__":
    {context}
    q = ctx.Queue()
    p = ctx.Process(target=child, args=(q,))
    p.start()
    print(q.get())
    p.join()
"""
    )
    key = run.key("q")
    expected = "spawn" if method == "set_start_method" else method
    assert run.one("spawn").data["method"] == expected
    put = run.one("put", key)
    assert put.worker == run.one("spawn").item  # Process-1, ForkProcess-1...
    assert put.data == {"line": 5, "v": "'from the child'", "size": 1}
    assert run.one("get", key).worker == "main"
    assert run.printed("main") == "from the child\n"


def test_the_librarys_own_objects_threads_and_processes_are_not_reported() -> None:
    run = trace(
        """
        import multiprocessing as mp
        import queue
        import threading

        def square(x):
            return x * x

        if __name__ == "__main__":
            q = mp.Queue()
            q.put(1)
            q.get()
            lq = queue.Queue()
            lq.put(1)
            cond = threading.Condition()
            with mp.get_context("forkserver").Pool(2) as pool:
                print(pool.map(square, [1, 2]))
        """
    )
    names = sorted(e.data["name"] for e in run.of("new"))
    assert names == ["cond", "lq", "pool", "q"]
    keys = {e.item for e in run.of("new")}
    assert {
        e.item
        for e in run.events
        if e.kind not in ("spawn", "start_thread", "join", "joined", "reaped")
        and e.item is not None
    } <= keys
    threads = {e.data["name"] for e in run.of("thread")}
    assert threads == {"MainThread"}  # no feeder, no pool handler threads
    procs = {e.data["name"] for e in run.of("proc")}
    assert procs <= {"MainProcess", "ForkServerPoolWorker-1", "ForkServerPoolWorker-2"}
    assert "MainProcess" in procs
    assert len(procs) >= 2


def test_an_uncaught_exception_in_a_thread_and_in_a_child_process_is_reported() -> None:
    run = trace(
        """
        import multiprocessing as mp
        import threading

        def broken():
            raise ValueError("no good")

        if __name__ == "__main__":
            t = threading.Thread(target=broken, name="T")
            t.start()
            t.join()
            p = mp.Process(target=broken, name="P")
            p.start()
            p.join()
        """
    )
    for worker in ("T", "P"):
        exc = [e for e in run.of("exc") if e.worker == worker]
        assert len(exc) == 1, worker
        assert exc[0].data["error"] == "ValueError: no good"
        assert exc[0].data["line"] == 6
        assert 'line 6, in broken\n    raise ValueError("no good")' in exc[0].data["traceback"]
    assert [e.data for e in run.by("T") if e.kind == "end"] == [{"error": "ValueError: no good"}]
    assert [e.data for e in run.by("P") if e.kind == "exit"] == [{"exitcode": 1}]
    assert run.one("reaped", "P").data["exitcode"] == 1


def test_a_threads_error_is_reported_whichever_excepthook_the_program_set() -> None:
    run = trace(
        """
        import threading

        def hook(args):
            print("caught:", args.exc_value)

        threading.excepthook = hook

        def broken():
            raise ValueError("no good")

        t = threading.Thread(target=broken, name="T")
        t.start()
        t.join()
        """
    )
    (exc,) = run.of("exc")
    assert (exc.worker, exc.data["error"]) == ("T", "ValueError: no good")
    assert [e.data for e in run.by("T") if e.kind == "end"] == [{"error": "ValueError: no good"}]
    assert run.printed() == "caught: no good\n"  # the program's hook, and only it, printed
    assert run.stderr == ""


def test_an_uncaught_exception_in_main_is_reported_and_the_program_fails() -> None:
    run = trace(
        """
        def main():
            return {}["missing"]

        main()
        """,
        check=False,
    )
    assert run.returncode == 1
    exc = run.one("exc").data
    assert exc["error"] == "KeyError: 'missing'"
    assert exc["line"] == 3
    assert run.one("exit").data == {"exitcode": 1}
    # Its traceback, as Python prints it, is on stderr: reported, and so not
    # also in the run's output file.
    stderr = "".join(e.data["text"] for e in run.of("out") if e.data["stream"] == "stderr")
    assert "KeyError: 'missing'" in stderr
    assert run.stderr == ""


def test_a_program_with_nothing_concurrent_runs_as_usual() -> None:
    run = trace(
        """
        import sys
        total = sum(range(10))
        print("total", total)
        print("careful", file=sys.stderr)
        """
    )
    # What it printed is reported, not also left in the run's output files
    # (those keep what goes past Python: app.programs.output).
    assert (run.stdout, run.stderr) == ("", "")
    assert [e.kind for e in run.events] == ["proc", "thread", "out", "out", "end", "exit"]
    out = run.of("out")
    # (`at`: nothing was written past Python before either)
    assert out[0].data == {"line": 4, "text": "total 45\n", "stream": "stdout", "at": 0}
    assert out[1].data == {"line": 5, "text": "careful\n", "stream": "stderr", "at": 0}


def test_workers_with_the_same_name_are_told_apart() -> None:
    run = trace(
        """
        import multiprocessing as mp
        import threading

        def hello():
            print("hi")

        if __name__ == "__main__":
            for _ in range(2):
                t = threading.Thread(target=hello, name="w")
                t.start()
                t.join()
            for _ in range(2):
                p = mp.Process(target=hello, name="p")
                p.start()
                p.join()
        """
    )
    assert [e.item for e in run.of("start_thread")] == ["w", "w #2"]
    assert [e.item for e in run.of("spawn")] == ["p", "p #2"]
    for label in ("w", "w #2", "p", "p #2"):
        assert run.printed(label) == "hi\n"
    assert [e.data["name"] for e in run.of("thread") if e.worker.startswith("w")] == ["w", "w"]
    assert [e.data["name"] for e in run.of("proc") if e.worker.startswith("p")] == ["p", "p"]
    assert [e.item for e in run.of("reaped")] == ["p", "p #2"]


def test_a_child_of_os_fork_is_shown_from_its_line_and_waitpid_on_it_is_a_join() -> None:
    run = trace(
        """
        import os
        import time

        for n in (3, 4):
            pid = os.fork()
            if pid == 0:
                time.sleep(0.01)
                print("child", n)
                os._exit(n)
            os.waitpid(pid, 0)
        """
    )
    spawns = run.of("spawn")
    assert [(e.item, e.data["line"], e.data["method"]) for e in spawns] == [
        ("child", 6, "fork"),
        ("child #2", 6, "fork"),
    ]
    for spawn, n in zip(spawns, (3, 4), strict=True):
        label = spawn.item
        proc = run.by(label)[0]  # what the child says first: that it is a process
        assert (proc.kind, proc.pid, proc.data["name"]) == ("proc", spawn.data["pid"], label)
        assert run.printed(label) == f"child {n}\n"
        assert [e.data["exitcode"] for e in run.of("exit") if e.worker == label] == [n]
        assert run.of("join", label)[0].data["line"] == 11
        assert run.of("joined", label)[0].data == {"alive": False, "exitcode": n}
    assert [e.item for e in run.of("reaped")] == ["child", "child #2"]
    # The parent's spawn comes before anything of its child.
    kinds = [(e.kind, e.worker) for e in run.events]
    assert kinds.index(("spawn", "main")) < kinds.index(("proc", "child"))


def test_waitpid_on_a_stopped_fork_child_is_no_end_and_the_program_goes_on() -> None:
    run = trace(
        """
        import os
        import signal

        pid = os.fork()
        if pid == 0:
            os.kill(os.getpid(), signal.SIGSTOP)
            os._exit(5)
        got, status = os.waitpid(pid, os.WUNTRACED)
        print("stopped", os.WIFSTOPPED(status))
        os.kill(pid, signal.SIGCONT)
        os.waitpid(pid, 0)
        """
    )
    assert run.printed("main") == "stopped True\n"
    assert [e.data["exitcode"] for e in run.of("joined", "child")] == [5]
    assert [e.data["exitcode"] for e in run.of("reaped", "child")] == [5]


def test_a_timer_thread_sleeps_its_interval_before_it_calls_its_function() -> None:
    run = trace(
        """
        import threading

        def ring():
            print("ring")

        t = threading.Timer(0.05, ring)
        t.start()
        t.join()
        """
    )
    label = run.of("start_thread")[0].item
    assert [(e.kind, e.data.get("s")) for e in run.by(label)][:3] == [
        ("thread", None),
        ("sleep", 0.05),
        ("out", None),
    ]
    assert run.of("sleep")[0].data["line"] == 8  # where the timer was started


def test_a_timer_cancelled_before_it_rang_says_so_and_one_that_rang_does_not() -> None:
    run = trace(
        """
        import threading

        def ring(who):
            print("ring", who)

        early = threading.Timer(30, ring, args=("early",))
        early.name = "early"
        early.start()
        early.cancel()
        early.join()
        rung = threading.Timer(0.01, ring, args=("rung",))
        rung.name = "rung"
        rung.start()
        rung.join()
        """
    )
    ends = {e.worker: e.data.get("cancelled") for e in run.of("end") if e.worker != "main"}
    assert ends == {"early": True, "rung": False}
    assert run.printed() == "ring rung\n"
    state = folded(run)
    assert view.doing(state, state.workers["early"]) == (
        "cancelled: its function never ran (Timer.cancel())"
    )
    assert view.doing(state, state.workers["rung"]) == "finished"


def test_commands_the_program_runs_are_its_processes_and_waiting_for_one_is_a_join() -> None:
    run = trace(
        """
        import subprocess
        import sys

        p = subprocess.Popen(["sleep", "0.01"])
        kid = subprocess.run([sys.executable, "-c", "print('hi')"], capture_output=True)
        p.wait()
        r = subprocess.run("exit 3", shell=True)
        """
    )
    spawns = {e.item: e.data for e in run.of("spawn")}
    kid = next(d["pid"] for d in spawns.values() if d["command"].startswith("python"))
    python = f"python -c {kid}"  # the name it gives itself: its parent says the same
    assert {k: (d["line"], d["command"]) for k, d in spawns.items()} == {
        "sleep": (5, "sleep 0.01"),
        python: (6, "python -c print('hi')"),
        "exit": (8, "exit 3"),
    }
    # Each wait is a join from the user's line, and its end is said once.
    assert [(e.item, e.data["line"]) for e in run.of("join")] == [
        (python, 6),
        ("sleep", 7),
        ("exit", 8),
    ]
    reaped = {e.item: e.data["exitcode"] for e in run.of("reaped")}
    assert reaped == {python: 0, "sleep": 0, "exit": 3}
    assert len(run.of("reaped")) == 3
    # The Python one is traced inside too: it says what it is itself.
    proc = next(e for e in run.events if e.pid == kid)
    assert (proc.kind, proc.worker, proc.data["name"]) == ("proc", python, python)


def test_a_python_command_shows_itself_at_once_and_its_code_is_traced() -> None:
    run = trace(
        """
        import subprocess
        import sys
        from gate import wait_for_go

        code = "import time; name = input(); time.sleep(0.01); print('hello', name)"
        child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, text=True)
        wait_for_go()  # once the test has seen the child wait for its input
        child.communicate("Ada\\n")
        """,
        go_when=lambda evs: any(
            e.kind == "fd_wait" and e.worker.startswith("python -c") for e in evs
        ),
    )
    kid = run.one("spawn", next(e.item for e in run.of("spawn"))).data["pid"]
    python = f"python -c {kid}"
    # On the stage while it waited for its input: its process and main thread.
    assert [(e.kind, e.worker) for e in run.events if e.pid == kid][:2] == [
        ("proc", python),
        ("thread", python),
    ]
    # Its code is the user's: its sleep and print are said, from its own lines.
    sleep = next(e for e in run.of("sleep") if e.pid == kid)
    assert (sleep.data["s"], sleep.data["file"], sleep.data["line"]) == (0.01, "python -c", 1)
    assert run.printed(python) == "hello Ada\n"
    # It waited in input() for what its parent had not written yet.
    wait = next(e for e in run.of("fd_wait") if e.pid == kid)
    assert (wait.data["op"], wait.data["what"], wait.data["line"]) == ("input", "pipe", 1)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_process_without_a_name_is_shown_by_the_variable_its_line_gives_it(method: str) -> None:
    run = trace(
        f"""
        import multiprocessing as mp
        from multiprocessing import Process, Queue

        def work(q):
            q.put(mp.current_process().name)

        class Worker(Process):
            def __init__(self, q):
                super().__init__()
                self.q = q

            def run(self):
                self.q.put(self.name)

        if __name__ == "__main__":
            mp.set_start_method("{method}")
            q = Queue()
            downloader = Process(target=work, args=(q,))
            named = Process(target=work, args=(q,), name="cook")
            w = Worker(q)
            procs = [Process(target=work, args=(q,)) for _ in range(2)]
            for i in range(2):
                p = Process(target=work, args=(q,))
                procs.append(p)
            for p in [downloader, named, w, *procs]:
                p.start()
            for p in [downloader, named, w, *procs]:
                p.join()
            print(sorted(q.get() for _ in range(7)))
        """
    )
    # A name the program gave stays; a loop's many `p` keep multiprocessing's.
    labels = ["downloader", "cook", "w", "procs[0]", "procs[1]", "Process-6", "Process-7"]
    assert [e.item for e in run.of("spawn")] == labels
    procs = {e.worker: e.data for e in run.of("proc") if e.worker != "main"}
    assert {k: (d["name"], d.get("label")) for k, d in procs.items()} == {
        "downloader": ("Process-1", "downloader"),
        "cook": ("cook", None),
        "w": ("Worker-3", "w"),
        "procs[0]": ("Process-4", "procs[0]"),
        "procs[1]": ("Process-5", "procs[1]"),
        "Process-6": ("Process-6", None),
        "Process-7": ("Process-7", None),
    }
    assert [e.item for e in run.of("joined")] == labels
    # The program itself still sees multiprocessing's names.
    assert (
        run.printed()
        == str(sorted(["cook", "Worker-3", *(f"Process-{n}" for n in (1, 4, 5, 6, 7))])) + "\n"
    )


def test_an_asyncio_loop_is_said_once_per_process_from_the_line_that_ran_it() -> None:
    run = trace(
        """
        import asyncio
        import multiprocessing as mp

        async def tick(n):
            await asyncio.sleep(0.001)
            return n

        def child():
            print(asyncio.run(tick(2)))

        if __name__ == "__main__":
            print(asyncio.run(tick(1)))
            print(asyncio.run(tick(1)))
            p = mp.get_context("fork").Process(target=child)
            p.start()
            p.join()
        """
    )
    said = run.of("event_loop")
    assert [(e.worker, e.data["line"]) for e in said] == [
        ("main", run.line("asyncio.run(tick(1))")),
        ("p", run.line("asyncio.run(tick(2))")),
    ]
    assert run.printed() == "1\n1\n2\n"


def errors(run: Traced) -> str:
    return "".join(e.data["text"] for e in run.of("out") if e.data["stream"] == "stderr")


def test_a_thread_or_process_started_wrongly_gets_pythons_own_error() -> None:
    """A subclass whose __init__ skips the base class's, or a thread started
    twice: the error Python gives, not one of the tracer's making."""
    run = trace(
        """
        import multiprocessing as mp
        import threading

        class Lazy(threading.Thread):
            def __init__(self, n):
                self.n = n

        class LazyProcess(mp.Process):
            def __init__(self, n):
                self.n = n

        if __name__ == "__main__":
            for start in (Lazy(1).start, LazyProcess(2).start):
                try:
                    start()
                except Exception as e:
                    print(type(e).__name__, e)
            t = threading.Thread(target=print, args=("once",))
            t.start()
            t.join()
            t.start()
        """,
        check=False,
    )
    assert run.printed() == (
        "RuntimeError thread.__init__() not called\n"
        "AttributeError 'LazyProcess' object has no attribute '_closed'\n"
        "once\n"
    )
    assert "RuntimeError: threads can only be started once" in errors(run)
    assert run.returncode == 1


def test_an_uncaught_keyboard_interrupt_ends_the_process_by_sigint_as_in_python() -> None:
    run = trace(
        """
        import subprocess
        import sys

        r = subprocess.run([sys.executable, "-c", "raise KeyboardInterrupt"])
        print("child", r.returncode)
        """
    )
    assert run.printed("main") == "child -2\n"
    assert "KeyboardInterrupt" in errors(run)


def test_sys_exit_in_a_thread_ends_that_thread_not_the_programs_exit_code() -> None:
    run = trace(
        """
        import sys
        import threading

        t = threading.Thread(target=sys.exit, args=(3,))
        t.start()
        t.join()
        print("main ok")
        """
    )
    assert run.printed("main") == "main ok\n"
    assert run.returncode == 0
    assert [e.data for e in run.of("exit")] == [{"exitcode": 0}]


def test_a_crashed_childs_traceback_is_the_one_python_prints() -> None:
    run = trace(
        """
        import multiprocessing as mp

        def boom():
            raise KeyError("missing")

        if __name__ == "__main__":
            p = mp.Process(target=boom)
            p.start()
            p.join()
        """
    )
    lines = errors(run).splitlines()
    assert lines[:2] == ["Process Process-1:", "Traceback (most recent call last):"]
    assert lines[2].endswith("in _bootstrap")
    assert "multiprocessing" in lines[2]
    assert lines[3].strip() == "self.run()"
    assert lines[-1] == "KeyError: 'missing'"


def test_a_thread_renamed_while_it_runs_shows_its_new_name_on_its_card() -> None:
    run = trace(
        """
        import threading

        def work():
            threading.current_thread().name = "工人-甲"

        t = threading.Thread(target=work)
        t.start()
        t.join()
        threading.current_thread().name = "主线程"
        """
    )
    label = run.of("start_thread")[0].item
    assert [(e.item, e.data["name"]) for e in run.of("renamed")] == [
        (label, "工人-甲"),
        ("main", "主线程"),
    ]
    state = folded(run)
    assert state.workers[label].thread_name == "工人-甲"  # its card's name
    assert state.workers["main"].thread_name == "主线程"
