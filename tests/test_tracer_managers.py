"""The tracer inside an unmodified program: the objects a Manager() holds
(its queues, locks, semaphores, conditions, events and barriers), reported
by the processes that call them through their proxies, and the manager's
own server process (a program stuck on one: test_programs_live)."""

from __future__ import annotations

import ast

from tracerharness import folded, looking, seen, trace

from app.programs import view
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.state import ProgramState


def test_a_managers_queue_is_one_object_for_every_process_and_names_its_variable() -> None:
    run = trace(
        """
        import multiprocessing as mp
        import queue

        def eat(q, n):
            for _ in range(n):
                q.get()
                q.task_done()

        if __name__ == "__main__":
            with mp.Manager() as manager:
                q = manager.Queue(2)
                q.put("a")
                q.put_nowait(("b", 2))
                try:
                    q.put("c", timeout=0.01)
                except queue.Full:
                    print("full")
                eater = mp.Process(target=eat, args=(q, 3), name="eater")
                eater.start()
                q.put("c")
                q.join()
                eater.join()
                try:
                    q.get_nowait()
                except queue.Empty:
                    print("empty")
        """
    )
    key, line = run.key("q"), run.line
    assert key.startswith("mgr:")
    [made] = run.of("new", key)  # by main only: the eater was forked knowing it
    assert (made.worker, made.data["type"], made.data["lib"]) == ("main", "Queue", "Manager")
    assert made.data["maxsize"] == 2
    mine = [(e.kind, e.data) for e in run.on(key) if e.worker == "main" and e.kind != "new"]
    assert mine[:4] == [
        ("put", {"line": line('q.put("a")'), "v": "'a'", "size": 1}),
        ("put", {"line": line("put_nowait"), "v": "('b', 2)", "size": 2}),
        ("put_wait", {"line": line('q.put("c", timeout'), "timeout": 0.01, "size": 2}),
        ("full", {"line": line('q.put("c", timeout'), "timeout": 0.01}),
    ]
    assert [k for k, _ in mine[4:]] in (
        ["put", "qjoin", "qjoined", "empty"],  # the eater had room for it at once
        ["put_wait", "put", "qjoin", "qjoined", "empty"],
    )
    eaten = [e.data["v"] for e in run.on(key) if e.worker == "eater" and e.kind == "get"]
    assert eaten == ["'a'", "('b', 2)", "'c'"]
    assert run.kinds_on(key).count("task_done") == 3
    # The manager's server is a child of main, started on the `with` line.
    [server] = [e for e in run.of("spawn") if e.data["target"] == K.MANAGER_SERVER]
    assert server.item == "SyncManager-1"
    assert server.data["line"] == line("mp.Manager()")
    assert run.printed() == "full\nempty\n"


def test_a_managers_locks_and_event_are_held_and_waited_for_like_threadings() -> None:
    run = trace(
        """
        from multiprocessing import Manager, Process

        def hold(lock, ready, go):
            with lock:
                ready.set()
                go.wait()

        if __name__ == "__main__":
            m = Manager()
            lock, rlock = m.Lock(), m.RLock()
            ready, go = m.Event(), m.Event()
            p = Process(target=hold, args=(lock, ready, go), name="holder")
            p.start()
            ready.wait()
            print(lock.acquire(timeout=0.01))
            go.set()
            with lock:
                with rlock:
                    with rlock:
                        pass
            p.join()
            m.shutdown()
        """
    )
    lock, rlock, go = run.key("lock"), run.key("rlock"), run.key("go")
    # In time order (the processes' batches arrive out of step); main may
    # find the lock still held once more, just before the holder lets go.
    calls = [(e.worker, e.kind) for e in sorted(run.on(lock), key=lambda e: e.t)]
    calls = [c for c in calls if c != ("main", "acquire_wait")]
    assert calls == [
        ("main", "new"),
        ("holder", "acquired"),
        ("main", "acquire_failed"),
        ("holder", "released"),
        ("main", "acquired"),
        ("main", "released"),
    ]
    [failed] = run.of("acquire_failed", lock)
    assert failed.data == {"line": run.line("lock.acquire(timeout=0.01)"), "timeout": 0.01}
    depths = [(e.kind, e.data.get("depth")) for e in run.on(rlock) if e.kind != "new"]
    assert depths == [("acquired", 1), ("acquired", 2), ("released", 1), ("released", 0)]
    in_time = sorted(run.on(go), key=lambda e: e.t)
    assert [(e.worker, e.kind) for e in in_time if e.kind != "new"][-2:] == [
        ("main", "set"),
        ("holder", "waited"),
    ]
    assert run.printed() == "False\n"


def test_a_spawned_manager_and_child_trace_the_same_objects() -> None:
    # The manager's registry (threading's Lock among it) is pickled into a
    # spawned server process: the tracer's Lock must pickle as threading's.
    run = trace(
        """
        import multiprocessing as mp

        def eat(q, lock):
            with lock:
                item = q.get()
            print("ate", item)

        if __name__ == "__main__":
            mp.set_start_method("spawn")
            with mp.Manager() as m:
                q = m.Queue()
                lock = m.Lock()
                q.put("soup")
                p = mp.Process(target=eat, args=(q, lock), name="eater")
                p.start()
                p.join()
        """
    )
    q, lock = run.key("q"), run.key("lock")
    in_time = sorted(run.on(q), key=lambda e: e.t)
    assert [(e.worker, e.kind) for e in in_time if e.kind != "new"] == [
        ("main", "put"),
        ("eater", "get"),
    ]
    assert [(e.worker, e.kind) for e in run.on(lock) if e.kind != "new"] == [
        ("eater", "acquired"),
        ("eater", "released"),
    ]
    # The eater, spawned, meets them afresh: its `new` names no variable.
    assert [e.data["name"] for e in run.of("new", q)] == ["q", "<Queue>"]
    assert run.printed() == "ate soup\n"


def test_a_managers_dict_and_list_show_what_they_hold_after_each_change() -> None:
    run = trace(
        """
        import multiprocessing as mp

        def count(tally, seen, name):
            for _ in range(3):
                tally[name] = tally.get(name, 0) + 1
            seen.append(name)

        if __name__ == "__main__":
            with mp.Manager() as manager:
                tally = manager.dict({"start": 0})
                seen = manager.list()
                big = manager.list(range(100))
                workers = [
                    mp.Process(target=count, args=(tally, seen, f"w{i}"), name=f"w{i}")
                    for i in range(2)
                ]
                for w in workers:
                    w.start()
                for w in workers:
                    w.join()
                big.append(100)
                print(dict(sorted(tally.items())), sorted(seen))
        """
    )
    assert run.printed() == "{'start': 0, 'w0': 3, 'w1': 3} ['w0', 'w1']\n"
    tally, seen, big = run.key("tally"), run.key("seen"), run.key("big")
    assert run.new("tally")["type"] == "dict"
    assert run.new("tally")["lib"] == "Manager"
    assert run.new("tally")["shows"] == "{'start': 0}"
    assert run.new("seen")["shows"] == "[]"
    # Each process's changes, by the process, with what the dict held then.
    changes = run.of(K.CHANGED, tally)
    assert sorted(e.worker for e in changes) == ["w0"] * 3 + ["w1"] * 3
    assert {e.data["op"] for e in changes} == {"__setitem__"}
    assert all(e.data["line"] == run.line("tally[name] = ") for e in changes)
    # The change stamped last shows what they all left.
    last = max(changes, key=lambda e: e.t).data["shows"]
    assert ast.literal_eval(last) == {"start": 0, "w0": 3, "w1": 3}
    assert [e.data["op"] for e in run.of(K.CHANGED, seen)] == ["append", "append"]
    # A big one says how big it is, not what it holds.
    assert [e.data["shows"] for e in run.of(K.CHANGED, big)] == ["<101 items>"]
    # Reading (get, items) says nothing.
    assert len(run.of(K.CHANGED)) == 6 + 2 + 1


def test_a_managers_dict_and_list_are_shown_in_their_own_order_and_whole_while_small() -> None:
    run = trace(
        """
        import multiprocessing as mp

        if __name__ == "__main__":
            with mp.Manager() as manager:
                grades = manager.dict()
                for name, grade in [("zoe", 90), ("adam", 75), ("mia", 88), ("bob", 60)]:
                    grades[name] = grade
                grades["eve"] = 99
                names = manager.list(["zoe", "adam", "mia", "bob", "eve", "tom"])
                names.append("ann")
                squares = manager.dict({i: i * i for i in range(100)})
                print(len(grades), len(names), len(squares))
        """
    )
    assert run.printed() == "5 7 100\n"
    last = run.of(K.CHANGED, run.key("grades"))[-1].data["shows"]
    assert last == "{'zoe': 90, 'adam': 75, 'mia': 88, 'bob': 60, 'eve': 99}"
    last = run.of(K.CHANGED, run.key("names"))[-1].data["shows"]
    assert last == "['zoe', 'adam', 'mia', 'bob', 'eve', 'tom', 'ann']"
    assert run.new("squares")["shows"] == "<100 items>"


def test_a_managers_value_array_and_namespace_show_what_they_hold_after_each_change() -> None:
    run = trace(
        """
        import multiprocessing as mp

        def work(total, cells, shared):
            total.value = total.value + 5
            cells[1] = 7
            shared.done = True

        if __name__ == "__main__":
            with mp.Manager() as manager:
                total = manager.Value("i", 0)
                cells = manager.Array("i", [0, 0, 0])
                shared = manager.Namespace(round=1, done=False)
                p = mp.Process(target=work, args=(total, cells, shared), name="worker")
                p.start()
                p.join()
                print(total.value, list(cells), shared.done, shared.round)
        """
    )
    assert run.printed() == "5 [0, 7, 0] True 1\n"
    assert run.new("total")["shows"] == "0"
    assert run.new("cells")["shows"] == "[0, 0, 0]"
    assert run.new("shared")["shows"] == "Namespace(done=False, round=1)"  # as it prints
    said = {
        run.one("new", e.item).data["name"]: (e.worker, e.data["op"], e.data["shows"])
        for e in run.of(K.CHANGED)
    }
    assert said == {
        "total": ("worker", "set", "5"),
        "cells": ("worker", "__setitem__", "[0, 7, 0]"),
        "shared": ("worker", "__setattr__", "Namespace(done=True, round=1)"),  # as it prints
    }


def test_a_managers_semaphore_condition_and_barrier_are_traced_like_threadings() -> None:
    """Two processes take a Manager's semaphore, wait at its barrier of
    three until main comes, and notify its condition: as threading's."""
    looked: list[ProgramState] = []
    both_wait = lambda evs: seen("bwait", "k0")(evs) and seen("bwait", "k1")(evs)  # noqa: E731
    run = trace(
        """
        from multiprocessing import Manager, Process
        from gate import wait_for_go

        def party(sem, cond, barrier):
            with sem:
                pass
            barrier.wait()
            with cond:
                cond.notify_all()

        if __name__ == "__main__":
            m = Manager()
            sem, cond, barrier = m.Semaphore(2), m.Condition(), m.Barrier(3)
            ps = [Process(target=party, args=(sem, cond, barrier), name=f"k{i}") for i in range(2)]
            for p in ps:
                p.start()
            wait_for_go()  # once the test has seen both wait at the barrier
            with cond:
                barrier.wait()
                print(cond.wait(timeout=10))
            for p in ps:
                p.join()
            m.shutdown()
        """,
        go_when=looking(both_wait, looked),
    )
    sem, cond, barrier = run.key("sem"), run.key("cond"), run.key("barrier")
    assert run.new("sem")["value"] == 2
    assert run.new("barrier")["parties"] == 3
    # While they waited: 2 of 3 at the barrier, each shown waiting there
    # (what a stuck program's diagnosis then says of them: test_program_model).
    during = looked[-1]
    assert (during.objs[barrier].waiting, during.objs[barrier].parties) == (2, 3)
    for who in ("k0", "k1"):
        w = during.thread(who)
        assert w is not None
        assert view.doing(during, w) == "waiting at barrier"
    after = folded(run)
    assert after.objs[sem].value == 2  # each took it once and gave it back
    assert after.objs[sem].holders == []
    kinds = {(e.worker, e.kind) for e in run.on(cond)}
    assert {("main", "cwait"), ("main", "cwoke"), ("k0", "notify"), ("k1", "notify")} <= kinds
    assert {e.worker for e in run.of("bpassed", barrier)} == {"main", "k0", "k1"}
    assert run.printed() == "True\n"
