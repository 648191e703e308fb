"""The lock race's page in a real browser (the system Chromium)."""

from __future__ import annotations

import re
from typing import Any

import psutil
import pytest
from conftest import ARTIFACTS, LiveServer
from pages import set_slider, started_run, wait_for_run

pytestmark = pytest.mark.browser

STATUS_IS = "s => document.querySelector('#run-status')?.textContent.trim() === s"


def test_lock_owner_and_waiting_line_change_during_a_run(
    browser: Any, live_server: LiveServer
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + "/experiments/lock")
    # Every field: the form starts from the last run's values.
    set_slider(page, "threads", "5")
    page.fill("#f-initial", "10")
    page.fill("#f-hold_ms", "400")
    page.select_option("#f-use_lock", "True")
    page.select_option("#f-backend", "thread")
    page.fill("#f-repeats", "1")
    set_slider(page, "speed", "1")
    page.click("button.start")
    run_id = started_run(page)
    wait_for_run(page, run_id)

    # An owner, and the others waiting in line in the order they asked.
    owner = page.locator("#lk-owner .owner")
    owner.wait_for(timeout=10000)
    page.wait_for_function("() => document.querySelectorAll('#lk-line li').length >= 2")
    # Read in one go (one task of the page), so that no frame comes between.
    first_owner, card_class, pid_text, first_line = page.evaluate(
        "() => { const name = document.querySelector('#lk-owner .owner').textContent.trim();"
        " const card = document.getElementById('lk-w-' + name);"
        " return [name, card.className, card.querySelector('.pid').textContent,"
        "   document.querySelector('#lk-line').innerText]; }"
    )
    assert re.fullmatch(r"T[1-5]", first_owner)
    assert "is-owner" in card_class
    assert first_owner not in first_line
    match = re.search(r"pid (\d+)", pid_text)
    assert match is not None
    assert psutil.pid_exists(int(match.group(1)))
    page.screenshot(path=str(ARTIFACTS / "lock-browser-owner.png"), full_page=True)

    # The lock is handed over: a new owner, a shorter line.
    try:
        page.wait_for_function(
            "([o, l]) => {"
            " const now = document.querySelector('#lk-owner .owner');"
            " return now && now.textContent.trim() !== o"
            "   && document.querySelector('#lk-line').innerText !== l; }",
            arg=[first_owner, first_line],
            timeout=10000,
        )
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "lock-browser-no-hand-over.png"), full_page=True)
        raise
    page.wait_for_function(STATUS_IS, arg="finished", timeout=20000)
    assert page.locator("#lk-lost").inner_text().strip() == "✓ 0"
    assert page.locator("#lk-actual").inner_text().strip() == "5"
    assert page.locator("#lk-free").is_visible()

    # Repeat 20 times, fast: every round ends at the expected value.
    set_slider(page, "speed", "20")
    page.fill("#f-hold_ms", "100")
    page.click("#lk-repeat-20")
    page.wait_for_function(
        "old => { const c = document.querySelector('#runbar code');"
        " return c && c.textContent !== old; }",
        arg=run_id,
    )
    page.wait_for_function(STATUS_IS, arg="finished", timeout=30000)
    assert page.locator("#lk-round").inner_text().replace(" ", "") == "20/20"
    expected_bar = page.locator("#lk-histogram .bar.expected")
    assert expected_bar.get_attribute("id") == "lk-bar-5"
    assert expected_bar.locator(".count").text_content() == "20"
    assert page.locator("#lk-histogram .bar.lost .count").count() == 0
    page.screenshot(path=str(ARTIFACTS / "lock-browser-repeat-20.png"), full_page=True)
    assert errors == []
    page.close()
