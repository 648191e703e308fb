"""The programs page as a class sees it, measured by axe-core (a tool
nobody here wrote) in the system Chromium, in both languages and in
projection mode: empty, with a stuck program on the stage, the audience
following it, and its replay. And on a projector's 1280x800: Run in view,
nothing on the stage cut at its right edge."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import ARTIFACTS, LiveServer
from probes import ENDED, wait_for

from app.programs import gallery

pytestmark = pytest.mark.browser

LOCALES = ["en-US", "zh-CN"]
MODES = ["0", "1"]  # ?projector=
SHOWS_RUN = "id => document.querySelector('#runbar code')?.textContent === id"
STUCK = "() => document.querySelector('#pg-diagnosis') !== null"
# Boxes of the stage that must show all they hold across (the code and the
# console scroll down by design, never sideways).
CLIPPED = """() => [...document.querySelectorAll(
    '#stage .pg-proc, #stage .pg-thread, #stage .pg-obj, #stage .pg-diagnosis, #pg-console li')]
  .filter(el => el.scrollWidth > el.clientWidth + 1
      || el.getBoundingClientRect().right > document.documentElement.clientWidth)
  .map(el => el.id || el.className)"""


def pages(browser: Any) -> Iterator[tuple[str, str, Any]]:
    for locale in LOCALES:
        for mode in MODES:
            context = browser.new_context(
                locale=locale, viewport={"width": 1280, "height": 800}, reduced_motion="reduce"
            )
            try:
                yield locale, mode, context
            finally:
                context.close()


def test_the_programs_pages_pass_axe_and_fit_a_projector(
    browser: Any, live_server: LiveServer, client: httpx.Client
) -> None:
    server = live_server
    ex = gallery.find("deadlock")
    assert ex is not None
    r = client.post(
        "/api/programs", json={"source": ex.source(), "args": ["0.5"], "filename": ex.filename}
    )
    assert r.status_code == 201, r.text
    run_id = r.json()["id"]
    wait_for(client, run_id, lambda run: bool(run["diagnosis"]), 15)
    axe = Axe()
    found: list[str] = []
    shots = 0
    # The audience's page, going, and the replay are the same stage: each in
    # one half of the languages and modes (each language and mode once).
    for i, (locale, mode, context) in enumerate(pages(browser)):
        for path, ready, arg in (
            ("/programs?example=queue_calls", "() => true", None),
            (f"/programs?run={run_id}", STUCK, None),
            *([("/watch", SHOWS_RUN, run_id)] if i in (0, 3) else []),
        ):
            page = context.new_page()
            page.goto(f"{server.url}{path}{'&' if '?' in path else '?'}projector={mode}")
            page.wait_for_function(ready, arg=arg, timeout=15000)
            for v in axe.run(page).response["violations"]:
                for node in v["nodes"]:
                    found.append(f"{path} [{locale}, p={mode}] {v['id']}: {node['target']}")
            if path.startswith("/programs"):
                run_button = page.locator("#pg-run").bounding_box()
                assert run_button is not None
                assert run_button["y"] + run_button["height"] <= 800, (path, locale, mode)
                assert page.evaluate(CLIPPED) == [], (path, locale, mode)
            if "run=" in path:
                page.screenshot(path=str(ARTIFACTS / f"programs-stuck-{locale}-p{mode}.png"))
                shots += 1
            page.close()
    client.post(f"/api/runs/{run_id}/stop")
    wait_for(client, run_id, lambda run: run["status"] in ENDED, 20)
    for i, (locale, mode, context) in enumerate(pages(browser)):
        if i in (0, 3):
            continue
        page = context.new_page()
        page.goto(f"{server.url}/runs/{run_id}?projector={mode}")
        page.wait_for_selector("#stage")
        for v in axe.run(page).response["violations"]:
            targets = [n["target"] for n in v["nodes"]]
            found.append(f"replay [{locale}, p={mode}] {v['id']}: {targets}")
        page.close()
    assert found == [], "\n".join(found)
    assert shots == 4
