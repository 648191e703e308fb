"""Faults: the server killed or stopped mid-run, workers killed mid-run,
Stop with payloads nobody reads, a deadlocked thread experiment, and many
runs in a row. Real servers, real processes; every wait has a deadline."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from conftest import LiveServer
from faultserver import FaultServer
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
from app.runtime import KILL_GRACE_S, STOP_GRACE_S

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
# The roles runtime's faults (a worker killed, workers in the server's
# threads, the fork server's children): its producer/consumer (`rolesexp`).
ROLES = "roles-queue"


def forkserver_dir(procs: list[Proc]) -> Path:
    """The directory multiprocessing made for the fork server's socket."""
    fs = next(p for p in procs if p.kind == "forkserver")
    address = next(c.laddr for c in psutil.Process(fs.pid).net_connections(kind="unix") if c.laddr)
    return Path(address).parent


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


# The server dies or stops mid-run.


def test_sigkill_mid_run_takes_8_workers_the_forkserver_and_the_tracker_with_it() -> None:
    server = FaultServer()
    try:
        with httpx.Client(base_url=server.url, timeout=15) as c:
            run = start(c, ROLES, producers=4, consumers=4, **ENDLESS)
            running = wait_for(c, run["id"], with_pids(8))
        procs = family(server.proc.pid)
        shm = shm_names([server.proc.pid] + [p.pid for p in procs])
    finally:
        server.proc.kill()  # no lifespan shutdown: only the watchdogs and EOFs
        server.proc.wait()
        server.stop()
    kinds = sorted(p.kind for p in procs)
    assert kinds == ["forkserver", "resource_tracker"] + ["worker"] * 8, kinds
    assert {w["pid"] for w in running["workers"]} == {p.pid for p in procs if p.kind == "worker"}
    assert shm, "the run's queues use named semaphores"
    assert gone_within(procs, 5.0) == [], f"left behind after SIGKILL: {procs}"
    # The resource tracker unlinks what the dead server had not.
    assert settle(lambda: left_in_shm(shm), lambda left: not left, 2.0) == set()


def test_sigterm_with_open_streams_exits_in_the_graceful_timeout_leaving_nothing() -> None:
    server = LiveServer()
    with httpx.Client(base_url=server.url, timeout=15) as c:
        run = start(c, producers=4, consumers=4, **ENDLESS)
        rid = run["id"]
        wait_for(c, rid, with_pids(8))
    procs = family(server.proc.pid)
    tmp = forkserver_dir(procs)
    shm = shm_names([server.proc.pid] + [p.pid for p in procs])
    paths = [f"/runs/{rid}/stream", f"/api/runs/{rid}/events", f"/runs/{rid}/timeline"] * 3
    streams = Streams(server.port, [*paths, "/watch/stream"])
    assert streams.first_bytes.wait(5)
    time.sleep(0.2)  # every stream has begun

    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    server.proc.wait(timeout=GRACEFUL_SHUTDOWN_S + STOP_GRACE_S + KILL_GRACE_S + 5)
    took = time.monotonic() - started
    streams.close()
    server.stop()
    # The open streams end as the shutdown begins, then the lifespan stops the
    # runs (their workers leave on the stop flag): well within the graceful
    # timeout, which is only there for streams that would not end.
    assert took < GRACEFUL_SHUTDOWN_S, f"{took:.2f} s\n{server.output()}"
    assert gone_within(procs, 5.0) == []
    assert not tmp.exists(), f"{tmp} left behind"
    assert left_in_shm(shm) == set()
    assert "leaked" not in server.output()
    # Every stream was ended properly: nothing alarming in the teacher's terminal.
    assert "ERROR" not in server.output(), server.output()


def test_fifty_runs_back_to_back_leave_no_zombie(fault_server: FaultServer) -> None:
    # A server of this module's own: no other test's runs in its process tree.
    with httpx.Client(base_url=fault_server.url, timeout=15) as c:
        for _ in range(50):
            run = start(c, **TINY)
            wait_for(c, run["id"], lambda r: r["status"] in ENDED)
            left = settle(lambda: zombies(fault_server.proc.pid), lambda z: not z, 1.0)
            assert left == [], f"zombies 1 s after run {run['id']} ended: {left}"


def test_200_start_stop_cycles_return_fds_threads_and_shm_to_baseline(
    fault_server: FaultServer,
) -> None:
    pid = fault_server.proc.pid
    params = {**TINY, "items_per_producer": 0}
    seen: set[str] = set()

    def cycles(n: int, watch: bool = False) -> None:
        with httpx.Client(base_url=fault_server.url, timeout=20) as c:
            for i in range(n):
                run = start(c, ROLES, **params)
                if watch and i % 10 == 0:
                    # The server maps its semaphores under temporary names;
                    # the workers map them under the names in /dev/shm.
                    wait_for(c, run["id"], with_pids(2))
                    seen.update(shm_names([p.pid for p in family(pid)]))
                stopped = c.post(f"/api/runs/{run['id']}/stop").json()
                assert stopped["status"] in ENDED

    def lanes(n: int) -> None:
        # Four at once: as many as max_runs, and the stops wait in parallel.
        threads = [threading.Thread(target=cycles, args=(n, i == 0)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)

    lanes(2)  # the loop's thread pool is as large as four stops make it
    base_fds, base_threads = settle(lambda: fds_and_threads(pid), lambda v: False, 0.3)
    lanes(50)

    fds, threads = settle(
        lambda: fds_and_threads(pid),
        lambda v: v[0] <= base_fds + 2 and v[1] <= base_threads + 2,
        5.0,
    )
    assert fds <= base_fds + 2, (fds, base_fds)
    assert threads <= base_threads + 2, (threads, base_threads)
    assert len(seen) >= 5 * 3, "each run's item queue uses three named semaphores"
    # Unlinked once the run's runtime is released, when its ticker ends.
    assert settle(lambda: left_in_shm(seen), lambda v: not v, 5.0) == set()
    assert zombies(pid) == []


# A worker killed mid-run.


def test_a_consumer_killed_holding_an_item_fails_the_run_at_once(
    fault_client: httpx.Client,
) -> None:
    run = start(
        fault_client,
        ROLES,
        producers=2,
        consumers=2,
        **{**ENDLESS, "consume_min_ms": 5000, "consume_max_ms": 5000},
    )
    rid = run["id"]
    holding = wait_for(fault_client, rid, lambda r: state_of(r, "C1") == "consuming")
    victim = worker(holding, "C1")
    with healthz_watch(str(fault_client.base_url)) as answers:
        killed = time.monotonic()
        os.kill(victim["pid"], signal.SIGKILL)
        shown = wait_for(fault_client, rid, lambda r: worker(r, "C1")["exitcode"] is not None, 1.0)
        seen_after = time.monotonic() - killed
        lost = worker(shown, "C1")
        assert (lost["state"], lost["exitcode"], lost["alive"]) == ("killed", -9, False)
        assert seen_after < 1.0
        # Producer/consumer cannot go on: the item C1 held is gone, so no
        # exact account is possible, and C1 would never take its sentinel.
        ended = wait_for(fault_client, rid, lambda r: r["status"] in ENDED, 5.0)
        assert ended["status"] == "failed"
        assert "C1" in ended["reason"]
        assert "-9" in ended["reason"]
        assert not any(psutil.pid_exists(w["pid"]) for w in ended["workers"])
        # Its queues are never used again: the run takes no new worker.
        r = fault_client.patch(f"/api/runs/{rid}", json={"params": {"consumers": 3}})
        assert r.status_code == 409
        assert_next_run_streams_normally(fault_client)
    assert answers
    assert max(answers) < 0.5, f"/healthz slowest: {max(answers):.3f} s"


def state_of(run: dict[str, Any], name: str) -> str | None:
    return {w["name"]: w["state"] for w in run["workers"]}.get(name)


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


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="reads x86-64 syscall numbers")
def test_a_producer_killed_inside_a_put_of_a_large_payload(fault_client: httpx.Client) -> None:
    # 8 MiB payloads through a 64 KiB pipe: while C1 works on P1#1, P1#2 is
    # half in the pipe and P1's feeder thread is blocked inside write().
    run = start(
        fault_client, "payloads", producers=1, consumers=1, payload_kb=8192, consume_ms=5000
    )
    rid = run["id"]

    def putting(r: dict[str, Any]) -> bool:
        names = {w["name"]: w for w in r["workers"]}
        return "C1" in names and names["C1"]["item"] == "P1#1" and names["P1"]["items"] >= 2

    p1 = worker(wait_for(fault_client, rid, putting), "P1")
    assert settle(lambda: feeder_in_write(p1["pid"]), bool, 2.0)
    with healthz_watch(str(fault_client.base_url)) as answers:
        killed = time.monotonic()
        os.kill(p1["pid"], signal.SIGKILL)
        shown = wait_for(fault_client, rid, lambda r: worker(r, "P1")["exitcode"] is not None, 1.0)
        assert time.monotonic() - killed < 1.0
        assert (worker(shown, "P1")["state"], worker(shown, "P1")["exitcode"]) == ("killed", -9)
        # The pipe holds half a message now: whoever reads it next would wait
        # forever for the rest. The run fails, and its queue goes with it.
        ended = wait_for(fault_client, rid, lambda r: r["status"] in ENDED, 5.0)
        assert ended["status"] == "failed"
        assert "P1" in ended["reason"]
        assert not any(psutil.pid_exists(w["pid"]) for w in ended["workers"])
        assert (
            fault_client.patch(f"/api/runs/{rid}", json={"params": {"producers": 2}}).status_code
            == 409
        )
        assert_next_run_streams_normally(fault_client)
    assert answers
    assert max(answers) < 0.5, f"/healthz slowest: {max(answers):.3f} s"


def test_stop_with_large_payloads_buffered_for_a_queue_nobody_reads(
    fault_client: httpx.Client, fault_server: FaultServer
) -> None:
    pid = fault_server.proc.pid
    before = fds_and_threads(pid)
    run = start(fault_client, "payloads", producers=4, consumers=0, payload_kb=4096, items=4)
    rid = run["id"]
    full = wait_for(
        fault_client,
        rid,
        lambda r: len(r["workers"]) == 4 and all(w["items"] == 4 for w in r["workers"]),
    )
    pids = [w["pid"] for w in full["workers"]]
    # 16 MiB each, nobody reads: one feeder is inside write(), the others
    # wait for the queue's write lock.
    assert settle(lambda: any(feeder_in_write(p) for p in pids), bool, 2.0)
    asked = time.monotonic()
    stopped = fault_client.post(f"/api/runs/{rid}/stop")
    assert time.monotonic() - asked < 5.0
    assert stopped.json()["status"] == "stopped"
    assert not any(psutil.pid_exists(p) for p in pids)
    fds, threads = settle(
        lambda: fds_and_threads(pid), lambda v: v[0] <= before[0] + 2 and v[1] <= before[1] + 2
    )
    assert (fds, threads) <= (before[0] + 2, before[1] + 2), (before, fds, threads)


def test_a_deadlocked_thread_experiment_still_stops(
    fault_client: httpx.Client, fault_server: FaultServer
) -> None:
    """Python cannot kill a thread, and these two wait in plain acquire()
    calls that look at no stop flag. Every thread experiment runs inside a
    process of its own (the run's `main`), so Stop ends that process."""
    run = start(fault_client, "deadlock")
    rid = run["id"]
    stuck = wait_for(
        fault_client, rid, lambda r: state_of(r, "T1") == state_of(r, "T2") == "get_wait"
    )
    main = worker(stuck, "main")
    assert main["pid"] != fault_server.proc.pid
    tids = {w["tid"] for w in stuck["workers"] if w["name"] in ("T1", "T2")}
    assert tids <= {t.id for t in psutil.Process(main["pid"]).threads()}
    asked = time.monotonic()
    stopped = fault_client.post(f"/api/runs/{rid}/stop").json()
    took = time.monotonic() - asked
    assert stopped["status"] == "stopped"
    assert took < STOP_GRACE_S + KILL_GRACE_S + 1.0
    assert worker(stopped, "main")["exitcode"] == -signal.SIGTERM  # terminated
    assert not psutil.pid_exists(main["pid"])


def test_thread_experiments_run_in_a_process_or_check_the_stop_flag() -> None:
    """Which of the two, for every built experiment that uses threads."""
    for exp in EXPERIMENTS.values():
        if not exp.built:
            continue
        backends = exp.schema().get("properties", {}).get("backend", {}).get("enum", ["process"])
        if "thread" not in backends and exp.slug not in ("threads", "daemon"):
            continue
        # Producer/consumer's thread backend runs its threads in the server:
        # they wait only in calls with a POLL_S timeout and check the flag
        # (test_stop_of_thread_workers_in_the_server_is_prompt).
        # A lesson that is a program runs in a session of its own, which a stop ends.
        assert exp.main_in_process or exp.lesson or exp.slug == "producer-consumer", exp.slug


def test_stop_of_thread_workers_in_the_server_is_prompt(fault_client: httpx.Client) -> None:
    run = start(fault_client, ROLES, producers=8, consumers=8, backend="thread", **ENDLESS)
    wait_for(
        fault_client, run["id"], lambda r: len(r["workers"]) == 16 and r["counters"]["consumed"] > 0
    )
    asked = time.monotonic()
    stopped = fault_client.post(f"/api/runs/{run['id']}/stop").json()
    assert time.monotonic() - asked < STOP_GRACE_S  # they left on the flag
    assert {w["exitcode"] for w in stopped["workers"]} == {0}
    assert statistics.mode(w["reason"] for w in stopped["workers"]) == "stopped"
