"""Faults: the server stopped mid-run, a worker killed mid-run, Stop with
payloads nobody reads, and many runs in a row. Real servers, real
processes; every wait has a deadline."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psutil
import pytest
from conftest import LiveServer
from probes import (
    ENDED,
    Proc,
    family,
    fds_and_threads,
    left_in_shm,
    settle,
    shm_names,
    start,
    wait_for,
    with_pids,
    worker,
    zombies,
)
from ssereader import messages, read_events

from app.cli import GRACEFUL_SHUTDOWN_S
from app.experiments import EXPERIMENTS
from app.programs.rundirs import BASE_DIR
from app.programs.runtime import TERM_GRACE_S, ProgramRuntime

pytestmark = pytest.mark.live

ENDLESS = {
    "items_per_producer": 0,
    "produce_min_ms": 20,
    "produce_max_ms": 60,
    "consume_min_ms": 20,
    "consume_max_ms": 60,
    "speed": 2,
}
TINY = {
    "producers": 1,
    "consumers": 1,
    "items_per_producer": 2,
    "produce_max_ms": 5,
    "consume_max_ms": 5,
    "speed": 20,
}
FAST = EXPERIMENTS["producer-consumer"].quick_params  # a run of a second or so


def running(pid: int) -> bool:
    """Alive, not an ended process that waits a moment as a zombie (a child of
    a program is reaped by init once the program is gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def run_dirs(server: LiveServer) -> list[str]:
    """The server's runs' directories (each program runs in one of its own)."""
    return [d.name for d in BASE_DIR.glob(f"{server.proc.pid}-*")] if BASE_DIR.exists() else []


def gone_within(procs: list[Proc], seconds: float) -> list[Proc]:
    return settle(lambda: [p for p in procs if p.running()], lambda alive: not alive, seconds)


class Streams:
    """Open server-sent event streams on raw sockets, each drained by a
    thread, as browsers would hold them."""

    def __init__(self, port: int, paths: list[str]) -> None:
        self.socks = []
        self.first_bytes = threading.Event()
        for path in paths:
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            self.socks.append(s)
            threading.Thread(target=self._drain, args=(s,), daemon=True).start()

    def _drain(self, s: socket.socket) -> None:
        try:
            while s.recv(65536):
                self.first_bytes.set()
        except OSError:
            pass

    def close(self) -> None:
        for s in self.socks:
            s.close()


@contextmanager
def healthz_watch(url: str) -> Iterator[list[float]]:
    """/healthz asked every 20 ms meanwhile; yields the answer times."""
    times: list[float] = []
    done = threading.Event()

    def ask() -> None:
        with httpx.Client(base_url=url, timeout=5) as c:
            while not done.is_set():
                t = time.monotonic()
                assert c.get("/healthz").status_code == 200
                times.append(time.monotonic() - t)
                done.wait(0.02)

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    try:
        yield times
    finally:
        done.set()
        thread.join(5)


# The server stops mid-run.


def test_sigterm_with_open_streams_exits_in_the_graceful_timeout_leaving_nothing() -> None:
    server = LiveServer()
    with httpx.Client(base_url=server.url, timeout=15) as c:
        run = start(c, producers=4, consumers=4, **ENDLESS)
        rid = run["id"]
        wait_for(c, rid, with_pids(8))
    procs = family(server.proc.pid)
    dirs = run_dirs(server)
    assert dirs, "the run's directory, while it runs"
    shm = shm_names([server.proc.pid] + [p.pid for p in procs])
    paths = [f"/runs/{rid}/stream", f"/api/runs/{rid}/events", f"/runs/{rid}/timeline"] * 3
    streams = Streams(server.port, [*paths, "/watch/stream"])
    assert streams.first_bytes.wait(5)
    time.sleep(0.2)  # every stream has begun

    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    server.proc.wait(timeout=GRACEFUL_SHUTDOWN_S + TERM_GRACE_S + 5)
    took = time.monotonic() - started
    streams.close()
    server.stop()
    # The open streams end as the shutdown begins, then the lifespan stops the
    # runs (their programs' sessions end): well within the graceful timeout,
    # which is only there for streams that would not end.
    assert took < GRACEFUL_SHUTDOWN_S, f"{took:.2f} s\n{server.output()}"
    assert gone_within(procs, 5.0) == []
    assert [d for d in dirs if (BASE_DIR / d).exists()] == []
    assert left_in_shm(shm) == set()
    assert "leaked" not in server.output()
    # Every stream was ended properly: nothing alarming in the teacher's terminal.
    assert "ERROR" not in server.output(), server.output()


# Many runs in a row.


def test_fifty_runs_back_to_back_leave_no_zombie(own_server: LiveServer) -> None:
    # A server of this module's own: no other test's runs in its process tree.
    with httpx.Client(base_url=own_server.url, timeout=15) as c:
        for _ in range(50):
            run = start(c, **TINY)
            wait_for(c, run["id"], lambda r: r["status"] in ENDED)
            left = settle(lambda: zombies(own_server.proc.pid), lambda z: not z, 1.0)
            assert left == [], f"zombies 1 s after run {run['id']} ended: {left}"


def test_start_stop_cycles_return_fds_and_threads_to_baseline(own_server: LiveServer) -> None:
    pid = own_server.proc.pid
    params = {**TINY, "items_per_producer": 0}

    def cycles(n: int) -> None:
        with httpx.Client(base_url=own_server.url, timeout=20) as c:
            for _ in range(n):
                run = start(c, **params)
                stopped = c.post(f"/api/runs/{run['id']}/stop").json()
                assert stopped["status"] in ENDED

    def lanes(n: int) -> None:
        # Four at once: as many as max_runs, and the stops wait in parallel.
        threads = [threading.Thread(target=cycles, args=(n,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)

    lanes(2)  # the loop's thread pool is as large as four stops make it
    base_fds, base_threads = settle(lambda: fds_and_threads(pid), lambda v: False, 0.3)
    lanes(10)

    fds, threads = settle(
        lambda: fds_and_threads(pid),
        lambda v: v[0] <= base_fds + 2 and v[1] <= base_threads + 2,
        5.0,
    )
    assert fds <= base_fds + 2, (fds, base_fds)
    assert threads <= base_threads + 2, (threads, base_threads)
    assert settle(lambda: run_dirs(own_server), lambda left: not left) == []
    assert zombies(pid) == []


# A worker killed mid-run.


def test_a_consumer_killed_holding_an_item_leaves_the_server_answering_and_the_run_stoppable(
    own_client: httpx.Client,
) -> None:
    run = start(
        own_client,
        producers=2,
        consumers=2,
        **{**ENDLESS, "consume_min_ms": 5000, "consume_max_ms": 5000},
    )
    rid = run["id"]
    holding = wait_for(own_client, rid, lambda r: has(r, "C1") and bool(worker(r, "C1")["item"]))
    victim = worker(holding, "C1")
    pids = [p["pid"] for p in holding["processes"]]
    with healthz_watch(str(own_client.base_url)) as answers:
        os.kill(victim["pid"], signal.SIGKILL)
        # The program's main reaps its child when it joins it (not before);
        # the run goes on meanwhile, and Stop ends it.
        assert settle(lambda: running(victim["pid"]), lambda alive: not alive, 2.0) is False
        assert own_client.get(f"/api/runs/{rid}").json()["status"] == "running"
        stopped = own_client.post(f"/api/runs/{rid}/stop").json()
        assert stopped["status"] == "stopped"
        lost = worker(stopped, "C1")
        assert (lost["state"], lost["alive"]) == ("killed", False)
        assert settle(lambda: [p for p in pids if running(p)], lambda left: not left) == []
        assert_next_run_streams_normally(own_client)
    assert answers
    assert max(answers) < 0.5, f"/healthz slowest: {max(answers):.3f} s"


def has(run: dict[str, Any], name: str) -> bool:
    return any(w["name"] == name for w in run["workers"])


def assert_next_run_streams_normally(c: httpx.Client) -> None:
    run = start(c, **FAST)
    with c.stream("GET", f"/runs/{run['id']}/stream") as r:
        first = next(messages(r))
    assert 'id="runbar"' in first.data
    evs = read_events(c, run["id"])
    assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1))
    final = c.get(f"/api/runs/{run['id']}").json()
    assert final["status"] == "finished"
    assert final["counters"]["produced"] == final["counters"]["consumed"] == 15


def feeder_in_write(pid: int) -> bool:
    """A thread of `pid` is inside write(2) (x86-64 syscall 1): the feeder
    thread of a multiprocessing queue, pushing a payload into the pipe."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/syscall") as f:
                if f.read().split()[0] == "1":
                    return True
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return False


# Four processes put 4 MiB payloads on a queue nobody reads, then wait.
PAYLOADS = """
import time
from multiprocessing import Process, Queue


def fill(q, n):
    for _ in range(4):
        q.put(bytes(4 << 20))
    print("filled", n, flush=True)
    time.sleep(60)


if __name__ == "__main__":
    q = Queue()
    for n in range(1, 5):
        Process(target=fill, args=(q, n), name=f"P{n}").start()
    time.sleep(60)
"""


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="reads x86-64 syscall numbers")
def test_stop_with_large_payloads_buffered_for_a_queue_nobody_reads(
    own_client: httpx.Client, own_server: LiveServer
) -> None:
    pid = own_server.proc.pid
    before = fds_and_threads(pid)
    r = own_client.post("/api/programs", json={"source": PAYLOADS, "args": []})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    full = wait_for(
        own_client, rid, lambda r: sum("filled" in c["text"] for c in r["console"]) == 4
    )
    pids = [p["pid"] for p in full["processes"]]
    assert len(pids) == 5
    # 16 MiB each, nobody reads: one feeder is inside write(), the others
    # wait for the queue's write lock.
    assert settle(lambda: any(feeder_in_write(p) for p in pids), bool, 2.0)
    asked = time.monotonic()
    stopped = own_client.post(f"/api/runs/{rid}/stop")
    assert time.monotonic() - asked < 5.0
    assert stopped.json()["status"] == "stopped"
    assert settle(lambda: [p for p in pids if running(p)], lambda left: not left) == []
    fds, threads = settle(
        lambda: fds_and_threads(pid), lambda v: v[0] <= before[0] + 2 and v[1] <= before[1] + 2
    )
    assert (fds, threads) <= (before[0] + 2, before[1] + 2), (before, fds, threads)


def test_every_experiment_runs_as_a_program_that_a_stop_ends_whatever_it_waits_in() -> None:
    """Python cannot kill a thread: no experiment runs its threads in the
    server. Each runs as a program in a session of its own, which a stop
    ends (test_programs_live: a deadlock, a loop with no traced call)."""
    built = [exp for exp in EXPERIMENTS.values() if exp.built]
    assert built
    assert {exp.slug: exp.runtime for exp in built} == dict.fromkeys(
        (exp.slug for exp in built), ProgramRuntime
    )
