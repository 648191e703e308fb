"""A live stage patched frame after frame (app/web/patches.py, static/app.js)
in the system Chromium: it ends as the whole stage would be, and what the
patches brought in still works."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from conftest import LiveServer
from pages import wait_for_run

pytestmark = pytest.mark.browser

# Busy enough that the queue's items come and go between frames.
PARAMS = {
    "producers": 3,
    "consumers": 2,
    "capacity": 6,
    "items_per_producer": 0,
    "produce_min_ms": 20,
    "produce_max_ms": 120,
    "consume_min_ms": 40,
    "consume_max_ms": 200,
}

# Who is on the page's stage, and what each says: every element's tag, id
# and classes (but htmx's own, which come and go), and every text.
STAGE = """() => {
  const stage = document.querySelector('#stage');
  const els = [...stage.querySelectorAll('*')].map(e => [e.tagName, e.id,
    [...e.classList].filter(c => !c.startsWith('htmx-')).join(' ')].join('|'));
  return {text: stage.textContent, els};
}"""

# Counts the stream's messages: the patches (only partials) and the wholes.
COUNT = """
window.__msgs = {patch: 0, whole: 0};
document.addEventListener('htmx:sse:after:message', (e) => {
  const data = e.detail.message.data || '';
  if (e.target.id !== 'stage' || !data) return;
  window.__msgs[data.startsWith('<hx-partial') ? 'patch' : 'whole'] += 1;
});
"""


def open_page(browser: Any, url: str) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.errors = []
    page.encodings = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on(
        "response",
        lambda r: "/stream" in r.url and page.encodings.append(r.headers.get("content-encoding")),
    )
    page.add_init_script(COUNT)
    page.goto(url)
    return page


def test_a_patched_stage_is_the_fresh_pages_stage_and_its_buttons_work(
    browser: Any, live_server: LiveServer
) -> None:
    with httpx.Client(base_url=live_server.url, timeout=20) as api:
        run_id = api.post(
            "/api/runs", json={"experiment": "producer-consumer", "params": PARAMS}
        ).json()["id"]
        try:
            watcher = open_page(browser, live_server.url + "/experiments/producer-consumer")
            wait_for_run(watcher, run_id, timeout=10000)
            # The page's own nodes stay (a card's state changes on the card
            # itself, so its CSS transitions run), and so does the focus.
            watcher.wait_for_selector("#w-C1", timeout=10000)
            watcher.evaluate(
                "() => { window.__card = document.querySelector('#w-C1');"
                " document.querySelector('#log ol').focus(); }"
            )
            # Many frames, each a patch of the one before (a few may be
            # skipped: a patch then brings every change since).
            watcher.wait_for_function("() => window.__msgs.patch >= 30", timeout=30000)
            assert watcher.evaluate(
                "() => window.__card === document.querySelector('#w-C1')"
                " && document.activeElement === document.querySelector('#log ol')"
            )
            # A chip the patches put in the queue, seen before the pause.
            watcher.wait_for_selector("#queue .chip[hx-get]", timeout=10000)
            assert api.post(f"/api/runs/{run_id}/pause").json()["paused"] is True
            watcher.wait_for_selector("#run-paused", timeout=10000)
            msgs = watcher.evaluate("window.__msgs")
            assert msgs["whole"] == 1, msgs  # the first message only
            assert watcher.encodings[0] == "deflate"

            fresh = open_page(browser, live_server.url + "/experiments/producer-consumer")
            wait_for_run(fresh, run_id, timeout=10000)
            fresh.wait_for_function("() => window.__msgs.whole >= 1", timeout=10000)
            fresh.wait_for_selector("#run-paused", timeout=10000)
            assert watcher.evaluate(STAGE) == fresh.evaluate(STAGE)

            # A button the patches brought in: its item's journey opens.
            chip = watcher.locator("#queue .chip[hx-get]").last
            item = chip.inner_text()
            chip.click()
            watcher.wait_for_function(
                "() => document.querySelector('#journey').textContent.trim() !== ''",
                timeout=10000,
            )
            assert item.split()[0] in watcher.locator("#journey").inner_text()
            assert watcher.errors == []
            assert fresh.errors == []
            watcher.close()
            fresh.close()
        finally:
            api.post(f"/api/runs/{run_id}/stop")


def test_a_page_whose_stage_was_changed_otherwise_gets_the_whole_stage_again(
    browser: Any, live_server: LiveServer
) -> None:
    """A patch whose target is not in the page is not applied: the stream
    is opened again, and its first message is the whole stage."""
    with httpx.Client(base_url=live_server.url, timeout=20) as api:
        run_id = api.post(
            "/api/runs", json={"experiment": "producer-consumer", "params": PARAMS}
        ).json()["id"]
        try:
            page = open_page(browser, live_server.url + "/experiments/producer-consumer")
            wait_for_run(page, run_id, timeout=10000)
            page.wait_for_function("() => window.__msgs.patch >= 5", timeout=30000)
            assert page.evaluate("window.__msgs.whole") == 1
            # The counters change with nearly every frame: the next patches
            # look for them.
            page.evaluate("document.querySelector('#counters').remove()")
            page.wait_for_function("() => window.__msgs.whole >= 2", timeout=15000)
            page.wait_for_selector("#counters #c-produced", timeout=5000)
            assert len(page.encodings) >= 2  # the stream was opened again
            assert page.errors == []
            page.close()
        finally:
            api.post(f"/api/runs/{run_id}/stop")
