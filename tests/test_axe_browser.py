"""Accessibility as a tool nobody here wrote measures it: axe-core, run in
the system Chromium over every page a class sees, in both languages and in
projection mode. axe is injected by the test (the pages' policy allows no
script but their own), and every rule it runs by default counts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import ARTIFACTS, LiveServer, tidy_client
from probes import ENDED, start, wait_for

from app.experiments import EXPERIMENTS

pytestmark = pytest.mark.browser

# The program lesson's page is the program editor's (/programs), not a form.
LESSONS = [slug for slug, e in EXPERIMENTS.items() if e.built and slug != "program"]
LOCALES = ["en-US", "zh-CN"]
MODES = ["0", "1"]  # ?projector=


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    """A server of this module's own: its lesson pages start empty."""
    (ARTIFACTS / "axe-violations.txt").unlink(missing_ok=True)
    s = LiveServer(env={"CONCVIZ_MAX_RUNS": "4", "CONCVIZ_MAX_WORKERS": "64"})
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with tidy_client(server, 20) as c:
        yield c


class Auditor:
    """Pages in every language and mode, each measured by axe; what it finds
    is kept as one line per element."""

    def __init__(self, browser: Any, server: LiveServer) -> None:
        self.server = server
        self.axe = Axe()
        self.contexts = [
            (
                locale,
                mode,
                # Reduced motion: what is measured is the settled page, not
                # an item halfway through fading in.
                browser.new_context(
                    locale=locale,
                    viewport={"width": 1280, "height": 800},
                    reduced_motion="reduce",
                ),
            )
            for locale in LOCALES
            for mode in MODES
        ]
        self.found: list[str] = []

    def audit(
        self, path: str, ready: str = "() => true", arg: Any = None, half: int | None = None
    ) -> None:
        """Measure `path` in every language and mode, or in one `half` of
        them that still has each language and each mode once (0: English
        plain and Chinese projected; 1: the other two). The pages around a
        lesson's running stage differ from it by little, and every
        combination costs a second."""
        for i, (locale, mode, context) in enumerate(self.contexts):
            if half is not None and (i in (0, 3)) != (half == 0):
                continue
            page = context.new_page()
            try:
                page.goto(f"{self.server.url}{path}{'&' if '?' in path else '?'}projector={mode}")
                page.wait_for_function(
                    "on => document.documentElement.classList.contains('projector') === on",
                    arg=mode == "1",
                )
                page.wait_for_function(ready, arg=arg, timeout=15000)
                result = self.axe.run(page).response
                for v in result["violations"]:
                    for node in v["nodes"]:
                        self.record(
                            f"{path} [{locale}, projector={mode}] {v['id']} ({v['impact']}): "
                            f"{node['target']} {node.get('failureSummary', '')!r}"
                        )
                if not result["violations"] and path.startswith("/experiments/"):
                    name = path.strip("/").replace("/", "-").replace("?", "-")
                    page.screenshot(path=str(ARTIFACTS / f"axe-{name}-{locale}-p{mode}.png"))
            finally:
                page.close()

    def record(self, line: str) -> None:
        self.found.append(line)
        with (ARTIFACTS / "axe-violations.txt").open("a") as f:
            f.write(line + "\n")

    def close(self) -> None:
        for _locale, _mode, context in self.contexts:
            context.close()


SHOWS_RUN = "id => document.querySelector('#runbar code')?.textContent === id"
FOLLOWS = "() => document.querySelector('#follow') !== null"


@pytest.fixture
def auditor(browser: Any, server: LiveServer) -> Iterator[Auditor]:
    a = Auditor(browser, server)
    try:
        yield a
    finally:
        a.close()


def test_index_and_audience_pages(auditor: Auditor) -> None:
    auditor.audit("/")
    auditor.audit("/watch", FOLLOWS, half=1)  # the other half: following a run, below
    assert auditor.found == [], "\n".join(auditor.found)


@pytest.mark.parametrize("slug", LESSONS)
def test_lesson_empty_running_and_replayed(
    auditor: Auditor, client: httpx.Client, slug: str
) -> None:
    # Each language and mode sees the lesson's stage once: going in one
    # half of them, replayed in the other (the same stage, drawn by the same
    # templates), and the empty page beside its replay.
    auditor.audit(f"/experiments/{slug}", half=0)
    # A run of the lesson's defaults on the stage, going (or over, if quick).
    run = start(client, slug)
    auditor.audit(f"/experiments/{slug}", SHOWS_RUN, run["id"], half=1)
    client.post(f"/api/runs/{run['id']}/stop")
    wait_for(client, run["id"], lambda r: r["status"] in ENDED, 20)
    auditor.audit(f"/runs/{run['id']}", "() => document.querySelector('#stage') !== null", half=0)
    assert auditor.found == [], "\n".join(auditor.found)


def test_the_audience_follows_a_run_and_the_runs_page_lists_it(
    auditor: Auditor, client: httpx.Client
) -> None:
    """The pages around a lesson's stage are the same for every lesson:
    measured with one run (the audience's page draws the lesson's frame,
    which the test above measures for each lesson)."""
    run = start(client, "producer-consumer")
    auditor.audit("/watch", SHOWS_RUN, run["id"], half=0)
    client.post(f"/api/runs/{run['id']}/stop")
    wait_for(client, run["id"], lambda r: r["status"] in ENDED, 20)
    auditor.audit("/runs", "id => document.getElementById('rec-' + id) !== null", run["id"], half=1)
    assert auditor.found == [], "\n".join(auditor.found)
