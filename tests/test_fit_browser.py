"""Each lesson fits a projector's screen, in a real browser: Start is in view
without scrolling, before a run and during it, and nothing on the stage is
cut off or sticks out of its box, in normal and in projection mode."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import ARTIFACTS, LiveServer

from app.experiments import EXPERIMENTS

pytestmark = pytest.mark.browser

# The program lesson's page is the program editor's (/programs), not a form.
LESSONS = [slug for slug, e in EXPERIMENTS.items() if e.built and slug != "program"]
LOCALES = ["en-US", "zh-CN"]
SHOWS_RUN = "id => document.querySelector('#runbar code')?.textContent === id"

# What is wrong with the page as a projector shows it, in words: Start out of
# view; the page, or a box meant to show all it holds, scrolling sideways;
# anything leaving the window; anything with words in it sticking out of the
# box it sits in (as a card over the log next to it). Marks drawn past a
# track's end on purpose (ticks, limit lines) hold no words and may.
PROBLEMS = """() => {
  const problems = [];
  const vw = document.documentElement.clientWidth, vh = window.innerHeight;
  const name = (el) => el.id ? '#' + el.id
    : el.tagName.toLowerCase() + [...el.classList].map(c => '.' + c).join('');
  const where = (el) => {
    const parts = [];
    for (let e = el; e && parts.length < 3; e = e.parentElement) {
      parts.unshift(name(e));
      if (e.id) break;
    }
    return parts.join(' > ');
  };
  const scrolls = (el, axis) => !['visible', 'clip'].includes(
    getComputedStyle(el)[axis === 'x' ? 'overflowX' : 'overflowY']);
  const round = (r) => [r.left, r.top, r.right, r.bottom].map(Math.round).join(',');
  if (document.documentElement.scrollWidth > vw + 1)
    problems.push(`the page scrolls sideways (${document.documentElement.scrollWidth} > ${vw})`);
  const start = document.querySelector('button.start');
  const s = start.getBoundingClientRect();
  if (s.width === 0 || s.top < 0 || s.bottom > vh || s.left < 0 || s.right > vw)
    problems.push(`Start is not in view: ${round(s)} in ${vw}x${vh}`);
  for (const root of document.querySelectorAll('#run-controls, #stage')) {
    for (const el of [root, ...root.querySelectorAll('*')]) {
      if (el.closest('svg') && el.tagName.toLowerCase() !== 'svg') continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      const style = getComputedStyle(el);
      if (style.position === 'fixed' || style.visibility === 'hidden') continue;
      if (r.left < -1 || r.right > vw + 1)
        problems.push(`${where(el)} leaves the window: ${round(r)}`);
      if (scrolls(el, 'x') && el.scrollWidth > el.clientWidth + 1)
        problems.push(`${where(el)} cuts what it holds: ${el.scrollWidth} > ${el.clientWidth}`);
      if (el === root) continue;
      const words = el.textContent.trim() !== '';
      const drawn = ['svg', 'img', 'input', 'select', 'button', 'canvas']
        .includes(el.tagName.toLowerCase());
      if (!words && !drawn) continue;
      let box = el.parentElement;
      while (getComputedStyle(box).display === 'contents') box = box.parentElement;
      const b = box.getBoundingClientRect();
      if (!scrolls(box, 'x') && (r.left < b.left - 1 || r.right > b.right + 1))
        problems.push(`${where(el)} sticks out of ${name(box)} sideways: ${round(r)} in ${round(b)}`
        );
      if (!scrolls(box, 'y') && (r.top < b.top - 1 || r.bottom > b.bottom + 1))
        problems.push(`${where(el)} sticks out of ${name(box)}: ${round(r)} in ${round(b)}`);
    }
  }
  return problems;
}"""

# The code view shows where the workers are: every marked line inside its
# box when they fit in it together, else the first of them.
MARKS_IN_VIEW = """() => [...document.querySelectorAll('.code-view .code')].every(box => {
  const b = box.getBoundingClientRect();
  const marks = [...box.querySelectorAll('li.here')].map(li => li.getBoundingClientRect());
  if (!marks.length) return true;
  const inside = (r) => r.top >= b.top - 1 && r.bottom <= b.bottom + 1;
  const span = marks[marks.length - 1].bottom - marks[0].top;
  return span <= box.clientHeight ? marks.every(inside) : inside(marks[0]);
})"""

# The stage shows a new run (not the one it showed before), past starting.
UNDER_WAY = """old => {
  const bar = document.querySelector('#runbar');
  const id = bar?.querySelector('code')?.textContent;
  return Boolean(id) && id !== old && !bar.classList.contains('status-starting');
}"""


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    """A server of this module's own: every form starts from its defaults."""
    s = LiveServer(env={"CONCVIZ_MAX_RUNS": "4", "CONCVIZ_MAX_WORKERS": "64"})
    try:
        yield s
    finally:
        s.stop()


def check_lesson(
    browser: Any,
    server: LiveServer,
    slug: str,
    size: tuple[int, int],
    mode: str,
    locale: str = "en-US",
) -> None:
    context = browser.new_context(locale=locale, viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    name = f"fit-{slug}-{size[0]}x{size[1]}-p{mode}-{locale}"
    shown = ""
    try:
        page.goto(f"{server.url}/experiments/{slug}?projector={mode}")
        # Polled on a timer, not on animation frames: a page that the browser
        # does not paint (under the suite's load) still answers.
        page.wait_for_function(
            "on => document.documentElement.classList.contains('projector') === on",
            arg=mode == "1",
            polling=100,
        )
        assert page.evaluate(PROBLEMS) == [], "before Start"

        shown = page.evaluate("() => document.querySelector('#runbar code')?.textContent ?? ''")
        page.click("button.start")
        page.wait_for_function(UNDER_WAY, arg=shown, timeout=15000)
        page.wait_for_function(MARKS_IN_VIEW, timeout=5000)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
        assert page.evaluate("scrollY") == 0  # pressing Start did not scroll the stage away
        assert page.evaluate(PROBLEMS) == [], "during the run"
    finally:
        # The run's slot is given back before the next lesson starts: the
        # API's stop answers once its workers are gone (the Stop button's
        # own behaviour is the browser tests' in test_browser.py).
        run_id = page.evaluate("() => document.querySelector('#runbar code')?.textContent ?? ''")
        if run_id and run_id != shown:
            answer = httpx.post(f"{server.url}/api/runs/{run_id}/stop", timeout=30)
            assert answer.status_code == 200, answer.text
        context.close()


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
@pytest.mark.parametrize("mode", ["0", "1"], ids=["normal", "projector"])
@pytest.mark.parametrize("slug", LESSONS)
def test_lesson_fits_1280x800(
    browser: Any, server: LiveServer, slug: str, mode: str, locale: str
) -> None:
    check_lesson(browser, server, slug, (1280, 800), mode, locale)


@pytest.mark.parametrize("mode", ["0", "1"], ids=["normal", "projector"])
@pytest.mark.parametrize("size", [(1024, 768), (1920, 1080)], ids=["1024x768", "1920x1080"])
def test_producer_consumer_fits_other_projectors(
    browser: Any, server: LiveServer, size: tuple[int, int], mode: str
) -> None:
    check_lesson(browser, server, "producer-consumer", size, mode)


@pytest.mark.parametrize(
    ("size", "mode"), [((853, 533), "1"), ((390, 844), "0")], ids=["zoomed-150%", "phone"]
)
def test_where_the_settings_sit_above_the_stage_start_folds_them_and_shows_the_run(
    browser: Any, server: LiveServer, size: tuple[int, int], mode: str
) -> None:
    """A projector's 1280x800 zoomed to 150%, or a phone: the settings come
    first, the stage far below them. Start brings the run into view."""
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    try:
        page.goto(f"{server.url}/experiments/producer-consumer?projector={mode}")
        page.evaluate("() => localStorage.setItem('concviz-settings', 'open')")
        page.reload()
        assert page.locator("#stage").bounding_box()["y"] > size[1]  # out of view
        shown = page.evaluate("() => document.querySelector('#runbar code')?.textContent ?? ''")
        page.click("button.start")
        page.wait_for_function(UNDER_WAY, arg=shown, timeout=15000)
        page.wait_for_function("() => document.getElementById('settings').hidden")
        page.wait_for_function(
            "() => { const r = document.querySelector('#stage').getBoundingClientRect();"
            " return r.top >= 0 && r.top < innerHeight / 2; }"
        )
        assert page.locator("button.start").is_visible()
        page.screenshot(path=str(ARTIFACTS / f"fit-started-{size[0]}x{size[1]}-p{mode}.png"))
    finally:
        run_id = page.evaluate("() => document.querySelector('#runbar code')?.textContent ?? ''")
        if run_id:
            httpx.post(f"{server.url}/api/runs/{run_id}/stop", timeout=30)
        context.close()


def test_settings_fold_away_by_keyboard_and_stay_folded(browser: Any, server: LiveServer) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        page.goto(f"{server.url}/experiments/producer-consumer")
        toggle = page.locator("#settings-toggle")
        stage_width = page.locator("#stage").bounding_box()["width"]
        assert toggle.get_attribute("aria-expanded") == "true"
        assert page.locator("#f-producers").is_visible()

        toggle.focus()
        page.keyboard.press("Enter")
        assert toggle.get_attribute("aria-expanded") == "false"
        assert not page.locator("#f-producers").is_visible()
        assert page.locator("#stage").bounding_box()["width"] > stage_width  # it takes the room

        page.reload()  # remembered
        page.wait_for_function(
            "() => document.getElementById('settings-toggle').ariaExpanded === 'false'"
        )
        assert not page.locator("#f-producers").is_visible()
        page.screenshot(path=str(ARTIFACTS / "fit-settings-folded.png"))
        page.locator("#settings-toggle").focus()
        page.keyboard.press("Enter")
        assert page.locator("#f-producers").is_visible()
    finally:
        context.close()


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_projected_with_the_settings_folded_every_card_of_a_2x2_run_is_in_view(
    browser: Any, server: LiveServer, locale: str
) -> None:
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        page.goto(f"{server.url}/experiments/producer-consumer?projector=1")
        page.click("#settings-toggle")
        shown = page.evaluate("() => document.querySelector('#runbar code')?.textContent ?? ''")
        page.click("button.start")
        page.wait_for_function(UNDER_WAY, arg=shown, timeout=15000)
        page.wait_for_function("() => document.querySelectorAll('.role .card').length === 4")
        page.screenshot(path=str(ARTIFACTS / f"fit-pc-2x2-projected-folded-{locale}.png"))
        bottoms = page.evaluate(
            "() => [...document.querySelectorAll('.role .card')]"
            ".map(c => [c.id, c.getBoundingClientRect().bottom])"
        )
        assert [name for name, bottom in bottoms if bottom > 800] == [], bottoms
    finally:
        run_id = page.evaluate("() => document.querySelector('#runbar code')?.textContent ?? ''")
        if run_id:
            httpx.post(f"{server.url}/api/runs/{run_id}/stop", timeout=30)
        context.close()


# What a phone's screen shows badly: the page scrolling sideways; a queue's
# slot cut off by its box; a button's words running out of it; a code line
# left less than 12 characters of room.
PHONE_PROBLEMS = """() => {
  const problems = [];
  const vw = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth > vw + 1)
    problems.push(`the page scrolls sideways (${document.documentElement.scrollWidth} > ${vw})`);
  for (const box of document.querySelectorAll('.queue-box')) {
    const b = box.getBoundingClientRect();
    for (const slot of box.querySelectorAll('.slot')) {
      const r = slot.getBoundingClientRect();
      if (r.right > b.right + 1) problems.push(`a slot of the queue is cut off at ${b.right}`);
    }
  }
  for (const button of document.querySelectorAll('button')) {
    if (button.offsetParent && button.scrollWidth > button.clientWidth + 1)
      problems.push(`"${button.textContent.trim()}" runs out of its button`);
  }
  const code = document.querySelector('.code li code');
  if (code) {
    const ch = parseFloat(getComputedStyle(code).fontSize) * 0.6;
    const room = Math.round(code.getBoundingClientRect().width / ch);
    if (room < 12) problems.push(`a code line has room for ${room} characters`);
  }
  return problems;
}"""


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_on_a_phone_no_page_scrolls_sideways_and_a_run_shows_its_whole_queue(
    browser: Any, server: LiveServer, locale: str
) -> None:
    """A student follows the run on their phone (390x844): every page fits
    its width; a lesson's stage with a run on it shows each slot of its
    queue and room for the program's words. Each lesson's stage is measured
    in one of the two languages (half of them in each)."""
    context = browser.new_context(
        locale=locale, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    found = {}
    half = LESSONS[LOCALES.index(locale) :: 2]
    try:
        for slug in half:
            run = httpx.post(
                f"{server.url}/api/runs", json={"experiment": slug, "params": {}}, timeout=30
            ).json()
            try:
                page.goto(
                    f"{server.url}/watch"
                    if slug == "producer-consumer"
                    else f"{server.url}/experiments/{slug}"
                )
                page.wait_for_function(SHOWS_RUN, arg=run["id"], timeout=15000)
                page.wait_for_timeout(300)  # a frame or two of the run
                page.screenshot(
                    path=str(ARTIFACTS / f"fit-phone-{slug}-{locale}.png"), full_page=True
                )
                found[slug] = page.evaluate(PHONE_PROBLEMS)
            finally:
                httpx.post(f"{server.url}/api/runs/{run['id']}/stop", timeout=30)
        for path in ["/", "/programs", "/runs"]:
            page.goto(f"{server.url}{path}")
            found[path] = page.evaluate(PHONE_PROBLEMS)
    finally:
        context.close()
    assert {where: p for where, p in found.items() if p} == {}


@pytest.mark.parametrize(
    ("crowd", "end"),
    [
        ({"producers": 8, "consumers": 1, "consume_min_ms": 3000, "consume_max_ms": 3000}, "tail"),
        ({"producers": 1, "consumers": 10, "produce_min_ms": 3000, "produce_max_ms": 3000}, "head"),
    ],
    ids=["producers-at-the-tail", "consumers-at-the-head"],
)
def test_a_crowd_waiting_at_one_end_of_the_queue_stays_on_the_stage(
    browser: Any, server: LiveServer, crowd: dict[str, int], end: str
) -> None:
    """Projected, with the settings open: the narrowest stage."""
    params = {"capacity": 2, "produce_max_ms": 0, "consume_max_ms": 0, **crowd}
    run = httpx.post(
        f"{server.url}/api/runs", json={"experiment": "producer-consumer", "params": params}
    ).json()
    # Without motion: an item sliding in from the tail is not the layout.
    context = browser.new_context(viewport={"width": 1280, "height": 800}, reduced_motion="reduce")
    page = context.new_page()
    try:
        page.goto(f"{server.url}/experiments/producer-consumer?run={run['id']}&projector=1")
        page.wait_for_function(
            f"() => document.querySelectorAll('.{end}-line .waiter').length > 3", polling=100
        )
        page.screenshot(path=str(ARTIFACTS / f"fit-crowd-at-the-{end}.png"))
        assert page.evaluate(PROBLEMS) == []
    finally:
        httpx.post(f"{server.url}/api/runs/{run['id']}/stop", timeout=30)
        context.close()
