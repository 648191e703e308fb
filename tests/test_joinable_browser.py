"""The termination lesson in a real browser: the hang banner, then the
unfinished-tasks counter of the JoinableQueue fix, both folded from the
traced program."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ARTIFACTS, LiveServer
from pages import set_slider

pytestmark = pytest.mark.browser


def start(page: Any, mode: str) -> None:
    before = page.locator("#runbar code").all_inner_texts()
    page.select_option("#f-mode", mode)
    page.click("button.start")
    page.wait_for_function(
        "old => { const c = document.querySelector('#runbar code');"
        " return c && !old.includes(c.textContent); }",
        arg=before,
    )
    page.wait_for_function(
        "m => document.querySelector('#jq-mode .jq-mode-name')?.textContent === m", arg=mode
    )


def status_is(page: Any, status: str) -> None:
    page.wait_for_function(
        "s => document.querySelector('#run-status')?.textContent.trim() === s",
        arg=status,
        timeout=20000,
    )


def test_switch_modes_see_the_hang_then_the_counter(browser: Any, live_server: LiveServer) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + "/experiments/joinable")
    set_slider(page, "speed", "20")
    page.fill("#f-hang_after_ms", "60000")  # main would give up after a minute: Stop first

    # naive: every consumer ends up waiting, and main's diagnosis appears.
    start(page, "naive")
    banner = page.locator("#diagnosis")
    banner.wait_for(timeout=20000)
    assert "Hang" in banner.inner_text()
    assert "main waits in join() of C1" in banner.inner_text()
    for name in ("C1", "C2"):
        assert page.locator(f"#w-{name} .doing").inner_text() == "waiting: queue empty"
    assert "join() of C1" in page.locator("#main-doing").inner_text()
    assert page.locator("#c-unfinished").inner_text() == "–"  # a plain Queue has none
    # The code view marks where the tracer says each one is.
    assert "C1" in page.locator("#code li.here").all_inner_texts()[-1] or any(
        "C1" in t for t in page.locator("#code li.here .ats").all_inner_texts()
    )
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "joinable-naive-hang.png"))
    page.click("button.stop")
    status_is(page, "stopped")

    # joinable: the counter rises, comes back to 0, and the daemons are stopped.
    # A slower run (about 2 s), so that the page sees it going even when the
    # machine is busy and the stream connects late.
    set_slider(page, "speed", "6")
    start(page, "joinable")
    page.wait_for_function(
        "() => Number(document.querySelector('#c-unfinished')?.textContent) > 0", timeout=20000
    )
    status_is(page, "finished")
    assert page.locator("#c-unfinished").inner_text() == "0"
    assert "jq-zero" in (page.locator("#c-unfinished-box").get_attribute("class") or "")
    assert page.locator("#diagnosis").count() == 0
    assert page.locator("#c-produced").inner_text() == page.locator("#c-consumed").inner_text()
    for name in ("C1", "C2"):
        assert "stopped: daemon, main finished" in page.locator(f"#w-{name} .doing").inner_text()
    assert "q.join()" in page.locator(".jq-step-done").all_inner_texts()
    assert "accounting:" in page.locator("#jq-console").inner_text()
    page.screenshot(path=str(ARTIFACTS / "joinable-joinable-finished.png"), full_page=True)
    assert errors == []
    page.close()
