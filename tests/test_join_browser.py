"""The presenter's join panel in a real browser (the system Chromium): a
broker run's page shows the one-line command once the run starts, Revoke
closes joining and Open makes a new command; in English and in Chinese."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import LiveServer
from pages import set_fields

pytestmark = pytest.mark.browser

PARAMS = {"items_per_producer": 0, "produce_min_ms": 0, "produce_max_ms": 100, "speed": 20}
WORDS = {
    "en": ("Join from another machine", "Revoke", "Joining is closed"),
    "zh": ("从另一台机器加入", "撤销", "加入已关闭"),
}


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_the_presenter_sees_the_join_command_and_revokes_it(
    browser: Any, live_server: LiveServer, locale: str
) -> None:
    heading, revoke, closed = WORDS[locale[:2]]
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    try:
        page.goto(live_server.url + "/experiments/broker")
        set_fields(page, PARAMS)
        page.click("button.start")
        page.wait_for_selector("#runbar.status-running", timeout=20000)
        run_id = page.locator("#runbar code").inner_text()
        page.wait_for_selector("#join-command", timeout=20000)
        command = page.locator("#join-command").inner_text()
        assert command.startswith(
            f"concviz worker --join http://127.0.0.1:{live_server.port}/join/{run_id}/"
        )
        assert heading in page.locator("#join-panel").inner_text()
        assert page.locator("#join-revoke").inner_text() == revoke
        page.locator("#join-revoke").click()
        page.wait_for_selector("#join-open")
        assert closed in page.locator("#join-panel").inner_text()
        page.locator("#join-open").click()
        page.wait_for_selector("#join-command")
        again = page.locator("#join-command").inner_text()
        assert again != command
        assert again.startswith(
            f"concviz worker --join http://127.0.0.1:{live_server.port}/join/{run_id}/"
        )
        page.click("button.stop")
        assert errors == []
    finally:
        context.close()
