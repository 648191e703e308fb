"""Every lesson's live stage through the real server: a viewer that reads
slowly (so it skips frames) and applies each message as the page does ends
with the very stage a new viewer of the ended run gets whole."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from conftest import LiveServer
from stagedom import Stage

from app.experiments import EXPERIMENTS

pytestmark = pytest.mark.live

WATCHING = re.compile(r"\d+ watching")


def read_stream(c: httpx.Client, run_id: str, pause: float) -> tuple[list[str], str]:
    """Each message's data until the stream's end, reading a message at a
    time, `pause` seconds apart; and its last message's data."""
    datas, data = [], []
    with c.stream("GET", f"/runs/{run_id}/stream") as s:
        for line in s.iter_lines():
            if line.startswith("data: "):
                data.append(line[6:])
            elif line == "event: end":
                break
            elif line == "" and data:
                datas.append("\n".join(data))
                data = []
                time.sleep(pause)
    return datas, datas[-1] if datas else ""


@pytest.mark.parametrize("slug", sorted(EXPERIMENTS))
def test_a_slow_viewer_ends_with_the_whole_last_stage(live_server: LiveServer, slug: str) -> None:
    params = EXPERIMENTS[slug].quick_params
    with httpx.Client(base_url=live_server.url, timeout=30) as c:
        run = c.post("/api/runs", json={"experiment": slug, "params": params})
        assert run.status_code == 201, run.text
        run_id = run.json()["id"]
        try:
            messages, _ = read_stream(c, run_id, 0.12)  # about every third frame at 20 fps
        finally:
            c.post(f"/api/runs/{run_id}/stop")
        page = Stage()
        for data in messages:
            page.receive(data)
        _, whole = read_stream(c, run_id, 0)
    assert "<hx-partial" not in whole
    assert WATCHING.sub("", page.html()) == WATCHING.sub("", whole)
    if len(messages) > 2:
        assert any("<hx-partial" in d for d in messages), "no patch at all"
