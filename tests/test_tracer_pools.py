"""The tracer inside an unmodified program: pipes, pools and executors."""

from __future__ import annotations

import pytest
from tracerharness import Ev, Traced, folded, seen, trace

from app.programs import view


def test_a_pipe_reports_what_each_end_sends_and_receives_across_processes() -> None:
    run = trace(
        """
        import multiprocessing as mp
        from gate import wait_for_go

        def child(conn):
            hello = conn.recv()
            wait_for_go()  # once the test has seen the parent wait
            conn.send({"hello": hello})
            conn.close()

        if __name__ == "__main__":
            ctx = mp.get_context("spawn")
            parent, kid = ctx.Pipe()
            p = ctx.Process(target=child, args=(kid,), name="C")
            p.start()
            parent.send("hi")
            print(parent.recv())
            p.join()
        """,
        go_when=seen("recv_wait", "main"),
    )
    parent, kid = run.key("parent"), run.key("kid")
    assert run.new("parent")["peer"] == kid
    sends = run.of("send")
    assert [(e.worker, e.item, e.data["v"]) for e in sends] == [
        ("main", parent, "'hi'"),
        ("C", kid, "{'hello': 'hi'}"),
    ]
    recvs = sorted(run.of("recv"), key=lambda e: e.t)
    assert [(e.worker, e.item, e.data["v"]) for e in recvs] == [
        ("C", kid, "'hi'"),
        ("main", parent, "{'hello': 'hi'}"),
    ]
    # The parent waited for the answer before it came (and the child for
    # the question, most likely).
    wait = run.one("recv_wait", parent)
    assert wait.t < sends[1].t
    assert wait.data == {"line": run.line("print(parent.recv())"), "call": "recv"}


def tasks_ran(run: Traced, key: str) -> dict[str, str]:
    """task -> the worker that ran it, checking that each task submitted
    started after its submit and ended after its start."""
    submits = {e.data["task"]: e for e in run.of("submit", key)}
    starts = {e.data["task"]: e for e in run.of("task_start", key)}
    ends = {e.data["task"]: e for e in run.of("task_end", key)}
    assert submits.keys() == starts.keys() == ends.keys()
    for task, start in starts.items():
        assert submits[task].t < start.t < ends[task].t
        assert start.worker == ends[task].worker
    return {task: start.worker for task, start in starts.items()}


def test_a_pools_tasks_are_reported_where_they_ran() -> None:
    run = trace(
        """
        import multiprocessing as mp

        def square(x):
            return x * x

        def add(a, b):
            return a + b

        if __name__ == "__main__":
            with mp.Pool(2) as pool:
                print(pool.map(square, range(4)))
                print(pool.apply_async(add, (1, 2)).get())
                print(pool.starmap(add, [(1, 1), (2, 2)]))
                print(sorted(pool.imap_unordered(square, iter([5, 6]))))
        """
    )
    key = run.key("pool")
    assert run.new("pool")["type"] == "Pool"
    assert run.new("pool")["workers"] == 2
    ran = tasks_ran(run, key)
    assert len(ran) == 4 + 1 + 2 + 2
    assert set(ran.values()) <= {"ForkPoolWorker-1", "ForkPoolWorker-2"}
    fns = sorted(e.data["fn"] for e in run.of("submit", key))
    assert fns == ["add"] * 3 + ["square"] * 6
    lines = {e.data["fn"]: e.data["line"] for e in run.of("submit", key) if e.data["fn"] == "add"}
    assert lines["add"] in (run.line("apply_async"), run.line("starmap"))
    assert {e.data["error"] for e in run.of("task_end", key)} == {None}
    # Each task says the call it makes, with its arguments.
    calls = sorted(e.data["call"] for e in run.of("task_start", key))
    assert calls == sorted(
        ["square(0)", "square(1)", "square(2)", "square(3)", "add(1, 2)"]
        + ["add(1, 1)", "add(2, 2)", "square(5)", "square(6)"]
    )
    assert run.printed("main") == "[0, 1, 4, 9]\n3\n[2, 4]\n[25, 36]\n"


@pytest.mark.parametrize("kind", ["ThreadPoolExecutor", "ProcessPoolExecutor"])
def test_an_executors_tasks_are_reported_where_they_ran(kind: str) -> None:
    run = trace(
        f"""
        from concurrent.futures import {kind}

        def square(x):
            if x == 3:
                raise ValueError("three")
            return x * x

        if __name__ == "__main__":
            with {kind}(max_workers=2) as ex:
                print(ex.submit(square, 2).result())
                print(list(ex.map(square, [1, 2])))
                print(repr(ex.submit(square, 3).exception()))
        """
    )
    key = run.key("ex")
    new = run.new("ex")
    assert (new["type"], new["lib"], new["workers"]) == (kind, "concurrent.futures", 2)
    ran = tasks_ran(run, key)
    assert len(ran) == 4
    prefix = "ThreadPoolExecutor-" if kind == "ThreadPoolExecutor" else "SpawnProcess-"
    if kind == "ProcessPoolExecutor":
        prefix = run.of("task_start", key)[0].worker.split("-")[0] + "-"
        assert prefix in ("ForkProcess-", "SpawnProcess-", "ForkServerProcess-")
    assert all(worker.startswith(prefix) for worker in ran.values())
    errors = sorted(str(e.data["error"]) for e in run.of("task_end", key))
    assert errors == ["None", "None", "None", "ValueError: three"]
    assert run.printed("main") == "4\n[1, 4]\nValueError('three')\n"


@pytest.mark.parametrize("kind", ["pool", "executor"])
def test_a_wait_for_a_tasks_result_is_reported_before_it_blocks(kind: str) -> None:
    submit, get = {
        "pool": ("workers.apply_async(work, (3,))", "result.get()"),
        "executor": ("workers.submit(work, 3)", "result.result()"),
    }[kind]
    made = {
        "pool": "multiprocessing.pool.ThreadPool(2)",
        "executor": "concurrent.futures.ThreadPoolExecutor(2)",
    }[kind]
    run = trace(
        f"""
        import concurrent.futures
        import multiprocessing.pool
        from gate import wait_for_go

        def work(n):
            wait_for_go()  # once the test has seen main wait
            return n * n

        if __name__ == "__main__":
            workers = {made}
            result = {submit}
            print({get})
            print({get})  # ready now: no wait
        """,
        go_when=seen("result_wait", "main"),
    )
    key = run.key("workers")
    waits = [(e.kind, e.data) for e in run.on(key) if e.kind.startswith("result")]
    [task] = {e.data["task"] for e in run.of("submit", key)}
    line = run.line(f"print({get})")
    assert waits == [
        ("result_wait", {"line": line, "task": task, "fn": "work", "timeout": None}),
        ("result_got", {"line": line, "task": task, "fn": "work", "ready": True}),
    ]
    assert run.printed() == "9\n9\n"


def test_a_map_waits_for_its_results_on_the_users_line() -> None:
    run = trace(
        """
        from multiprocessing import Pool
        import time

        def slow(n):
            time.sleep(0.05)
            return n

        if __name__ == "__main__":
            with Pool(2) as pool:
                print(pool.map(slow, range(4)))
        """
    )
    key = run.key("pool")
    wait = run.one("result_wait", key)
    assert wait.data["line"] == run.line("pool.map")
    assert run.one("result_got", key).data["ready"] is True
    assert run.printed() == "[0, 1, 2, 3]\n"


@pytest.mark.parametrize(
    ("how", "waiting"),
    [
        ("as_completed", "print([f.result() for f in as_completed(dishes)])"),
        ("wait", "print([f.result() for f in wait(dishes).done])"),
    ],
)
def test_waiting_for_any_of_several_futures_is_reported(how: str, waiting: str) -> None:
    run = trace(
        f"""
        from concurrent.futures import ThreadPoolExecutor, as_completed, wait
        from gate import wait_for_go

        def cook(n):
            wait_for_go()  # once the test has seen main wait
            return n

        if __name__ == "__main__":
            with ThreadPoolExecutor(1) as kitchen:
                dishes = [kitchen.submit(cook, 7)]
                {waiting}
        """,
        go_when=seen("result_wait", "main"),
    )
    key = run.key("kitchen")
    [task] = {e.data["task"] for e in run.of("submit", key)}
    got = [(e.kind, e.data["task"], e.data.get("ready")) for e in run.on(key) if "result" in e.kind]
    assert got == [("result_wait", task, None), ("result_got", task, True)]
    assert run.one("result_wait", key).data["line"] == run.line(how + "(dishes)")
    assert run.printed() == "[7]\n"


def test_waiting_for_a_pool_to_end_is_a_join_of_it_from_the_line_that_waits() -> None:
    run = trace(
        """
        from concurrent.futures import ThreadPoolExecutor
        from multiprocessing.pool import ThreadPool

        def square(x):
            return x * x

        with ThreadPoolExecutor(2) as ex:
            ex.submit(square, 2)
        pool = ThreadPool(2)
        pool.map_async(square, [1, 2])
        pool.close()
        pool.join()
        ex.shutdown()  # a second time: it waits for nothing, and says so
        pool.terminate()
        """
    )
    ex, pool = run.key("ex"), run.key("pool")
    joins = [(e.item, e.data["what"], e.data["line"]) for e in run.of("join")]
    assert joins == [
        (ex, "pool", run.line("with ThreadPoolExecutor(2) as ex:")),
        (pool, "pool", run.line("pool.join()")),
        (ex, "pool", run.line("ex.shutdown()")),
    ]
    joined = run.of("joined")
    assert [e.item for e in joined] == [ex, pool, ex]
    assert all(j.t > w.t for j, w in zip(joined, run.of("join"), strict=True))


def test_a_send_bigger_than_a_pipe_holds_says_it_waits_until_all_is_written() -> None:
    run = trace(
        """
        from multiprocessing import Pipe, Process
        from gate import wait_for_go

        def child(conn):
            wait_for_go()  # once the test has seen main wait in its send
            print(len(conn.recv()), len(conn.recv_bytes()))

        if __name__ == "__main__":
            here, there = Pipe()
            p = Process(target=child, args=(there,), name="C")
            p.start()
            here.send(b"x" * 1_000_000)  # more than a pipe holds
            here.send_bytes(b"small")  # fits: no wait
            p.join()
        """,
        go_when=seen("send_wait", "main"),
    )
    here = run.key("here")
    # main's big send could end only after the test saw it wait (the child
    # reads once it has): the wait was said while it waited
    assert [e.kind for e in run.by("main") if e.item == here] == [
        "new",
        "send",
        "send_wait",
        "sent",
        "send",
    ]
    wait = run.one("send_wait", here)
    assert wait.data["line"] == run.line('here.send(b"x" * 1_000_000)')
    assert wait.data["bytes"] > 1_000_000  # the message as pickled
    assert run.one("sent", here).t > wait.t
    assert run.printed("C") == "1000000 5\n"


def test_futures_cancelled_before_they_ran_are_said_and_time_sleep_keeps_its_name() -> None:
    run = trace(
        """
        import time
        from concurrent.futures import ThreadPoolExecutor

        ex = ThreadPoolExecutor(max_workers=1)
        first = ex.submit(time.sleep, 0.2)
        second = ex.submit(time.sleep, 0.2)
        third = ex.submit(print, "never")
        print(second.cancel(), second.cancel(), first.cancel())
        ex.shutdown(cancel_futures=True)
        """
    )
    ex = run.key("ex")
    submits = {e.data["task"]: e.data["fn"] for e in run.of("submit", ex)}
    assert list(submits.values()) == ["sleep", "sleep", "print"]
    second, third = list(submits)[1:]
    # cancelled once each, by main; the first was running and went on
    assert [(e.worker, e.data) for e in run.of("cancelled", ex)] == [
        ("main", {"task": second, "fn": "sleep"}),
        ("main", {"task": third, "fn": "print"}),
    ]
    assert run.printed() == "True True False\n"
    assert len(run.of("task_end", ex)) == 1
    # A task given alone says its call as it is given: one that never runs too.
    calls = [e.data["call"] for e in run.of("submit", ex)]
    assert calls == ["sleep(0.2)", "sleep(0.2)", "print('never')"]
    (box,) = [b for boxes in view.objects(folded(run), {}).values() for b in boxes if b.tasks]
    assert ("print('never')", "cancelled") in [(call, st) for call, st, _w, _by in box.tasks]


def test_tracebacks_the_program_prints_itself_hold_none_of_the_tracers_frames() -> None:
    run = trace(
        """
        import logging
        import traceback
        from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
        from multiprocessing import Pool

        def boom(x):
            raise ValueError(f"bad {x}")

        if __name__ == "__main__":
            with ThreadPoolExecutor(1) as ex:
                try:
                    ex.submit(boom, 1).result()
                except ValueError:
                    traceback.print_exc()
            with ProcessPoolExecutor(1) as ex:
                try:
                    ex.submit(boom, 2).result()
                except ValueError:
                    logging.exception("failed")
            with Pool(1) as pool:
                try:
                    pool.map(boom, [3])
                except ValueError as e:
                    print("".join(traceback.format_exception(e)), end="")
        """
    )
    text = run.printed() + "".join(
        e.data["text"] for e in run.of("out") if e.data["stream"] == "stderr"
    )
    for n in (1, 2, 3):
        assert f"ValueError: bad {n}" in text
    # each traceback goes from the user's call down to the user's raise
    assert text.count('raise ValueError(f"bad {x}")') == 3
    assert "concviz_tracer" not in text


def test_the_end_of_a_with_pool_block_says_its_pool_was_terminated() -> None:
    run = trace(
        """
        from multiprocessing import Pool

        if __name__ == "__main__":
            with Pool(1) as pool:
                print(pool.apply(abs, (-3,)))
            pool.terminate()  # again: nothing more to say
        """
    )
    (end,) = run.of("terminate", run.key("pool"))
    assert end.worker == "main"
    assert end.data["line"] == run.line("with Pool(1) as pool:")
    # Its workers, by pid and name: one still starting has said nothing itself.
    (worker,) = run.of("pool_worker")
    assert end.data["workers"] == [[worker.pid, "ForkPoolWorker-1"]]


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_each_pool_worker_says_from_its_start_that_it_waits_for_a_task(method: str) -> None:
    run = trace(
        greeting(method, "from multiprocessing.pool import ThreadPool")
        + """
            with ctx.Pool(3, hello, ("hi",)) as pool, ThreadPool(2) as tp:
                print(pool.map(abs, [-1]), tp.map(abs, [-2]))
                pool.close()
                pool.join()
        """
    )
    pool, tp = run.key("pool"), run.key("tp")
    starts = run.of("pool_worker")
    assert sorted(e.item for e in starts) == sorted([pool] * 3 + [tp] * 2)
    assert len({e.worker for e in starts}) == 5
    waited_from_the_start(run, starts, greeted=[e for e in starts if e.item == pool])


def greeting(method: str, imports: str) -> str:
    """A program's start whose workers say hi as they start (`hello`, their
    initializer); its main block goes on where this ends, in `ctx`."""
    return f"""
        import multiprocessing as mp
        {imports}

        def hello(word):
            print(word, mp.current_process().name)

        if __name__ == "__main__":
            ctx = mp.get_context("{method}")"""


def waited_from_the_start(run: Traced, starts: list[Ev], greeted: list[Ev]) -> None:
    """Each worker said it waits for a task before it ran one, and the
    program's own initializer (which says "hi") still ran in the `greeted`."""
    for e in starts:
        assert all(s.t > e.t for s in run.of("task_start") if s.worker == e.worker)
    said = sorted(line for line in run.printed().splitlines() if line.startswith("hi "))
    assert said == sorted(f"hi {e.worker}" for e in greeted)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_each_executor_worker_process_says_from_its_start_that_it_waits_for_a_task(
    method: str,
) -> None:
    """One task for three workers: under fork all three start at once, and
    the two that run no task are on the stage too."""
    run = trace(
        greeting(method, "from concurrent.futures import ProcessPoolExecutor")
        + """
            with ProcessPoolExecutor(3, ctx, initializer=hello, initargs=("hi",)) as ex:
                print(ex.submit(abs, -1).result(), len(mp.active_children()))
        """
    )
    ex = run.key("ex")
    starts = run.of("pool_worker", ex)
    (result,) = [line for line in run.printed().splitlines() if not line.startswith("hi ")]
    children = int(result.split()[1])
    assert len(starts) == len({e.worker for e in starts}) == children
    if method == "fork":
        assert children == 3
    waited_from_the_start(run, starts, greeted=starts)
