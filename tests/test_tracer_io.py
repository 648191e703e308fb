"""The tracer inside an unmodified program: its output, stdin, sleeps, the
Pythons it starts, and its end when the server goes away."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from tracerharness import collect, folded, folded_events, group_pids, seen, started, trace

from app.programs import view


def test_printed_lines_from_several_processes_come_in_their_true_order() -> None:
    run = trace(
        """
        import multiprocessing as mp
        import sys

        def child(n):
            print("child", n)
            print("oops", n, file=sys.stderr, flush=True)

        if __name__ == "__main__":
            print("first", end="!\\n")
            for n in range(3):
                p = mp.Process(target=child, args=(n,))
                p.start()
                p.join()
            print("last", 1, 2, sep="-")
        """
    )
    out = sorted(run.of("out"), key=lambda e: e.t)
    assert [(e.worker, e.data["stream"], e.data["text"]) for e in out] == [
        ("main", "stdout", "first!\n"),
        ("Process-1", "stdout", "child 0\n"),
        ("Process-1", "stderr", "oops 0\n"),
        ("Process-2", "stdout", "child 1\n"),
        ("Process-2", "stderr", "oops 1\n"),
        ("Process-3", "stdout", "child 2\n"),
        ("Process-3", "stderr", "oops 2\n"),
        ("main", "stdout", "last-1-2\n"),
    ]
    assert {e.data["line"] for e in out if e.worker == "Process-2"} == {
        run.line('print("child"'),
        run.line('print("oops"'),
    }
    # Python's writes reach the server as events only: the output file keeps
    # what went past them (app.programs.output).
    assert run.stdout == ""


def test_the_streams_keep_what_programs_use_of_them() -> None:
    run = trace(
        """
        import sys
        sys.stdout.write("written\\n")
        sys.stdout.buffer.write(b"bytes\\n")
        sys.stdout.flush()
        print(sys.stdout.isatty(), sys.stdout.encoding, sys.stdout.fileno())
        sys.stdout.writelines(["a", "b\\n"])
        """
    )
    # Python's text stream reports each write; the binary buffer bypasses it
    # and goes to the output file, which holds nothing else.
    assert run.printed() == "written\nFalse utf-8 1\nab\n"
    assert run.stdout == "bytes\n"


def test_sleeps_in_the_users_code_are_reported_and_the_librarys_are_not() -> None:
    run = trace(
        """
        import time
        from time import sleep
        import multiprocessing as mp

        time.sleep(0.01)
        sleep(0)
        q = mp.Queue()
        q.put(1)
        q.get()
        """
    )
    assert [e.data for e in run.of("sleep")] == [
        {"line": run.line("time.sleep(0.01)"), "s": 0.01},
        {"line": run.line("sleep(0)"), "s": 0},
    ]


def test_input_meets_the_end_of_stdin_as_python_does() -> None:
    run = trace(
        """
        try:
            name = input("name? ")
        except EOFError:
            print("nobody")
        """
    )
    assert run.one("stdin_eof").data == {"line": run.line("input(")}
    assert [e.data["text"] for e in run.of("out")] == ["name? ", "nobody\n"]
    assert run.index("stdin_eof") < run.index("out", None, "main") + 2


def test_the_newline_that_ends_a_prompt_input_could_not_answer_adds_no_line() -> None:
    """As a terminal shows it: the prompt, then what the program printed
    from the next line on."""
    run = trace(
        """
        try:
            n = int(input("how many? "))
        except EOFError:
            print("\\nnone given: 3")
        print("done")
        """
    )
    assert [(c.stream, c.text) for c in folded(run).console] == [
        ("stdout", "how many? "),
        ("note", "input()"),
        ("stdout", "none given: 3"),
        ("stdout", "done"),
    ]


def test_a_line_read_by_input_is_echoed_after_its_prompt() -> None:
    run = trace('name = input("name? ")\nprint("hi", name)\n', stdin="Ann\n")
    assert [e.data["text"] for e in run.of("out")] == ["name? ", "Ann\n", "hi Ann\n"]


def test_a_python_started_by_the_program_is_traced_too() -> None:
    run = trace(
        """
        import subprocess
        import sys

        subprocess.run([sys.executable, "second.py"], check=True)
        """,
        files={
            "second.py": """
                import queue
                jobs = queue.Queue()
                jobs.put("from the second script")
                print(jobs.get())
            """
        },
    )
    key = run.key("jobs")
    new = run.one("new", key)
    assert new.data["line"] == 3
    procs = {e.pid: e.data for e in run.of("proc")}
    assert procs[new.pid]["main"] is False
    assert procs[new.pid]["name"] == f"second.py {new.pid}"
    assert run.one("get", key).data["file"] == "second.py"
    assert run.printed() == "from the second script\n"


def test_what_a_python_child_prints_into_a_pipe_or_a_file_says_so() -> None:
    # Bare, none of the children's lines is on the screen: the parent reads
    # the first, the second goes to a file, the third nowhere.
    run = trace(
        """
        import subprocess
        import sys

        child = [sys.executable, "-c", "print('hello')"]
        got = subprocess.run(child, capture_output=True, text=True).stdout
        with open("kept.txt", "w") as f:
            subprocess.run(child, stdout=f)
        subprocess.run(child, stdout=subprocess.DEVNULL)
        print("the parent read", got.strip())
        """
    )
    said = [(e.data.get("into", ""), e.data["text"]) for e in run.of("out")]
    assert said == [
        ("pipe", "hello\n"),
        ("file", "hello\n"),
        ("devnull", "hello\n"),
        ("", "the parent read hello\n"),
    ]
    # What went into the pipe got there, as it would bare.
    assert run.printed("main") == "the parent read hello\n"
    children = [e for e in run.of("proc") if not e.data["main"]]
    assert [e.data["name"] for e in children] == [f"python -c {e.pid}" for e in children]


def test_the_users_signal_handlers_are_reported_and_the_librarys_are_not() -> None:
    run = trace(
        """
        import multiprocessing
        import signal

        def on_alarm(signum, frame):
            print("alarm")

        signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, 0.01)
        signal.pause()
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        multiprocessing.Process(target=print, args=("child",)).start()
        """
    )
    said = [(e.worker, e.data) for e in run.of("signal")]
    assert said == [
        ("main", {"line": run.line("on_alarm)"), "signal": "SIGALRM", "handled": True}),
        ("main", {"line": run.line("SIG_DFL"), "signal": "SIGALRM", "handled": False}),
    ]  # multiprocessing's own (its children's SIGINT...) are not
    assert run.printed("main") == "alarm\n"


def test_a_sitecustomize_further_on_the_path_still_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sitecustomize.py").write_text("import os\nos.environ['SITE_RAN'] = 'yes'\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    run = trace(
        """
        import os
        print(os.environ.get("SITE_RAN"))
        """
    )
    assert run.printed() == "yes\n"


def test_the_memory_limit_is_each_processs() -> None:
    run = trace(
        """
        try:
            block = bytearray(1 << 30)
        except MemoryError:
            print("too big")
        """,
        memory_bytes=512 << 20,
    )
    assert run.printed() == "too big\n"


def test_many_events_arrive_all_and_in_each_workers_order() -> None:
    n = 3000
    run = trace(
        f"""
        import queue
        import threading

        q = queue.Queue(10)

        def produce():
            for i in range({n}):
                q.put(i)

        t = threading.Thread(target=produce, name="P")
        t.start()
        for i in range({n}):
            q.get()
        t.join()
        """
    )
    key = run.key("q")
    puts = [int(e.data["v"]) for e in run.of("put", key)]
    gets = [int(e.data["v"]) for e in run.of("get", key)]
    assert puts == gets == list(range(n))
    assert not run.of("lost")


HANGS = """
import multiprocessing as mp
import threading

def grandchild():
    threading.Event().wait()

def child():
    mp.Process(target=grandchild, name="G").start()
    threading.Event().wait()

if __name__ == "__main__":
    mp.Process(target=child, name="C").start()
    threading.Event().wait()
"""


def _all_started(events: list) -> bool:
    return sum(1 for e in events if e.kind == "proc") == 3


def _gone(proc: Any, timeout: float = 10.0) -> bool:
    """Whether every process of the program's group is gone (its first
    process is the test's child: reaped here)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None and not group_pids(proc.pid):
            return True
        time.sleep(0.01)
    return False


def test_when_the_server_lets_go_of_the_life_pipe_the_whole_program_dies() -> None:
    with started(HANGS) as (proc, fifo, life, workdir):
        run = collect(proc, fifo, workdir, until=_all_started)
        assert len(group_pids(proc.pid)) >= 3
        os.close(life)
        assert _gone(proc)
        assert proc.wait(5) == -9
    assert {e.worker for e in run.of("proc")} == {"main", "C", "G"}


def test_when_the_event_fifo_is_gone_the_whole_program_dies() -> None:
    busy = """
        import multiprocessing as mp
        import threading

        if __name__ == "__main__":
            mp.Process(target=threading.Event().wait, name="C").start()
            lock = threading.Lock()
            while True:
                with lock:
                    pass
        """
    with started(busy) as (proc, fifo, life, workdir):
        run = collect(proc, fifo, workdir, until=lambda events: len(events) > 1000)
        assert len(group_pids(proc.pid)) >= 2
        fifo.close()  # the server's ends: the next write meets EPIPE
        assert _gone(proc)
        assert proc.wait(5) == -9
    assert run.of("spawn")


def test_events_that_had_to_be_dropped_are_counted_and_reported() -> None:
    # A flush re-entered by its own thread (a signal handler, a __del__ in
    # the middle of one) cannot write: its events wait, up to a bound.
    run = trace(
        """
        import threading
        import concviz_tracer.recorder as recorder
        import concviz_tracer.wire as wire

        recorder.MAX_PENDING = 5
        lock = threading.Lock()
        real = wire.messages

        def in_the_middle_of_a_flush(*args):
            wire.messages = real
            recorder.MAX_BATCH = 1  # each event asks for a flush
            for _ in range(20):
                with lock:
                    pass
            recorder.MAX_BATCH = 256
            return real(*args)

        wire.messages = in_the_middle_of_a_flush
        with lock:
            pass
        recorder.flush()
        """
    )
    key = run.key("lock")
    assert run.one("lost").data == {"events": 40 - 5}
    assert len(run.on(key)) == 1 + 2 + 5


def test_an_event_before_a_long_computation_is_shown_during_it() -> None:
    with started(
        """
        import os
        print("computing")
        while not os.path.exists("enough"):
            pass
        """
    ) as (proc, fifo, life, workdir):
        run = collect(proc, fifo, workdir, until=seen("out"))
        # The program computes until told: the event came while it did.
        assert proc.poll() is None
        (workdir / "enough").touch()
        assert proc.wait(30) == 0
    assert run.printed() == "computing\n"


def test_a_multiprocessing_producer_and_consumer_at_full_speed_lose_nothing() -> None:
    n = 5000
    run = trace(
        f"""
        import multiprocessing as mp

        def produce(q):
            for i in range({n}):
                q.put(i)
            q.put(None)

        if __name__ == "__main__":
            q = mp.Queue(50)
            p = mp.Process(target=produce, args=(q,), name="P")
            p.start()
            while q.get() is not None:
                pass
            p.join()
        """
    )
    key = run.key("q")
    puts = [e.data["v"] for e in run.of("put", key)]
    gets = [e.data["v"] for e in run.of("get", key)]
    assert puts == gets == [str(i) for i in range(n)] + ["None"]
    assert {e.worker for e in run.of("put", key)} == {"P"}
    assert all(0 <= e.data["size"] <= 50 for e in run.of("put", key) + run.of("get", key))
    assert not run.of("lost")


def test_a_line_flushed_before_a_crash_by_signal_is_kept_and_stdout_restored_is_traced() -> None:
    run = trace(
        """
        import io
        import os
        import signal
        import sys
        import threading

        def talk():
            sys.stdout = io.StringIO()  # a redirect, then the usual way back
            print("kept aside")
            kept = sys.stdout.getvalue()
            sys.stdout = sys.__stdout__
            print("T1 says", kept.strip())

        t = threading.Thread(target=talk, name="T1")
        t.start()
        t.join()
        print("before the crash", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """,
        check=False,
    )
    assert run.returncode == -9
    out = sorted(run.of("out"), key=lambda e: e.t)
    assert [(e.worker, e.data["text"]) for e in out] == [
        ("T1", "T1 says kept aside\n"),
        ("main", "before the crash\n"),
    ]


def test_an_asyncio_loop_with_nothing_to_run_says_it_waits_and_what_it_watches() -> None:
    run = trace(
        """
        import asyncio
        import socket
        import threading
        from gate import wait_for_go

        async def main():
            loop = asyncio.get_running_loop()
            ev = asyncio.Event()

            def later():
                wait_for_go()  # once the test has seen the loop wait
                loop.call_soon_threadsafe(ev.set)

            threading.Thread(target=later).start()
            await ev.wait()  # nothing to run until the thread sets it
            a, b = socket.socketpair()
            reader, writer = await asyncio.open_connection(sock=a)
            threading.Timer(0.05, b.send, (b"hello\\n",)).start()
            print((await reader.readline()).decode().strip())
            writer.close()
            b.close()

        asyncio.run(main())
        """,
        go_when=seen("loop_wait", "main"),
    )
    waits = run.of("loop_wait")
    assert waits[0].data == {"line": run.line("asyncio.run(main())"), "io": 0}
    assert any(w.data["io"] >= 1 for w in waits)  # the socket it reads from
    kinds = [e.kind for e in run.by("main") if e.kind in ("loop_wait", "loop_woke")]
    assert kinds == ["loop_wait", "loop_woke"] * len(waits)
    assert run.printed() == "hello\n"


def test_an_asyncio_loop_waiting_for_its_next_timer_says_how_long_and_is_no_hang() -> None:
    run = trace(
        """
        import asyncio

        async def nap(s):
            await asyncio.sleep(s)

        async def main():
            await asyncio.wait_for(asyncio.gather(nap(0.3), nap(0.01)), timeout=5)

        asyncio.run(main())
        """
    )
    timers = [w.data["timer"] for w in run.of("loop_wait") if "timer" in w.data]
    assert timers  # the 0.3 s nap's, from when the short one is done
    assert all(0.05 <= t <= 0.3 for t in timers)
    assert max(timers) > 0.2
    state = folded(run)
    (main,) = state.threads()
    assert main.state == "finished"
    # While it waited: a wait with a timeout, in words (so no hang).
    last_wait = run.of("loop_wait")[-1]
    during = folded_events([e for e in run.events if e.t <= last_wait.t])
    (main,) = during.threads()
    assert view.doing(during, main).startswith(
        "in its asyncio event loop, waiting for its next timer (timeout 0."
    )
    assert main.timeout is not None


def test_each_print_says_how_much_was_written_past_python_before_it() -> None:
    run = trace(
        """
        import os
        import subprocess

        print("one")
        os.write(1, b"two\\n")
        print("three")
        subprocess.run(["echo", "four"])
        print("five")
        """
    )
    out = sorted(run.of("out"), key=lambda e: e.t)
    assert [(e.data["text"], e.data["at"]) for e in out] == [
        ("one\n", 0),
        ("three\n", 4),  # b"two\n"
        ("five\n", 9),  # and b"four\n"
    ]
    assert run.stdout == "two\nfour\n"


def test_the_program_is_named_as_python_names_a_script_run_from_its_folder() -> None:
    # A usage line prints sys.argv[0]: `python main.py` says "main.py".
    run = trace(
        """
        import os, sys
        print(sys.argv[0], sys.argv[1:], os.path.basename(__file__))
        """,
        "3",
    )
    assert run.printed() == "main.py ['3'] main.py\n"


def test_an_asyncio_queue_says_what_goes_in_and_out_and_which_task_did_it() -> None:
    run = trace(
        """
        import asyncio

        async def make(q):
            for n in range(3):
                await q.put(n)  # waits while q is full
            await q.put(None)

        async def use(q, out):
            while (item := await q.get()) is not None:
                out.append(item)

        async def main():
            q = asyncio.Queue(1)
            out = []
            await asyncio.gather(
                asyncio.create_task(make(q), name="maker"),
                asyncio.create_task(use(q, out), name="user"),
            )
            print(out)

        asyncio.run(main())
        """
    )
    assert run.printed() == "[0, 1, 2]\n"
    q = run.key("q")
    assert run.new("q")["type"] == "Queue"
    assert run.new("q")["lib"] == "asyncio"
    assert run.new("q")["maxsize"] == 1
    said = [(e.kind, e.data["v"], e.data["task"]) for e in run.on(q) if e.kind != "new"]
    assert [s for s in said if s[0] == "put"] == [("put", v, "maker") for v in (0, 1, 2, None)]
    assert [s for s in said if s[0] == "get"] == [("get", v, "user") for v in (0, 1, 2, None)]
    # One slot: every put but the first came after the get before it.
    assert [s[0] for s in said] == ["put", "get"] * 4
    assert all(e.data["line"] == run.line("await q.put(n)") for e in run.of("put", q)[:3])
    assert {e.worker for e in run.on(q)} == {"main"}
