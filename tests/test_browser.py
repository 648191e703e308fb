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
