"""The tracer inside an unmodified program: queues of both libraries."""

from __future__ import annotations

from tracerharness import seen, trace


def test_a_multiprocessing_queue_reports_each_call_with_its_size_after_and_its_item() -> None:
    run = trace(
        """
        import multiprocessing as mp
        import queue

        if __name__ == "__main__":
            q = mp.Queue(2)
            q.put("a")
            q.put(("b", 2), timeout=1)
            try:
                q.put("c", timeout=0.01)
            except queue.Full:
                print("full")
            try:
                q.put_nowait("d")
            except queue.Full:
                print("still full")
            print(q.get(), q.get(timeout=5))
            try:
                q.get(timeout=0.01)
            except queue.Empty:
                print("empty")
            try:
                q.get(block=False)
            except queue.Empty:
                print("still empty")
            q.put(list(range(1000)))
            q.get()
        """
    )
    key, line = run.key("q"), run.line
    calls = [(e.kind, e.data) for e in run.on(key) if e.kind != "new"]
    assert calls == [
        ("put", {"line": line('q.put("a")'), "v": "'a'", "size": 1}),
        ("put", {"line": line("q.put(("), "v": "('b', 2)", "size": 2}),
        ("put_wait", {"line": line('q.put("c"'), "timeout": 0.01, "size": 2}),
        ("full", {"line": line('q.put("c"'), "timeout": 0.01}),
        ("full", {"line": line("put_nowait"), "timeout": 0}),
        ("get", {"line": line("print(q.get()"), "v": "'a'", "size": 1}),
        ("get", {"line": line("print(q.get()"), "v": "('b', 2)", "size": 0}),
        ("get_wait", {"line": line("q.get(timeout=0.01)"), "timeout": 0.01, "size": 0}),
        ("empty", {"line": line("q.get(timeout=0.01)"), "timeout": 0.01}),
        ("empty", {"line": line("block=False"), "timeout": 0}),
        ("put", {"line": line("range(1000)"), "v": calls[-2][1]["v"], "size": 1}),
        ("get", {"line": line("range(1000)") + 1, "v": calls[-1][1]["v"], "size": 0}),
    ]
    long_repr = calls[-1][1]["v"]
    assert long_repr.startswith("[0, 1, 2, ")
    assert len(long_repr) <= 80
    assert run.printed() == "full\nstill full\na ('b', 2)\nempty\nstill empty\n"


def test_a_blocked_get_is_shown_while_it_waits_and_before_the_put_that_ends_it() -> None:
    run = trace(
        """
        import multiprocessing as mp
        from gate import wait_for_go

        def late(q):
            wait_for_go()  # once the test has seen main wait
            q.put("late")

        if __name__ == "__main__":
            q = mp.Queue()
            p = mp.Process(target=late, args=(q,), name="P")
            p.start()
            print(q.get())
            p.join()
        """,
        go_when=seen("get_wait"),
    )
    key = run.key("q")
    wait = run.one("get_wait", key)
    assert wait.data == {"line": run.line("q.get()"), "timeout": None, "size": 0}
    put, get = run.one("put", key), run.one("get", key)
    assert wait.t < put.t < get.t
    assert (put.worker, get.worker, get.data["v"]) == ("P", "main", "'late'")


def test_the_queue_modules_queues_hand_out_items_in_their_own_order() -> None:
    run = trace(
        """
        import queue

        fifo, lifo, prio, simple = (
            queue.Queue(), queue.LifoQueue(3), queue.PriorityQueue(), queue.SimpleQueue()
        )
        for q in (fifo, lifo, prio, simple):
            for item in (2, 3, 1):
                q.put(item)
            print([q.get_nowait() for _ in range(3)])
        """
    )
    got = {}
    for name, type_name in (
        ("fifo", "Queue"),
        ("lifo", "LifoQueue"),
        ("prio", "PriorityQueue"),
        ("simple", "SimpleQueue"),
    ):
        new = run.new(name)
        assert (new["type"], new["lib"]) == (type_name, "queue")
        key = run.key(name)
        assert [e.data["size"] for e in run.of("put", key)] == [1, 2, 3]
        got[name] = [e.data["v"] for e in run.of("get", key)]
        assert [e.data["size"] for e in run.of("get", key)] == [2, 1, 0]
    assert got == {
        "fifo": ["2", "3", "1"],
        "lifo": ["1", "3", "2"],
        "prio": ["1", "2", "3"],
        "simple": ["2", "3", "1"],
    }
    assert run.new("lifo")["maxsize"] == 3


def test_a_joinable_queue_counts_unfinished_tasks_and_its_join_waits_for_them() -> None:
    run = trace(
        """
        import multiprocessing as mp

        def worker(q):
            while True:
                item = q.get()
                q.task_done()

        if __name__ == "__main__":
            q = mp.JoinableQueue()
            for i in range(3):
                q.put(i)
            p = mp.Process(target=worker, args=(q,), daemon=True)
            p.start()
            q.join()
            print("all done")
        """
    )
    key = run.key("q")
    assert run.new("q")["type"] == "JoinableQueue"
    done = run.of("task_done", key)
    assert [e.data["unfinished"] for e in done] == [2, 1, 0]
    assert {e.data["line"] for e in done} == {run.line("q.task_done()")}
    qjoin = run.one("qjoin", key)
    assert qjoin.data == {"line": run.line("q.join()"), "unfinished": qjoin.data["unfinished"]}
    assert run.one("qjoined", key).t > done[-1].t
    # The daemonic child is ended at the main process's exit: cut off.
    reaped = run.one("reaped", "p").data  # named after its variable
    assert (reaped["signal"], reaped["cut_off"]) == ("SIGTERM", True)


def test_a_queue_module_join_and_task_done_from_threads() -> None:
    run = trace(
        """
        import queue
        import threading

        jobs = queue.Queue()

        def worker():
            while True:
                jobs.get()
                jobs.task_done()

        threading.Thread(target=worker, daemon=True, name="W").start()
        for n in range(2):
            jobs.put(n)
        jobs.join()
        """
    )
    key = run.key("jobs")
    assert [e.data["unfinished"] for e in run.of("task_done", key)] == [1, 0]
    assert {e.worker for e in run.of("task_done", key)} == {"W"}
    assert run.one("qjoined", key).worker == "main"


def test_an_item_whose_repr_fails_is_shown_by_its_type() -> None:
    run = trace(
        """
        import queue

        class Broken:
            def __repr__(self):
                raise RuntimeError("no repr")

        q = queue.Queue()
        q.put(Broken())
        q.put("x" * 500)
        q.get()
        """
    )
    key = run.key("q")
    puts = [e.data["v"] for e in run.of("put", key)]
    assert puts[0] == "<Broken>"
    assert len(puts[1]) <= 80
    assert puts[1].startswith("'xxxx")
    assert run.one("get", key).data["v"] == "<Broken>"


def test_plain_items_and_calls_far_into_a_script_or_in_another_file_are_reported_alike() -> None:
    # Items of plain types travel as they are and become their repr on the
    # server's side; a call's line comes from a cache per call site.
    filler = "x = 0\n" * 400
    run = trace(
        filler
        + """
import multiprocessing as mp
import helper

if __name__ == "__main__":
    q = mp.Queue()
    for item in [7, 10**100, None, 2.5, True, "7", "None"]:
        q.put(item)
    helper.put_one(q)
    got = [q.get() for _ in range(8)]
    print(got[:2] == [7, 10**100], got[-1])
""",
        files={"helper.py": "def put_one(q):\n    q.put(-1)\n"},
    )
    key, line = run.key("q"), run.line
    assert line("q.put(item)") > 400
    puts = [e.data for e in run.of("put", key)]
    shown = ["7", repr(10**100)[:77] + "...", "None", "2.5", "True", "'7'", "'None'"]
    assert puts[:7] == [
        {"line": line("q.put(item)"), "v": v, "size": n} for n, v in enumerate(shown, 1)
    ]
    assert puts[7] == {"line": 2, "file": "helper.py", "v": "-1", "size": 8}
    gets = [e.data for e in run.of("get", key)]
    assert [g["v"] for g in gets] == shown + ["-1"]
    assert {g["line"] for g in gets} == {line("got = [q.get()")}
    assert list(gets[0]) == ["line", "v", "size"]  # the tracer's own order
    assert run.printed() == "True -1\n"


def test_calls_at_the_same_place_of_two_functions_each_report_their_own_line() -> None:
    run = trace(
        """
        import queue

        def one(q):
            q.put(1)

        def two(q):
            q.put(2)

        q = queue.Queue()
        for _ in range(3):
            one(q)
            two(q)
        """
    )
    puts = [(e.data["v"], e.data["line"]) for e in run.of("put", run.key("q"))]
    assert puts == [("1", run.line("q.put(1)")), ("2", run.line("q.put(2)"))] * 3
