"""The page in a real browser (the system Chromium, driven by Playwright)."""

from __future__ import annotations

import re
from typing import Any

import psutil
import pytest
from conftest import ARTIFACTS, LiveServer
from pages import set_slider, started_run, wait_for_run

pytestmark = pytest.mark.browser


def set_field(page: Any, name: str, value: str) -> None:
    page.fill(f"#f-{name}", value)


def test_start_watch_change_live_and_finish(browser: Any, live_server: LiveServer) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    page.goto(live_server.url + "/experiments/producer-consumer")
    set_slider(page, "capacity", "3")
    set_slider(page, "producers", "2")
    set_slider(page, "consumers", "1")
    set_slider(page, "speed", "1")  # the form starts from the last run's values
    set_field(page, "items_per_producer", "12")
    set_field(page, "produce_min_ms", "0")
    set_field(page, "produce_max_ms", "150")
    set_field(page, "consume_min_ms", "150")
    set_field(page, "consume_max_ms", "300")
    page.click("button.start")
    run_id = started_run(page)
    wait_for_run(page, run_id)

    # Cards with real pids (C1's: it lives until the end of the run).
    pid_text = page.locator("#w-C1 .pid").inner_text(timeout=5000)
    pid = int(re.sub(r"\D", "", pid_text))
    assert psutil.pid_exists(pid)

    # Items enter the queue, and leave it again.
    first = page.locator("#queue .chip").first
    first.wait_for(timeout=5000)
    chip_id = first.get_attribute("id")
    page.wait_for_selector(f"#{chip_id}", state="detached", timeout=10000)
    page.wait_for_function(
        "() => Number(document.querySelector('#c-consumed').textContent) > 0", timeout=10000
    )

    # A live change: a third producer joins with a pid of its own.
    set_slider(page, "producers", "3")
    p3 = page.locator("#w-P3 .pid")
    p3.wait_for(timeout=5000)
    page.wait_for_function(
        "() => /pid [1-9]/.test(document.querySelector('#w-P3 .pid').textContent)", timeout=5000
    )
    page.screenshot(path=str(ARTIFACTS / "producer-consumer-running.png"), full_page=True)

    # The run finishes on its own; every item was consumed.
    page.wait_for_function(
        "() => document.querySelector('#run-status').textContent.trim() === 'finished'",
        timeout=60000,
    )
    produced = page.locator("#c-produced").inner_text()
    assert produced == page.locator("#c-consumed").inner_text()
    assert int(produced) >= 24
    assert "finished" in page.locator("#w-C1 .doing").inner_text()
    page.screenshot(path=str(ARTIFACTS / "producer-consumer-finished.png"), full_page=True)
    assert errors == []
    assert page.evaluate("window.__csp") == []  # the whole run, under the strict policy
    page.close()


def started_from_form(
    browser: Any, server: LiveServer, sliders: dict[str, str], fields: dict[str, str]
) -> Any:
    """A producer/consumer page at 1280x720 whose form started a run with
    these values; it shows the run."""
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(server.url + "/experiments/producer-consumer")
    for name, value in sliders.items():
        set_slider(page, name, value)
    for name, value in fields.items():
        set_field(page, name, value)
    page.click("button.start")
    wait_for_run(page, started_run(page))
    return page


def test_at_full_speed_the_queue_shows_its_items_solid_and_never_past_its_capacity(
    browser: Any, live_server: LiveServer
) -> None:
    times = ("produce_min_ms", "produce_max_ms", "consume_min_ms", "consume_max_ms")
    page = started_from_form(
        browser,
        live_server,
        {"capacity": "5", "producers": "3", "consumers": "3"},
        {"items_per_producer": "0", **dict.fromkeys(times, "0")},  # endless, at full speed
    )
    page.wait_for_selector("#queue-area.brisk #queue .chip", timeout=10000)
    # A second of frames, looked at every 20 ms.
    seen = page.evaluate(
        """() => new Promise(done => {
            const seen = {chips: 0, inQueue: 0, solid: 0, fading: 0};
            const look = () => {
                const chips = [...document.querySelectorAll('#queue .chip')];
                seen.chips = Math.max(seen.chips, chips.length);
                const n = Number(document.querySelector('#c-in-queue').textContent);
                seen.inQueue = Math.max(seen.inQueue, n);
                for (const c of chips) {
                    const style = getComputedStyle(c);
                    if (style.animationName === 'none' && style.opacity === '1') seen.solid++;
                    else seen.fading++;
                }
            };
            const timer = setInterval(look, 20);
            setTimeout(() => { clearInterval(timer); done(seen); }, 1000);
        })"""
    )
    page.screenshot(path=str(ARTIFACTS / "producer-consumer-full-speed.png"))
    page.click("button.stop")
    page.wait_for_function(
        "() => document.querySelector('#run-status').textContent.trim() === 'stopped'",
        timeout=10000,
    )
    page.close()
    assert 0 < seen["chips"] <= 5, seen
    assert seen["inQueue"] <= 5, seen
    assert seen["solid"] > 0, seen
    assert seen["fading"] == 0, seen


def test_workers_waiting_on_a_long_line_of_the_program_stay_in_view(
    browser: Any, live_server: LiveServer
) -> None:
    page = started_from_form(
        browser,
        live_server,
        {"capacity": "2", "producers": "9", "consumers": "1"},
        {
            "items_per_producer": "0",
            "produce_min_ms": "0",
            "produce_max_ms": "0",
            "consume_min_ms": "5000",
            "consume_max_ms": "5000",
        },
    )
    # The queue fills at once; the producers wait at its put, a line with a
    # long comment.
    page.wait_for_function(
        "() => Number(document.querySelector('#c-blocked').textContent) === 9", timeout=10000
    )
    page.wait_for_selector("#code li.here .at.more", timeout=5000)
    seen = page.evaluate(
        """() => {
            const box = document.querySelector('#code .code').getBoundingClientRect();
            const line = document.querySelector('#code li.here .at.more').closest('li');
            const names = [...line.querySelectorAll('.at')];
            return {
                shown: names.map(a => a.textContent),
                outside: names.filter(a => a.getBoundingClientRect().right > box.right).length,
                rest: line.querySelector('.at.more').title,
            };
        }"""
    )
    page.locator("#code").screenshot(path=str(ARTIFACTS / "producer-consumer-code-crowded.png"))
    page.click("button.stop")
    page.close()
    assert len(seen["shown"]) == 5, seen  # four names and a count of the rest
    assert seen["shown"][-1] == "+5 more", seen
    assert len(seen["rest"].split()) == 5, seen
    assert seen["outside"] == 0, seen


def test_bad_value_in_form_shows_message_next_to_control(
    browser: Any, live_server: LiveServer
) -> None:
    page = browser.new_page()
    page.goto(live_server.url + "/experiments/producer-consumer")
    set_field(page, "items_per_producer", "5000")
    page.click("button.start")
    err = page.locator("#err-items_per_producer")
    err.wait_for(state="visible", timeout=5000)
    assert "from 0 to 1000" in err.inner_text()
    assert "Not started" in page.locator("#form-message").inner_text()
    page.close()


def test_an_items_journey_comes_into_view_and_follows_the_item(
    browser: Any, live_server: LiveServer
) -> None:
    """Clicked while it waits in the queue: the card is drawn under the
    stage, and says, as they happen, who takes the item and when it is done."""
    page = started_from_form(
        browser,
        live_server,
        {"capacity": "3", "producers": "1", "consumers": "1", "speed": "1"},
        {
            "items_per_producer": "4",
            "produce_min_ms": "0",
            "produce_max_ms": "0",
            "consume_min_ms": "600",
            "consume_max_ms": "600",
        },
    )
    try:
        waiting = page.locator("#queue .chip").nth(1)  # the one after the head: it waits
        waiting.wait_for(timeout=10000)
        waiting.click()
        card = page.locator("#journey .journey-card")
        card.wait_for(timeout=5000)
        assert "still in the queue" in card.inner_text()
        page.wait_for_function(
            "() => { const r = document.querySelector('#journey').getBoundingClientRect();"
            " return r.top >= 0 && r.bottom <= innerHeight; }",
            timeout=3000,
        )
        page.wait_for_function(
            "() => /is done with it/.test(document.querySelector('#journey').textContent)",
            timeout=10000,
        )
        assert "still in the queue" not in card.inner_text()
    finally:
        page.close()
