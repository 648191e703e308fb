"""Runs left behind, in a real browser: a refused Start offers, right under
Start, to stop the runs that hold the limit; a lesson page and the runs page
list the runs still going, kept up to date, each with a Stop that works."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import ARTIFACTS, LiveServer, tidy_client
from pages import started_run
from probes import start, wait_for

pytestmark = pytest.mark.browser

ENDLESS: dict[str, Any] = {
    "items_per_producer": 0,
    "produce_min_ms": 100,
    "produce_max_ms": 200,
    "speed": 1,
}
ENDED = ("finished", "stopped", "failed")
ACCEPT = {"en": "en", "zh": "zh-CN,zh;q=0.9"}


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    s = LiveServer(env={"CONCVIZ_MAX_RUNS": "2"})
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with tidy_client(server, 20) as c:
        yield c


def open_page(browser: Any, url: str, lang: str = "en") -> tuple[Any, list[str]]:
    context = browser.new_context(
        viewport={"width": 1280, "height": 800},
        extra_http_headers={"accept-language": ACCEPT[lang]},
    )
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and "429" not in m.text  # the refused start itself
            else None
        ),
    )
    page.goto(url)
    return page, problems


def status(api: httpx.Client, run_id: str) -> str:
    answer: str = api.get(f"/api/runs/{run_id}").json()["status"]
    return answer


@pytest.mark.parametrize(("lang", "projector"), [("en", False), ("zh", True)])
def test_a_refused_start_offers_right_under_start_to_stop_the_runs_holding_it(
    browser: Any, server: LiveServer, api: httpx.Client, lang: str, projector: bool
) -> None:
    a, b = start(api, **ENDLESS), start(api, **ENDLESS)
    query = "?projector=1" if projector else "?projector=0"
    page, problems = open_page(browser, f"{server.url}/experiments/producer-consumer{query}", lang)
    page.click("button.start")
    offer = page.locator("#start-offer")
    page.wait_for_selector(f"#holder-{a['id']} .stop-run")
    page.wait_for_selector(f"#holder-{b['id']} .stop-run")
    said = offer.inner_text()
    assert ("At most 2 runs" if lang == "en" else "最多只能同时进行 2 个运行") in said
    assert ("Producer / consumer" if lang == "en" else "生产者 / 消费者") in said

    # Right under Start, and on the screen whole, where the teacher looks.
    button = page.locator("button.start").bounding_box()
    box = offer.bounding_box()
    assert 0 <= box["y"] - (button["y"] + button["height"]) <= 80, (button, box)
    assert box["y"] >= 0
    assert box["y"] + box["height"] <= 800, box
    shot = f"runs-left-offer-{lang}{'-projector' if projector else ''}.png"
    page.screenshot(path=str(ARTIFACTS / shot))

    # Its Stop ends that run for real; then Start starts.
    page.click(f"#holder-{a['id']} .stop-run")
    page.wait_for_selector(f"#holder-{a['id']}.ended")
    assert status(api, a["id"]) == "stopped"
    page.click("button.start")
    new = started_run(page) if lang == "en" else wait_for_new_run(api, {a["id"], b["id"]})
    page.wait_for_selector("#start-offer li", state="detached")
    # The lesson lists both runs still going, each with a Stop.
    for run_id in (b["id"], new):
        page.wait_for_selector(f"#going-{run_id} .stop-run")
    assert page.locator("#lesson-runs li").count() == 2
    page.locator("#lesson-runs").screenshot(path=str(ARTIFACTS / f"runs-left-going-{lang}.png"))
    page.click(f"#going-{b['id']} .stop-run")
    page.wait_for_selector(f"#going-{b['id']}.ended")
    assert status(api, b["id"]) == "stopped"
    # The list keeps itself up to date: the stopped run leaves it.
    page.wait_for_selector(f"#going-{b['id']}", state="detached")
    assert problems == []
    page.context.close()


def wait_for_new_run(api: httpx.Client, old: set[str]) -> str:
    """The id of the run going that is none of `old`."""
    deadline = time.monotonic() + 10
    while True:
        runs = api.get("/api/runs").json()
        new = [r["id"] for r in runs if r["id"] not in old and r["status"] not in ENDED]
        if new:
            found: str = new[0]
            return found
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_the_runs_page_keeps_a_run_going_up_to_date_and_stops_it(
    browser: Any, server: LiveServer, api: httpx.Client
) -> None:
    run = start(api, **ENDLESS)
    wait_for(api, run["id"], lambda r: r["events"] > 5)
    page, problems = open_page(browser, f"{server.url}/runs")
    row = f"#rec-{run['id']}"
    events_cell = f"{row} td:nth-child(6)"
    first = int(page.locator(events_cell).inner_text())
    assert first > 5
    assert page.locator(f"{row} td:nth-child(4)").inner_text() != "0.0 s"
    page.screenshot(path=str(ARTIFACTS / "runs-left-runs-page.png"))
    # Its row asks for itself again: the events go up without a reload.
    page.wait_for_function(
        "([sel, n]) => Number(document.querySelector(sel).textContent) > n",
        arg=[events_cell, first],
    )
    page.click(f"{row} .stop-run")
    # Ended: its replay link and its rename form come in place of the Stop.
    page.wait_for_selector(f"{row} a[href='/runs/{run['id']}']")
    assert page.locator(f"{row} .stop-run").count() == 0
    assert status(api, run["id"]) == "stopped"
    assert "stopped by the teacher" in page.locator(f"{row} td:nth-child(5)").inner_text()
    assert problems == []
    page.context.close()


def test_the_run_on_the_stage_leaves_the_still_going_list_when_it_ends(
    browser: Any, server: LiveServer, api: httpx.Client
) -> None:
    # Another run of the lesson going: the list is there (alone, the run on
    # the stage is not listed: the stage says it all).
    other = start(api, "threads", step_ms=10_000, pause_ms=0)["id"]
    page, problems = open_page(browser, f"{server.url}/experiments/threads")
    page.fill("#f-step_ms", "300")
    page.fill("#f-pause_ms", "0")
    page.click("button.start")
    run_id = started_run(page)
    page.wait_for_selector(f"#going-{run_id}")  # listed while it goes
    wait_for(api, run_id, lambda r: r["status"] in ENDED, 30)
    # Its stream closes at the end, and the list asks again at once, not at
    # its next round (every 3 s).
    page.wait_for_selector(f"#going-{run_id}", state="detached", timeout=1000)
    assert page.locator(f"#going-{other}").is_visible()
    api.post(f"/api/runs/{other}/stop")
    assert problems == []
    page.close()
