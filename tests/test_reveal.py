"""Predict, then reveal: the presenter hides a run's result until asked."""

from __future__ import annotations

import httpx
import pytest
from ssereader import messages, read_events

from app.experiments import EXPERIMENTS

pytestmark = pytest.mark.live


def final_frame(client: httpx.Client, run_id: str) -> str:
    """The frame of an ended run: the stream's last before its end."""
    with client.stream("GET", f"/runs/{run_id}/stream") as s:
        return [m.data for m in messages(s) if m.event != "end"][-1]


def test_a_hidden_result_stays_hidden_until_revealed(client: httpx.Client) -> None:
    exp = EXPERIMENTS["lock"]
    params = {**exp.quick_params, "use_lock": False, "repeats": 1}
    run = client.post("/api/runs", json={"experiment": "lock", "params": params}).json()
    rid = run["id"]
    assert client.post(f"/api/runs/{rid}/reveal", json={"hidden": True}).status_code == 200
    read_events(client, rid)  # the run is over: its result is known
    final = client.get(f"/api/runs/{rid}").json()
    actual = final["result"]["actual"]
    hidden = final_frame(client, rid)
    assert "result hidden" in hidden
    assert 'id="lk-actual">?<' in hidden
    assert client.post(f"/api/runs/{rid}/reveal", json={"hidden": False}).status_code == 200
    shown = final_frame(client, rid)
    assert "result hidden" not in shown
    assert f'id="lk-actual">{actual}<' in shown
