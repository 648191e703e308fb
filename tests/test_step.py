"""Step mode: every traced action waits for the class's permission."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from ssereader import read_events

pytestmark = pytest.mark.live

PARAMS = {
    "producers": 1,
    "consumers": 1,
    "capacity": 2,
    "items_per_producer": 0,
    "produce_min_ms": 20,
    "produce_max_ms": 40,
    "consume_min_ms": 20,
    "consume_max_ms": 40,
}


def wait_run(client: httpx.Client, rid: str, check: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        run: dict[str, Any] = client.get(f"/api/runs/{rid}").json()
        if check(run):
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.02)


def wants(run: dict[str, Any]) -> dict[str, Any]:
    return {w["name"]: w["wants"] for w in run["workers"] if w["wants"]}


@pytest.mark.parametrize("backend", ["process", "thread"])
def test_exactly_one_action_per_permit(client: httpx.Client, backend: str) -> None:
    r = client.post(
        "/api/runs",
        json={"experiment": "producer-consumer", "params": {**PARAMS, "backend": backend}},
    )
    rid = r.json()["id"]
    wait_run(client, rid, lambda run: run["events"] > 10)
    assert client.post(f"/api/runs/{rid}/step", json={"on": True}).json()["stepping"] is True
    run = wait_run(client, rid, lambda run: set(wants(run)) == {"P1", "C1"})
    time.sleep(0.2)
    still = client.get(f"/api/runs/{rid}").json()
    assert still["events"] == run["events"]  # nothing moves without a permit
    for _ in range(3):
        before = client.get(f"/api/runs/{rid}").json()["events"]
        assert client.post(f"/api/runs/{rid}/permit", json={"worker": "P1"}).status_code == 200
        wait_run(client, rid, lambda run, b=before: run["events"] >= b + 3)
        time.sleep(0.1)
        evs = read_events(client, rid, last_event_id=before, limit=3)
        assert [e["kind"] for e in evs][0] == "permit"
        acted = [e for e in evs[1:] if e["worker"] == "P1"]
        assert [e["kind"] for e in acted][-1] == "wants"
        assert len([e for e in acted if e["kind"] != "wants"]) == 1  # exactly one action
        assert client.get(f"/api/runs/{rid}").json()["events"] == before + 3
    refused = client.post(f"/api/runs/{rid}/permit", json={"worker": "nobody"})
    assert refused.status_code == 409
    assert client.post(f"/api/runs/{rid}/step", json={"on": False}).json()["stepping"] is False
    moved = client.get(f"/api/runs/{rid}").json()["events"]
    wait_run(client, rid, lambda run: run["events"] > moved + 20)  # free again
    assert client.post(f"/api/runs/{rid}/stop").json()["status"] == "stopped"
