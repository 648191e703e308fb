"""Classroom helpers in a real browser: projection mode, keyboard, pause."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from conftest import ARTIFACTS, LiveServer
from pages import set_slider, started_run, wait_for_run

pytestmark = pytest.mark.browser


def test_projection_mode_keyboard_and_pause(browser: Any, live_server: LiveServer) -> None:
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(live_server.url + "/experiments/producer-consumer?projector=1")
    assert "projector" in (page.get_attribute("html", "class") or "")
    page.keyboard.press("?")
    assert page.locator("#shortcuts").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("#shortcuts").is_visible()

    set_slider(page, "speed", "1")
    page.fill("#f-items_per_producer", "0")
    page.fill("#f-produce_min_ms", "200")
    page.fill("#f-produce_max_ms", "400")
    page.click("button.start")
    started_run(page)
    page.locator("#w-P1 .pid").wait_for()
    page.locator("body").click(position={"x": 5, "y": 200})  # focus off the form
    page.keyboard.press(" ")
    page.locator("#run-paused").wait_for(timeout=5000)
    page.screenshot(path=str(ARTIFACTS / "projection-1920-paused.png"))
    page.keyboard.press(" ")
    page.locator("#run-paused").wait_for(state="detached", timeout=5000)
    # A control reached with the keyboard takes its own keys: Space presses
    # a button, the arrows move a slider (and the live run with it).
    for _ in range(60):
        if page.evaluate("document.activeElement.id") == "step-on":
            break
        page.keyboard.press("Tab")
    page.keyboard.press(" ")
    page.locator("#stepper").wait_for(timeout=5000)
    assert page.locator("#run-paused").count() == 0
    # The keyboard's focus moves to the pair's other button, now shown.
    page.wait_for_function("document.activeElement.id === 'step-off'", timeout=5000)
    page.focus("#f-consumers")
    page.keyboard.press("ArrowRight")
    assert page.input_value("#f-consumers") == "3"
    run_id = page.evaluate("document.querySelector('#runbar code').textContent")
    for _ in range(50):
        run = httpx.get(f"{live_server.url}/api/runs/{run_id}").json()
        if run["params"]["consumers"] == 3:
            break
        page.wait_for_timeout(100)
    assert run["params"]["consumers"] == 3
    page.keyboard.press("p")
    assert "projector" not in (page.get_attribute("html", "class") or "")
    page.click("button.stop")
    page.wait_for_function(
        "() => document.querySelector('#run-status').textContent.trim() === 'stopped'"
    )
    page.close()


def test_the_audience_page_follows_the_presenter(browser: Any) -> None:
    server = LiveServer("--lan")
    try:
        token = server.presenter_token()
        teacher = browser.new_context().new_page()
        student = browser.new_context().new_page()
        student.goto(server.url + "/watch")
        assert "Waiting for the teacher" in student.inner_text("#follow")
        teacher.goto(f"{server.url}/experiments/producer-consumer?token={token}")
        student.wait_for_function(
            "() => document.querySelector('#follow h1')?.textContent === 'Producer / consumer'",
            timeout=10000,
        )
        assert student.locator("button.start").count() == 0  # read-only for students
        # The students' address and its QR code take a line over the
        # teacher's page, not the stage's room (a box beside it left the
        # stage 123 px wide, projected).
        teacher.set_viewport_size({"width": 1280, "height": 800})
        teacher.goto(f"{server.url}/experiments/producer-consumer?projector=1")
        assert teacher.locator(".audience-box code").inner_text().endswith("/watch")
        box, title, stage = teacher.evaluate(
            "['.audience-box', 'h1', '#stage'].map(s =>"
            " document.querySelector(s).getBoundingClientRect().toJSON())"
        )
        assert title["top"] >= box["bottom"]  # nothing beside it: the page under it
        assert stage["width"] > 700
        teacher.goto(f"{server.url}/experiments/producer-consumer?projector=0")
        # The settings they cannot change start folded: the stage comes first,
        # on a phone too; a student may still open them.
        assert student.locator("#settings-toggle").get_attribute("aria-expanded") == "false"
        assert not student.locator("#f-producers").is_visible()
        assert teacher.locator("#f-producers").is_visible()
        teacher.locator("#f-items_per_producer").fill("0")
        teacher.click("button.start")
        run_id = started_run(teacher)
        wait_for_run(student, run_id, timeout=10000)
        student.locator("#w-C1 .pid").wait_for(timeout=10000)
        # A student's keys change how they see it, not the run.
        speed = student.input_value("#f-speed")
        student.locator("body").click(position={"x": 5, "y": 300})
        student.keyboard.press("+")
        student.keyboard.press(" ")
        assert student.input_value("#f-speed") == speed
        assert student.locator("#run-paused").count() == 0
        student.keyboard.press("?")  # their help lists only the keys that are theirs
        assert student.locator("#shortcuts").is_visible()
        assert not student.get_by_text("start again").is_visible()
        assert student.get_by_text("full screen").is_visible()
        student.keyboard.press("Escape")
        # The teacher's live change shows in the students' settings too.
        set_slider(teacher, "producers", "3")
        student.wait_for_function(
            "() => document.querySelector('#f-producers').value === '3'"
            " && document.querySelector('#out-producers').textContent === '3'",
            timeout=10000,
        )
        student.screenshot(path=str(ARTIFACTS / "audience-following.png"))
        teacher.click("button.stop")
        student.wait_for_function(
            "() => document.querySelector('#run-status')?.textContent.trim() === 'stopped'",
            timeout=10000,
        )
        teacher.goto(f"{server.url}/experiments/lock")  # the presenter switches
        student.wait_for_function(
            "() => document.querySelector('#follow h1')?.textContent === 'The lock race'",
            timeout=10000,
        )
        # The experiment's own stylesheet comes along with it.
        assert student.locator('link[href="/static/experiments/lock.css"]').count() == 1
        assert student.locator("#lk-repeat-20, button.start").count() == 0
        assert not student.locator("#f-threads").is_visible()  # folded, page after page
        student.click("#settings-toggle")
        assert student.locator("#f-threads").is_visible()
    finally:
        server.stop()


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_projection_mode_screenshot_in_each_language(
    browser: Any, live_server: LiveServer, locale: str
) -> None:
    context = browser.new_context(locale=locale, viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    page.goto(live_server.url + "/experiments/producer-consumer?projector=1")
    for name in ("speed", "producers", "consumers"):  # the form starts from the last run's
        set_slider(page, name, "1" if name == "speed" else "2")
    page.fill("#f-items_per_producer", "0")
    page.fill("#f-produce_min_ms", "100")
    page.fill("#f-produce_max_ms", "300")
    page.fill("#f-consume_min_ms", "300")
    page.fill("#f-consume_max_ms", "900")
    page.click("button.start")
    page.locator("#w-C2 .pid").wait_for(timeout=10000)
    page.wait_for_function("() => document.querySelectorAll('#queue .chip').length >= 2")
    start = "开始" if locale.startswith("zh") else "Start"
    assert page.locator("button.start").inner_text() == start
    page.screenshot(path=str(ARTIFACTS / f"projection-1920-{locale}.png"))
    page.click("button.stop")
    context.close()
