"""A replay and its timeline in a real browser (the system Chromium): the run
bar says REPLAY and where, Play and Pause show what the player does, and the
timeline has a legend and a tooltip for the mouse and the keyboard."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import ARTIFACTS, LiveServer
from ssereader import read_events

from app.experiments import EXPERIMENTS

pytestmark = pytest.mark.browser

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


@pytest.fixture(scope="module")
def recorded(live_server: LiveServer) -> Iterator[str]:
    """A finished producer/consumer run, every event of it recorded."""
    params = EXPERIMENTS["producer-consumer"].quick_params
    with httpx.Client(base_url=live_server.url, timeout=20) as c:
        run = c.post("/api/runs", json={"experiment": "producer-consumer", "params": params})
        run_id: str = run.json()["id"]
        total = len(read_events(c, run_id))
        # The recording may lag the stream by a moment: ask until it has them all.
        deadline = time.monotonic() + 10
        while {r["id"]: r["events"] for r in c.get("/api/recordings").json()}.get(run_id) != total:
            assert time.monotonic() < deadline, "the recording never got every event"
            time.sleep(0.05)
        yield run_id


def new_page(browser: Any, **kw: Any) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 800}, **kw)
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return page


def pressed(page: Any) -> tuple[str | None, str | None]:
    return (
        page.locator("#replay-play").get_attribute("aria-pressed"),
        page.locator("#replay-pause").get_attribute("aria-pressed"),
    )


def test_the_run_bar_says_replay_and_where_not_running(
    browser: Any, live_server: LiveServer, recorded: str
) -> None:
    page = new_page(browser)
    page.goto(f"{live_server.url}/runs/{recorded}?at=10")
    assert page.locator("#replay-badge").inner_text().strip().lower() == "replay"
    # Not the recorded status: mid-run, nothing says RUNNING.
    assert page.locator("#run-status").count() == 0
    assert "running" not in page.locator("#runbar").inner_text().lower()
    when = page.locator("#replay-when").inner_text()
    assert when.endswith(" s")
    assert " s of " in when
    t, total = (float(part.split()[0]) for part in when.split(" of "))
    assert 0 < t < total
    # At its end, the run's own status shows beside the badge.
    page.goto(f"{live_server.url}/runs/{recorded}")
    assert page.locator("#replay-badge").is_visible()
    assert page.locator("#run-status").inner_text().strip().lower() == "finished"
    page.screenshot(path=str(ARTIFACTS / "replay-badge.png"))
    assert page.errors == []
    page.close()


def test_play_and_pause_show_what_the_player_does(
    browser: Any, live_server: LiveServer, recorded: str
) -> None:
    page = new_page(browser)
    page.goto(f"{live_server.url}/runs/{recorded}?at=1")
    assert pressed(page) == ("false", "true")  # it does not play by itself
    page.select_option("select[name=speed]", "0.25")
    page.click("#replay-play")
    page.wait_for_function("() => document.getElementById('player').hasAttribute('hx-sse:connect')")
    assert pressed(page) == ("true", "false")
    # It plays: the position moves on by itself.
    page.wait_for_function("() => Number(document.getElementById('scrub').value) > 1")
    page.screenshot(path=str(ARTIFACTS / "replay-playing.png"))
    page.click("#replay-pause")
    page.wait_for_function(
        "() => document.getElementById('replay-pause').getAttribute('aria-pressed') === 'true'"
    )
    assert pressed(page) == ("false", "true")
    # Paused: no stream of frames is left open.
    assert page.locator("#player").get_attribute("hx-sse:connect") is None
    # Played to its end, the player says it is paused again. From the start
    # again: on a slow machine the slow play above may have reached the end
    # by itself, and "at the end, paused" would then hold before this play.
    page.goto(f"{live_server.url}/runs/{recorded}?at=1")
    assert pressed(page) == ("false", "true")
    page.select_option("select[name=speed]", "10")
    page.click("#replay-play")
    page.wait_for_function(
        "() => document.getElementById('scrub').value === document.getElementById('scrub').max"
        " && document.getElementById('replay-pause').getAttribute('aria-pressed') === 'true'",
        timeout=20000,
    )
    assert pressed(page) == ("false", "true")
    # A step while playing stops it too.
    page.click("#replay-play")
    page.wait_for_function("() => document.getElementById('player').hasAttribute('hx-sse:connect')")
    page.click("[data-step='-1']")
    page.wait_for_function(
        "() => document.getElementById('replay-pause').getAttribute('aria-pressed') === 'true'"
    )
    assert page.errors == []
    page.close()


def test_the_timeline_has_a_legend_in_the_readers_language(
    browser: Any, live_server: LiveServer, recorded: str
) -> None:
    for headers, words in (({}, "consuming"), (ZH, "正在消费")):
        page = new_page(browser, extra_http_headers=headers)
        page.goto(f"{live_server.url}/runs/{recorded}")
        legend = page.locator("#tl-legend")
        assert legend.is_visible()
        keys = legend.locator("li")
        assert keys.count() >= 2
        assert words in legend.inner_text()
        # Each key's swatch is drawn like the state's segments.
        drawn = set(
            page.eval_on_selector_all(".timeline .seg", "els => els.map(e => e.classList[1])")
        )
        keyed = set(
            page.eval_on_selector_all("#tl-legend .seg", "els => els.map(e => e.classList[1])")
        )
        assert drawn == keyed
        style = page.eval_on_selector(
            "#tl-legend .seg.st-consuming", "e => getComputedStyle(e).fill"
        )
        assert style == page.eval_on_selector(
            ".timeline .seg.st-consuming", "e => getComputedStyle(e).fill"
        )
        assert page.errors == []
        page.close()


def test_lane_names_are_whole_and_readable_at_1280_and_in_projection(
    browser: Any, live_server: LiveServer
) -> None:
    # The daemon lesson's lanes have the longest names ("daemon process"...).
    with httpx.Client(base_url=live_server.url, timeout=20) as c:
        params = EXPERIMENTS["daemon"].quick_params
        run_id = c.post("/api/runs", json={"experiment": "daemon", "params": params}).json()["id"]
        read_events(c, run_id)
    for projector in ("0", "1"):
        page = new_page(browser)
        page.goto(f"{live_server.url}/experiments/daemon?projector={projector}")
        page.locator("#timeline .lane-name").first.wait_for()
        names = page.eval_on_selector_all(
            "#timeline .lane",
            """lanes => lanes.map(g => {
                const text = g.querySelector('.lane-name').getBoundingClientRect();
                const plot = g.querySelector('.lane-bg').getBoundingClientRect();
                return [g.querySelector('.lane-name').textContent, text.right <= plot.left,
                        text.height];
            })""",
        )
        assert max(len(name) for name, _, _ in names) >= 12, names  # long ones are drawn
        for name, fits, height in names:
            assert fits, f"{name} runs into the plot"
            assert height >= 15, f"{name} is drawn {height:.0f} px high"
        page.locator(".timeline-panel").screenshot(
            path=str(ARTIFACTS / f"timeline-labels-projector-{projector}.png")
        )
        assert page.errors == []
        page.close()


def test_hover_and_keyboard_focus_on_a_segment_say_what_it_was(
    browser: Any, live_server: LiveServer, recorded: str
) -> None:
    page = new_page(browser)
    page.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " e => window.__csp.push(e.violatedDirective));"
    )
    page.goto(f"{live_server.url}/runs/{recorded}")
    tip = page.locator("#tl-tip")
    assert not tip.is_visible()
    seg = page.locator("#lane-C1 .seg").nth(1)
    seg.hover()
    assert tip.is_visible()
    assert tip.inner_text() == seg.get_attribute("data-tip")
    assert tip.inner_text().startswith("C1: ")
    page.screenshot(path=str(ARTIFACTS / "timeline-tooltip.png"))
    page.mouse.move(5, 5)
    assert not tip.is_visible()

    # The keyboard: each lane is one stop, at its latest segment; the arrows
    # go along it and to the lane below.
    last = page.locator("#lane-P1 .seg").last
    last.focus()
    assert tip.inner_text() == last.get_attribute("data-tip")
    page.keyboard.press("ArrowLeft")
    before = page.locator("#lane-P1 .seg").nth(-2)
    assert page.evaluate("() => document.activeElement.dataset.tip") == before.get_attribute(
        "data-tip"
    )
    assert tip.inner_text() == before.get_attribute("data-tip")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("() => document.activeElement.closest('.lane').id") == "lane-P2"
    assert tip.inner_text().startswith("P2: ")
    assert page.evaluate("() => window.__csp") == []
    assert page.errors == []
    page.close()
