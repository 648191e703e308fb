"""Honest words and order: the log reads in the order things happened,
messages name fields as the form does, a body that is not JSON is told so,
an ended run says it has ended, and a lost browser gets a page."""

from __future__ import annotations

from collections import deque
from typing import Any

import httpx
import pytest
from conftest import ARTIFACTS, LiveServer
from probes import ENDED, start, wait_for

from app import model
from app.events import Event
from app.experiments import EXPERIMENTS
from app.programs.boot.concviz_tracer import kinds as K

ZH = {"accept-language": "zh-CN,zh;q=0.9"}
HTML = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
FAST = EXPERIMENTS["producer-consumer"].quick_params
ENDLESS = {"items_per_producer": 0, "produce_min_ms": 100, "produce_max_ms": 200, "speed": 1}


def at(seq: int, t: float) -> Event:
    return Event(seq, t, "P1", 1, 1, K.PUT, "1.1", {"v": f"'P1#{seq}'"})


def test_a_late_event_takes_its_place_in_the_log() -> None:
    log: deque[Event] = deque(maxlen=5)
    for seq, t in ((1, 0.1), (2, 0.3), (3, 0.2), (4, 0.3), (5, 0.25)):
        model.log_in_time_order(log, at(seq, t))
    assert [e.seq for e in log] == [1, 3, 5, 2, 4]  # equal times keep their arrival order


def test_a_full_log_keeps_the_newest_events_by_time() -> None:
    log: deque[Event] = deque(maxlen=3)
    for seq, t in ((1, 1.0), (2, 2.0), (3, 3.0)):
        model.log_in_time_order(log, at(seq, t))
    model.log_in_time_order(log, at(4, 0.5))  # older than all it keeps: left out
    assert [e.seq for e in log] == [1, 2, 3]
    model.log_in_time_order(log, at(5, 1.5))  # in its place; the oldest goes
    assert [e.seq for e in log] == [5, 2, 3]
    model.log_in_time_order(log, at(6, 4.0))
    assert [e.seq for e in log] == [2, 3, 6]


def test_the_fold_logs_in_time_order_whatever_the_batches_arrival() -> None:
    late_batch = [at(1, 0.1), at(2, 0.2)]
    on_time = [at(3, 0.15), at(4, 0.3)]
    state = model.RunState()
    for e in on_time + late_batch:
        model.fold(state, e)
    assert [e.t for e in state.log] == [0.1, 0.15, 0.2, 0.3]


# Fields by their labels, JSON API and form alike.


@pytest.mark.live
def test_a_bad_value_is_named_by_its_label_for_the_api_and_the_form(client: httpx.Client) -> None:
    params = {"produce_min_ms": 6000, "produce_max_ms": 5000}
    r = client.post("/api/runs", json={"experiment": "producer-consumer", "params": params})
    assert r.status_code == 422
    said = "Produce time min (ms) must be at most 5000, the Produce time max (ms) (got 6000)"
    assert r.json()["detail"] == said
    assert r.json()["errors"] == [{"field": "produce_min_ms", "message": said}]
    form = client.post("/experiments/producer-consumer/start", data={"produce_min_ms": "-1"})
    assert form.status_code == 422
    assert (
        '"#err-produce_min_ms" hx-swap="innerHTML">'
        "Produce time min (ms) must be an integer from 0 to 10000 (got &#39;-1&#39;)"
    ) in form.text
    assert "produce_min_ms must" not in form.text
    zh = client.post(
        "/api/runs",
        json={"experiment": "threads", "params": {"pause_ms": 6000}},
        headers=ZH,
    )
    assert zh.json()["errors"] == [
        {
            "field": "pause_ms",
            "message": "每轮之间的停顿（毫秒）必须是 0 到 5000 之间的整数（收到 6000）",
        }
    ]


# A body that is not JSON.


@pytest.mark.live
@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b"experiment=lock", "Expecting value at line 1 column 1"),
        (
            b'{"experiment": "lock",\n "params": {"threads": 2,}}',
            "Expecting property name enclosed in double quotes at line 2 column 26",
        ),
        (b'{"experiment": ', "Expecting value at line 1 column 16"),
    ],
)
def test_a_body_that_is_not_json_is_told_so_with_where(
    client: httpx.Client, body: bytes, where: str
) -> None:
    r = client.post("/api/runs", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail.startswith("the body is not valid JSON: "), detail
    assert where in detail
    assert r.json()["errors"][0]["field"] == "body"
    assert "JSON decode error" not in detail


@pytest.mark.live
def test_a_call_whose_body_is_not_json_is_told_so(client: httpx.Client) -> None:
    run = start(client, "queue", mode="buttons")
    try:
        r = client.post(
            f"/api/runs/{run['id']}/calls",
            content=b'{"op": "put"',
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 422
        assert r.json()["detail"] == (
            "the body is not valid JSON: Expecting ',' delimiter at line 1 column 13"
        )
    finally:
        client.post(f"/api/runs/{run['id']}/stop")


@pytest.mark.live
def test_a_body_that_is_not_json_is_told_so_in_chinese(client: httpx.Client) -> None:
    r = client.post("/api/runs", content=b"{", headers={"content-type": "application/json", **ZH})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("请求体不是有效的 JSON：")


# PATCH on an ended run.


@pytest.mark.live
def test_a_change_to_an_ended_run_says_it_has_ended(client: httpx.Client) -> None:
    run = start(client, **FAST)
    wait_for(client, run["id"], lambda r: r["status"] in ENDED, timeout=20)
    for change in ({"capacity": 3}, {"speed": 2}):
        r = client.patch(f"/api/runs/{run['id']}", json={"params": change})
        assert r.status_code == 409
        assert r.json()["detail"] == f"run {run['id']} has ended (finished); start a new one"
    zh = client.patch(f"/api/runs/{run['id']}", json={"params": {"capacity": 3}}, headers=ZH)
    assert zh.json()["detail"] == f"运行 {run['id']} 已经结束（状态：已结束）；请开始新的运行"


@pytest.mark.live
def test_a_change_that_cannot_be_live_on_a_running_run_keeps_its_message(
    client: httpx.Client,
) -> None:
    run = start(client, **ENDLESS)
    try:
        r = client.patch(f"/api/runs/{run['id']}", json={"params": {"capacity": 3}})
        assert r.status_code == 409
        assert "capacity cannot change while a run goes on" in r.json()["detail"]
    finally:
        client.post(f"/api/runs/{run['id']}/stop")


# An unknown page.


@pytest.mark.live
@pytest.mark.parametrize("path", ["/no-such-page", "/experiments/no-such-lesson"])
def test_a_browser_lost_gets_a_page_in_the_sites_layout(client: httpx.Client, path: str) -> None:
    r = client.get(path, headers=HTML)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert '<a class="brand" href="/">concviz</a>' in r.text  # the site's own layout
    assert "Page not found" in r.text
    assert f"There is no page at <code>{path}</code>." in r.text
    assert '<a href="/" id="to-index">Go to the experiments</a>' in r.text
    zh = client.get(path, headers={**HTML, **ZH})
    assert zh.status_code == 404
    assert '<html lang="zh-Hans">' in zh.text
    assert "找不到这个页面" in zh.text
    assert "Page not found" not in zh.text


@pytest.mark.live
def test_the_404_page_shows_the_path_as_text(client: httpx.Client) -> None:
    r = client.get("/x%3Cb%3Ey", headers=HTML)
    assert r.status_code == 404
    assert "There is no page at <code>/x&lt;b&gt;y</code>." in r.text


@pytest.mark.live
@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/api/no-such-thing", HTML),  # the JSON API answers JSON, whoever asks
        ("/api/runs/deadbeef", HTML),
        ("/no-such-page", {"accept": "application/json"}),
        ("/no-such-page", {}),
    ],
)
def test_the_api_and_non_browsers_keep_json_errors(
    client: httpx.Client, path: str, headers: dict[str, str]
) -> None:
    r = client.get(path, headers=headers)
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/json"
    assert r.json()["detail"]


@pytest.mark.browser
@pytest.mark.parametrize(
    ("locale", "heading"), [("en-US", "Page not found"), ("zh-CN", "找不到这个页面")]
)
def test_the_404_page_leads_back_to_the_lessons(
    browser: Any, live_server: LiveServer, locale: str, heading: str
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800}, locale=locale)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    response = page.goto(live_server.url + "/lessons/typo")
    assert response is not None
    assert response.status == 404
    assert page.locator("h1").inner_text() == heading
    page.screenshot(path=str(ARTIFACTS / f"not-found-{locale}.png"))
    page.click("#to-index")
    page.wait_for_url(live_server.url + "/")
    assert page.locator("a[href='/experiments/threads']").count() == 1
    assert errors == []
    page.close()
