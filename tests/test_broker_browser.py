"""The broker lesson in a real browser (the system Chromium), at a
projector's 1280x800, in English and in Chinese: the presenter kills a
consumer mid-item with its Kill button, the class sees its entry left
pending at a dead consumer, then claimed by another, and no item lost."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ARTIFACTS, LiveServer
from pages import set_fields

pytestmark = pytest.mark.browser

# Each item takes 800 ms of work, so that the claimed entry is pending at
# its new consumer long enough for a loaded machine's page to draw it (at
# 300 ms a frame could miss it); an entry is claimed after four seconds, so
# that a live consumer still acknowledges each of its items long before:
# only the killed consumer's entry is claimed.
PARAMS = {
    "producers": 2,
    "consumers": 2,
    "items_per_producer": 3,
    "produce_min_ms": 0,
    "produce_max_ms": 20,
    "consume_min_ms": 8000,
    "consume_max_ms": 8000,
    "claim_idle_ms": 4000,
    "speed": 10,
}
ENDED = "() => document.querySelector('#runbar')?.className.includes('status-finished')"
# The presenter pauses the run the moment the stage shows an entry claimed
# from another consumer (its work takes 800 ms), for the class to look: a
# watch on the page's changes, set before the kill.
# It also keeps every entry the stage showed pending at a dead consumer:
# what the killed consumer did just before its kill may reach the stage
# after it (an acknowledgement, its next entry), and then the entry shown
# held at its death changes.
PAUSE_ON_CLAIM = """() => {
  window.deadSeen = [];
  new MutationObserver((_, watch) => {
    for (const dead of document.querySelectorAll('.bk-chip.pending.dead')) {
      const entry = dead.innerText.split('→')[0].trim();
      if (!window.deadSeen.includes(entry)) window.deadSeen.push(entry);
    }
    const chip = document.querySelector('.bk-chip.pending.claimed');
    if (!chip) return;
    watch.disconnect();
    window.claimedSeen = chip.innerText;
    document.getElementById('pause-button').click();
  }).observe(document.body, {subtree: true, childList: true, attributes: true,
                             characterData: true});
}"""


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_the_kill_button_leaves_an_entry_pending_until_another_consumer_claims_it(
    browser: Any, live_server: LiveServer, locale: str
) -> None:
    lang = locale[:2]
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(live_server.url + "/experiments/broker")
        set_fields(page, PARAMS)
        page.click("button.start")
        page.wait_for_selector("#runbar.status-running", timeout=20000)
        page.click("#settings-toggle")  # the stage takes the settings' room
        page.evaluate(PAUSE_ON_CLAIM)
        page.wait_for_selector("#w-C1.state-processing #kill-C1", timeout=20000)
        page.click("#kill-C1")
        page.wait_for_function(
            "() => document.querySelector('#form-message').textContent.includes('C1')"
        )
        # C1 is dead; what it held stays pending at it, and says so.
        dead = page.locator(".bk-chip.pending.dead")
        dead.first.wait_for(timeout=10000)
        assert page.locator("#w-C1.state-killed").count() == 1
        assert page.locator("#kill-C1").count() == 0
        page.screenshot(path=str(ARTIFACTS / f"broker-{lang}-killed.png"))
        # After the idle time another consumer claims it, from C1.
        page.wait_for_function("() => window.claimedSeen !== undefined", timeout=20000)
        text = page.evaluate("() => window.claimedSeen")
        held = text.split("→")[0].strip()
        dead_seen = page.evaluate("() => window.deadSeen")
        assert held in dead_seen, (text, dead_seen)  # shown pending at dead C1
        assert "C1" in text.split("→")[1]
        page.wait_for_selector("#run-paused", timeout=10000)
        assert page.locator(".bk-chip.pending.claimed").count() == 1
        page.screenshot(path=str(ARTIFACTS / f"broker-{lang}-claimed.png"))
        page.click("#resume-button")
        # In the end every item made is acknowledged, none lost.
        page.wait_for_function(ENDED, timeout=30000)
        made = page.locator("#c-made").inner_text()
        assert made == "6"
        assert page.locator("#c-acked").inner_text() == made
        assert page.locator("#c-pending").inner_text() == "0"
        assert page.locator("#c-claimed").inner_text() == "1"
        assert page.locator("#c-killed").inner_text() == "1"
        rule = page.locator("#bk-rule").inner_text()
        assert ("at least once" if lang == "en" else "至少一次") in rule
        # The item's journey tells it: C1 took it, another claimed it from C1.
        page.locator(".bk-chip.acked button", has_text=held).click()
        card = page.locator("#journey .journey-card")
        card.wait_for(timeout=5000)
        assert "C1" in card.locator("li").nth(1).inner_text()  # C1 takes it
        claim = card.locator("li").nth(2).inner_text()
        assert ("claims it from C1" if lang == "en" else "从 C1 那里认领了它") in claim
        card.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"broker-{lang}-journey.png"))
        page.evaluate("scrollTo(0, 0)")
        page.screenshot(path=str(ARTIFACTS / f"broker-{lang}-finished.png"))
        assert errors == []
    finally:
        context.close()
