"""Pause and resume for real: processes stopped by the OS, threads at a gate,
the run's clock stopped, and the run still correct afterwards."""

from __future__ import annotations

import time

import httpx
import psutil
import pytest
from probes import start
from ssereader import read_events

pytestmark = pytest.mark.live

SLOW_ENDLESS = {
    "producers": 2,
    "consumers": 2,
    "items_per_producer": 0,
    "produce_min_ms": 10,
    "produce_max_ms": 30,
    "consume_min_ms": 10,
    "consume_max_ms": 30,
}


def running(pid: int) -> bool:
    """Alive, not an ended process that waits a moment as a zombie (a child of
    a lesson's program is reaped by init once the program is gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def events_so_far(client: httpx.Client, run_id: str) -> int:
    count: int = client.get(f"/api/runs/{run_id}").json()["events"]
    return count


def wait_events(client: httpx.Client, run_id: str, at_least: int) -> None:
    deadline = time.monotonic() + 10
    while events_so_far(client, run_id) < at_least:
        assert time.monotonic() < deadline
        time.sleep(0.02)


@pytest.mark.parametrize("backend", ["process", "thread"])
def test_nothing_happens_while_paused_and_the_run_goes_on_after(
    client: httpx.Client, backend: str
) -> None:
    run = start(client, backend=backend, **SLOW_ENDLESS)
    rid = run["id"]
    wait_events(client, rid, 30)
    paused = client.post(f"/api/runs/{rid}/pause")
    assert paused.status_code == 200
    assert paused.json()["paused"] is True
    time.sleep(0.15)  # what was already sent arrives
    before = client.get(f"/api/runs/{rid}").json()
    pids = {w["pid"] for w in before["workers"]}
    if backend == "process":
        assert all(psutil.Process(p).status() == psutil.STATUS_STOPPED for p in pids)
    time.sleep(0.3)
    during = client.get(f"/api/runs/{rid}").json()
    assert during["events"] == before["events"]  # no traced event while paused
    assert during["counters"] == before["counters"]
    assert client.post(f"/api/runs/{rid}/resume").json()["paused"] is False
    wait_events(client, rid, during["events"] + 20)
    evs = read_events(client, rid, limit=during["events"] + 20)
    kinds = [e["kind"] for e in evs]
    assert "pause" in kinds
    assert "resume" in kinds
    # The run's clock stopped while paused: no 0.45 s jump across the pause.
    i = kinds.index("resume")
    assert evs[i + 1]["t"] - evs[kinds.index("pause")]["t"] < 0.3
    assert client.post(f"/api/runs/{rid}/stop").json()["status"] == "stopped"
    if backend == "process":
        assert not any(running(p) for p in pids)


def test_a_paused_run_stops_cleanly_and_a_finished_one_cannot_pause(client: httpx.Client) -> None:
    run = start(client, **SLOW_ENDLESS)
    rid = run["id"]
    wait_events(client, rid, 20)
    client.post(f"/api/runs/{rid}/pause")
    pids = [w["pid"] for w in client.get(f"/api/runs/{rid}").json()["workers"]]
    stopped = client.post(f"/api/runs/{rid}/stop").json()
    assert stopped["status"] == "stopped"
    assert not any(running(p) for p in pids)
    assert client.post(f"/api/runs/{rid}/pause").status_code == 409


def test_a_finite_run_paused_midway_still_accounts_for_every_item(client: httpx.Client) -> None:
    run = start(
        client,
        producers=3,
        consumers=2,
        items_per_producer=8,
        produce_max_ms=20,
        consume_max_ms=20,
        speed=2,
    )
    rid = run["id"]
    wait_events(client, rid, 15)
    client.post(f"/api/runs/{rid}/pause")
    time.sleep(0.2)
    client.post(f"/api/runs/{rid}/resume")
    read_events(client, rid)
    final = client.get(f"/api/runs/{rid}").json()
    assert final["status"] == "finished"
    assert final["counters"]["produced"] == final["counters"]["consumed"] == 24
