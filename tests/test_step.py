"""Step mode: every traced action waits for the class's permission."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from probes import wait_for
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


def wants(run: dict[str, Any]) -> dict[str, Any]:
    return {w["name"]: w["wants"] for w in run["workers"] if w["wants"]}


@pytest.mark.parametrize("backend", ["process", "thread"])
def test_exactly_one_action_per_permit(client: httpx.Client, backend: str) -> None:
    r = client.post(
        "/api/runs",
        json={"experiment": "producer-consumer", "params": {**PARAMS, "backend": backend}},
    )
    rid = r.json()["id"]
    wait_for(client, rid, lambda run: run["events"] > 10)
    assert client.post(f"/api/runs/{rid}/step", json={"on": True}).json()["stepping"] is True
    # Everyone ends up waiting: for a permit, or (a producer already let go)
    # blocked on a full queue until a consumer is let go. Main's wait for
    # news has a timeout: once it passes, main too waits for a permit.
    run = wait_for(
        client,
        rid,
        lambda run: (
            all(
                w["wants"] or (w["state"] in ("put_wait", "get_wait") and w["name"] != "main")
                for w in run["workers"]
                if w["alive"]
            )
            and bool(wants(run))
        ),
    )
    time.sleep(0.2)
    still = client.get(f"/api/runs/{rid}").json()
    assert still["events"] == run["events"]  # nothing moves without a permit
    for _ in range(6):
        run = wait_for(client, rid, lambda run: bool(wants(run)))
        worker = sorted(wants(run))[0]
        before = run["events"]
        assert client.post(f"/api/runs/{rid}/permit", json={"worker": worker}).status_code == 200
        wait_for(client, rid, lambda run, b=before: run["events"] >= b + 2)
        time.sleep(0.15)  # anything more that would happen, happens
        after = client.get(f"/api/runs/{rid}").json()["events"]
        evs = read_events(client, rid, last_event_id=before, limit=after - before)
        assert evs[0]["kind"] == "permit"
        mine = [e for e in evs[1:] if e["worker"] == worker and e["kind"] != "wants"]
        assert len(mine) == 1  # exactly one action per permit
        for e in evs[1:]:
            if e["worker"] != worker:
                # Others only finish a put or get allowed before, once it is
                # no longer blocked, and say what they want next.
                # Main's wait for news may end with its timeout.
                assert e["kind"] in ("wants", "put", "get", "sentinel_get", "empty"), e
    refused = client.post(f"/api/runs/{rid}/permit", json={"worker": "nobody"})
    assert refused.status_code == 409
    assert client.post(f"/api/runs/{rid}/step", json={"on": False}).json()["stepping"] is False
    moved = client.get(f"/api/runs/{rid}").json()["events"]
    wait_for(client, rid, lambda run: run["events"] > moved + 20)  # free again
    assert client.post(f"/api/runs/{rid}/stop").json()["status"] == "stopped"
