"""The tracer inside an unmodified program: locks, semaphores, Event,
Condition and Barrier, from threading and from multiprocessing."""

from __future__ import annotations

import pytest
from tracerharness import folded, seen, trace

# The holder lets go once the test has seen the waiter wait.
CONTENDED = """
import {lib} as lib
import threading
from gate import wait_for_go

lock = lib.{factory}

def waiter():
    with lock:
        print("waiter has it")

if __name__ == "__main__":
    with lock:
        w = threading.Thread(target=waiter, name="W")
        w.start()
        wait_for_go()
    w.join()
"""


@pytest.mark.parametrize(
    ("lib", "factory"),
    [
        ("threading", "Lock()"),
        ("threading", "RLock()"),
        ("threading", "Semaphore(1)"),
        ("threading", "BoundedSemaphore(1)"),
        ("multiprocessing", "Lock()"),
        ("multiprocessing", "RLock()"),
        ("multiprocessing", "Semaphore(1)"),
    ],
)
def test_a_waiter_is_reported_waiting_before_the_holder_releases(lib: str, factory: str) -> None:
    run = trace(CONTENDED.format(lib=lib, factory=factory), go_when=seen("acquire_wait"))
    key = run.key("lock")
    assert run.new("lock")["lib"] == lib
    calls = [(e.worker, e.kind) for e in run.on(key) if e.kind != "new"]
    assert calls == [
        ("main", "acquired"),
        ("W", "acquire_wait"),
        ("main", "released"),
        ("W", "acquired"),
        ("W", "released"),
    ]
    wait = run.one("acquire_wait", key)
    assert wait.data == {"line": run.line("with lock:", 1), "timeout": None}
    assert run.printed("W") == "waiter has it\n"
    assert run.index("acquire_wait", key) < run.index("released", key)
    held = [e.data for e in run.of("acquired", key)]
    if "Semaphore" in factory:
        assert [d["value"] for d in held] == [0, 0]
        assert [e.data["value"] for e in run.of("released", key)] == [1, 1]
    if factory == "RLock()":
        assert [d["depth"] for d in held] == [1, 1]


def test_locks_report_what_a_try_gets_and_how_deep_an_rlock_is_held() -> None:
    run = trace(
        """
        import threading

        lock = threading.Lock()
        rlock = threading.RLock()
        lock.acquire()
        print(lock.acquire(blocking=False), lock.acquire(timeout=0.01))
        lock.release()
        with rlock:
            with rlock:
                pass
        """
    )
    key = run.key("lock")
    assert run.kinds_on(key) == [
        "new",
        "acquired",
        "acquire_failed",
        "acquire_wait",
        "acquire_failed",
        "released",
    ]
    failed = run.of("acquire_failed", key)
    assert [e.data["timeout"] for e in failed] == [0, 0.01]
    rkey = run.key("rlock")
    depths = [(e.kind, e.data["depth"]) for e in run.on(rkey) if e.kind != "new"]
    assert depths == [("acquired", 1), ("acquired", 2), ("released", 1), ("released", 0)]
    assert run.printed() == "False False\n"


@pytest.mark.parametrize("lib", ["threading", "multiprocessing"])
def test_an_event_reports_its_waiters_and_when_it_is_set(lib: str) -> None:
    run = trace(
        f"""
        import {lib} as lib
        import threading
        from gate import wait_for_go

        go = lib.Event()

        def waiter():
            print(go.wait(), go.wait(0.01))

        if __name__ == "__main__":
            w = threading.Thread(target=waiter, name="W")
            w.start()
            print(go.wait(0.01))
            wait_for_go()
            go.set()
            w.join()
            go.clear()
        """,
        go_when=seen("wait", "W"),
    )
    key = run.key("go")
    assert run.new("go")["type"] == "Event"
    assert run.index("wait", key, "W") < run.index("set", key)
    waited = [(e.worker, e.data["result"]) for e in run.of("waited", key)]
    assert sorted(waited) == [("W", True), ("W", True), ("main", False)]
    assert [e.kind for e in run.by("W") if e.item == key] == ["wait", "waited", "waited"]
    assert run.kinds_on(key)[-1] == "clear"


@pytest.mark.parametrize("lib", ["threading", "multiprocessing"])
def test_a_condition_reports_its_lock_its_waits_and_its_notifies(lib: str) -> None:
    run = trace(
        f"""
        import {lib} as lib
        import threading
        from gate import wait_for_go

        cond = lib.Condition()
        ready = []

        def waiter():
            with cond:
                while not ready:
                    cond.wait()
                print("woken")

        if __name__ == "__main__":
            w = threading.Thread(target=waiter, name="W")
            w.start()
            wait_for_go()
            with cond:
                ready.append(1)
                cond.notify_all()
            w.join()
        """,
        go_when=seen("cwait", "W"),
    )
    key = run.key("cond")
    mine = [e.kind for e in run.by("W") if e.item == key]
    assert mine == ["acquired", "cwait", "cwoke", "released"]
    # (main may find the lock still held: the waiter says it waits just
    # before its wait releases it.)
    assert [e.kind for e in run.by("main") if e.item == key and e.kind != "acquire_wait"] == [
        "new",
        "acquired",
        "notify",
        "released",
    ]
    notify = run.one("notify", key)
    assert notify.data == {"line": run.line("notify_all"), "n": "all"}
    woke = [e for e in run.of("cwoke", key) if e.worker == "W"]
    assert woke[-1].t > notify.t
    assert woke[-1].data["result"] is True
    assert run.printed("W") == "woken\n"


@pytest.mark.parametrize("lib", ["threading", "multiprocessing"])
def test_a_barrier_reports_who_waits_and_lets_them_pass_together(lib: str) -> None:
    run = trace(
        f"""
        import {lib} as lib
        import threading

        gate = lib.Barrier(2)

        def party():
            gate.wait()

        if __name__ == "__main__":
            t = threading.Thread(target=party, name="T")
            t.start()
            gate.wait()
            t.join()
            gate.abort()
        """
    )
    key = run.key("gate")
    assert run.new("gate")["parties"] == 2
    waits = run.of("bwait", key)
    assert len(waits) == 2
    # Each saw 0 or 1 others there before it (both may look at once).
    assert {e.data["waiting"] for e in waits} <= {0, 1}
    assert {e.data["parties"] for e in waits} == {2}
    passed = run.of("bpassed", key)
    assert sorted(e.data["index"] for e in passed) == [0, 1]
    assert max(e.t for e in waits) < min(e.t for e in passed)
    assert run.kinds_on(key)[-1] == "broken"


@pytest.mark.parametrize("lib", ["threading", "multiprocessing"])
def test_a_barriers_timeout_its_own_or_the_barriers_is_said(lib: str) -> None:
    run = trace(
        f"""
        import {lib} as lib
        import threading

        gate = lib.Barrier(2, timeout=0.05)
        for timeout in (None, 0.02):
            try:
                gate.wait(timeout)
            except threading.BrokenBarrierError:
                gate.reset()
        """
    )
    key = run.key("gate")
    # A wait that ends by itself: the hang diagnosis must not name it.
    assert [e.data["timeout"] for e in run.of("bwait", key)] == [0.05, 0.02]


def test_a_lock_held_by_one_process_makes_another_wait() -> None:
    run = trace(
        """
        import multiprocessing as mp
        from gate import wait_for_go

        def child(lock):
            with lock:
                print("child has it")

        if __name__ == "__main__":
            lock = mp.Lock()
            with lock:
                p = mp.Process(target=child, args=(lock,), name="C")
                p.start()
                wait_for_go()
            p.join()
        """,
        go_when=seen("acquire_wait"),
    )
    key = run.key("lock")
    in_time = sorted((e for e in run.on(key) if e.kind != "new"), key=lambda e: e.t)
    assert [(e.worker, e.kind) for e in in_time] == [
        ("main", "acquired"),
        ("C", "acquire_wait"),
        ("main", "released"),
        ("C", "acquired"),
        ("C", "released"),
    ]
    # The wait reached the server before the release was even made.
    assert run.index("acquire_wait", key) < run.index("released", key)


def test_a_shared_values_lock_is_named_after_it_and_taken_by_each_read_and_write() -> None:
    run = trace(
        """
        import multiprocessing as mp

        def add(counter):
            with counter.get_lock():
                counter.value += 1

        if __name__ == "__main__":
            counter = mp.Value("i", 0)
            cells = mp.Array("d", 3)
            raw = mp.Value("i", 0, lock=False)
            p = mp.Process(target=add, args=(counter,), name="adder")
            p.start()
            p.join()
            print(counter.value, raw.value, len(cells))
        """
    )
    lock = run.key("counter.get_lock()")
    assert run.new("counter.get_lock()")["type"] == "RLock"
    assert run.new("cells.get_lock()")["line"] == run.line("mp.Array")
    assert not [e for e in run.of("new") if e.data["name"].startswith("raw")]
    # The with takes it; `counter.value += 1` takes it again to read, and
    # again to write: what the class sees is what the code does.
    adder = [(e.kind, e.data.get("depth")) for e in run.on(lock) if e.worker == "adder"]
    assert adder == [
        ("acquired", 1),
        ("acquired", 2),
        ("released", 1),
        ("acquired", 2),
        ("released", 1),
        ("released", 0),
    ]
    assert run.printed() == "1 0 3\n"


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_shared_values_lock_shows_what_it_holds_as_it_lets_go(method: str) -> None:
    run = trace(
        f"""
        import multiprocessing as mp

        def work(counter, cells, word):
            counter.value += 5
            cells[9] = 1.5
            word.value = b"bye"

        if __name__ == "__main__":
            mp.set_start_method("{method}")
            counter = mp.Value("i", 40)
            cells = mp.Array("d", 10)
            word = mp.Array("c", b"hello")
            guard = mp.Lock()
            mine = mp.Value("i", 7, lock=guard)
            p = mp.Process(target=work, args=(counter, cells, word), name="child")
            p.start()
            p.join()
            mine.value += 1
            print(counter.value, cells[9], word.value)
        """
    )
    assert run.printed() == "45 1.5 b'bye'\n"
    made = {
        n: (run.new(n)["guards"], run.new(n)["shows"])
        for n in ("counter.get_lock()", "cells.get_lock()", "word.get_lock()")
    }
    assert made == {
        "counter.get_lock()": ("counter.value", "40"),
        "cells.get_lock()": ("cells[:]", "[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, …]"),
        "word.get_lock()": ("word[:]", "b'hello'"),
    }

    def shown(name: str) -> list[tuple[str, str]]:
        return [(e.worker, e.data["shows"]) for e in run.on(run.key(name)) if e.kind == "released"]

    # The child's read, then its write; then main's read for the print.
    assert shown("counter.get_lock()") == [("child", "40"), ("child", "45"), ("main", "45")]
    assert shown("word.get_lock()") == [("child", "b'bye'"), ("main", "b'bye'")]
    # An Array's first items only: what is past them is said to be there.
    assert shown("cells.get_lock()")[0][1].endswith("0.0, …]")
    # The user's own lock shows the value it was given to guard.
    assert shown("guard") == [("main", "7"), ("main", "8")]


def test_a_lock_an_object_makes_for_itself_is_named_after_that_object() -> None:
    run = trace(
        """
        import threading

        class Account:
            def __init__(self, balance):
                self.balance = balance
                self.lock = threading.Lock()

        def make_lock():
            return threading.Lock()

        def open_account():
            return Account(0)  # its lock stays self.lock: no name to give it here

        alice = Account(100)
        bob = Account(50)
        accounts = [Account(1)]  # an item of a list: its own name stays
        inbox = make_lock()
        carol = open_account()
        with alice.lock, bob.lock:
            pass
        """
    )
    names = sorted(e.data["name"] for e in run.of("new"))
    assert names == ["alice.lock", "bob.lock", "inbox", "self.lock", "self.lock #2"]


def test_a_dataclass_fields_lock_queue_and_event_are_traced_and_named_after_its_object() -> None:
    """`field(default_factory=Lock)`: the object is made by the __init__
    that dataclasses writes, which has no file of its own."""
    run = trace(
        """
        import queue
        import threading
        from dataclasses import dataclass, field

        @dataclass
        class Account:
            balance: int = 0
            lock: threading.Lock = field(default_factory=threading.Lock)
            history: list = field(default_factory=list)
            inbox: queue.Queue = field(default_factory=queue.Queue)
            closed: threading.Event = field(default_factory=threading.Event, init=False)

        alice = Account(100)
        with alice.lock:
            alice.balance -= 1
        alice.inbox.put(1)
        alice.closed.set()
        print(alice.balance, alice.inbox.get())
        """
    )
    made = {e.data["name"]: (e.data["type"], e.data["line"]) for e in run.of("new")}
    line = run.line("alice = Account(100)")
    assert made == {"alice.lock": ("Lock", line), "alice.inbox": ("Queue", line)} | {
        "alice.closed": ("Event", line)
    }
    assert run.kinds_on(run.key("alice.lock")) == ["new", "acquired", "released"]
    assert run.printed() == "99 1\n"


def test_threads_that_try_a_lock_in_turn_both_get_it_as_without_the_tracer() -> None:
    # Traced, the lock's holder never writes to the server while it holds
    # it: a write lets the other thread run, which would then always find
    # the lock taken (one thread got it every time, the other never).
    run = trace(
        """
        import threading
        import time

        lock = threading.Lock()
        stop = time.monotonic() + 0.4
        got = [0, 0]

        def spin(i):
            while time.monotonic() < stop:
                if lock.acquire(blocking=False):
                    got[i] += 1
                    lock.release()

        threads = [threading.Thread(target=spin, args=(i,)) for i in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(min(got) > 0, got)
        """
    )
    assert run.printed().startswith("True"), run.printed()


def test_a_forked_childs_threading_lock_is_a_copy_of_its_own_locked_as_at_the_fork() -> None:
    """A threading lock is no lock between processes: each forked child
    takes its own copy, a new object, and one forked while the lock was
    held finds its copy locked by no thread it has."""
    run = trace(
        """
        import multiprocessing as mp
        import threading

        lock = threading.Lock()

        def try_it():
            print(lock.acquire(timeout=0.1))

        def take():
            with lock:
                pass

        if __name__ == "__main__":
            fork = mp.get_context("fork")
            with lock:
                kid = fork.Process(target=try_it, name="kid")
                kid.start()
                kid.join()
            a = fork.Process(target=take, name="a")
            a.start()
            a.join()
            with lock:
                pass
        """
    )
    made = {
        e.data["name"] + (f" ({e.data['copy_in']}'s copy)" if "copy_in" in e.data else ""): (
            e.worker,
            e.item,
            e.data.get("locked_at_fork"),
        )
        for e in run.of("new")
    }
    assert set(made) == {"lock", "lock (kid's copy)", "lock (a's copy)"}
    assert made["lock (kid's copy)"][0::2] == ("kid", True)
    assert made["lock (a's copy)"][0::2] == ("a", False)
    # Each process's calls are on its own lock.
    for worker, key, _locked in made.values():
        assert {e.worker for e in run.on(key) if e.kind != "new"} == {worker}
    assert run.printed("kid") == "False\n"
    state = folded(run)
    copy = state.objs[made["lock (kid's copy)"][1]]
    assert copy.locked_at_fork
