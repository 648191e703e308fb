"""The lock race's page in a real browser (the system Chromium), at a
projector's 1280x800: the lock's owner and line, the code view where the
tracer saw each worker, the result, and the same in Chinese."""

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
    page = browser.new_page(viewport={"width": 1280, "height": 800})
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
    first_owner, card_class, pid_text, first_line, at_with = page.evaluate(
        "() => { const name = document.querySelector('#lk-owner .owner').textContent.trim();"
        " const card = document.getElementById('lk-w-' + name);"
        " const withs = [...document.querySelectorAll('#code li')]"
        "   .filter(li => li.querySelector('code').textContent.includes('with lock if'));"
        " return [name, card.className, card.querySelector('.pid').textContent,"
        "   document.querySelector('#lk-line').innerText,"
        "   [...withs[0].querySelectorAll('.at')].map(a => a.textContent)]; }"
    )
    assert re.fullmatch(r"T[1-5]", first_owner)
    assert "is-owner" in card_class
    assert first_owner not in first_line
    match = re.search(r"pid (\d+)", pid_text)
    assert match is not None
    assert psutil.pid_exists(int(match.group(1)))
    # The code view: the waiters are where the tracer saw them, at the
    # `with` of the threads' function (shown four at most, then "+n more").
    assert at_with
    assert set(at_with[:2]) <= set(first_line.split())
    page.screenshot(path=str(ARTIFACTS / "lock-browser-owner.png"))

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
    # The form says what runs.
    assert page.input_value("#f-repeats") == "20"
    assert page.inner_text("#out-speed") == "20"
    page.wait_for_function(STATUS_IS, arg="finished", timeout=30000)
    assert page.locator("#lk-round").inner_text().replace(" ", "") == "20/20"
    expected_bar = page.locator("#lk-histogram .bar.expected")
    assert expected_bar.get_attribute("id") == "lk-bar-5"
    assert expected_bar.locator(".count").text_content() == "20"
    assert page.locator("#lk-histogram .bar.lost .count").count() == 0
    page.screenshot(path=str(ARTIFACTS / "lock-browser-repeat-20.png"), full_page=True)
    assert errors == []
    page.close()


def test_the_race_without_the_lock_in_chinese(browser: Any, live_server: LiveServer) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + "/experiments/lock")
    set_slider(page, "threads", "6")
    page.fill("#f-initial", "10")
    page.fill("#f-hold_ms", "2000")
    page.select_option("#f-use_lock", "False")
    page.select_option("#f-backend", "process")
    page.fill("#f-repeats", "1")
    set_slider(page, "speed", "2")
    shown = page.evaluate("() => document.querySelector('#runbar code')?.textContent ?? ''")
    page.click("button.start")
    page.wait_for_function(  # the form says so in Chinese: wait for the new run's stage
        "old => { const id = document.querySelector('#runbar code')?.textContent;"
        " return Boolean(id) && id !== old; }",
        arg=shown,
    )

    # Every worker is between its read and its write at once: nobody waits.
    page.wait_for_function(
        "() => Number(document.querySelector('#lk-inside')?.textContent) >= 2", timeout=10000
    )
    assert "读取 a = 10" in page.locator("#log").inner_text()
    pids = {page.locator(f"#lk-w-P{i} .pid").inner_text() for i in range(1, 7)}
    assert len(pids) == 6  # a process each
    page.screenshot(path=str(ARTIFACTS / "lock-browser-zh-running.png"))
    page.wait_for_function(STATUS_IS, arg="已结束", timeout=20000)
    lost = page.locator("#lk-lost").inner_text().strip()
    assert lost.startswith("✗")
    actual = int(page.locator("#lk-actual").inner_text())
    assert lost == f"✗ {actual - 4}"
    assert "丢失的更新" in page.locator("#lk-result").inner_text()
    page.screenshot(path=str(ARTIFACTS / "lock-browser-zh-ended.png"))
    assert errors == []
    context.close()
