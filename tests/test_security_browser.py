"""The strict policy and the escaping, in a real browser (system Chromium):
every built experiment runs a whole run from its page, then replays it,
with no policy violation, no script error, and no markup let through."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from conftest import ARTIFACTS, LiveServer
from markup import XSS, marked_run
from pages import set_fields
from probes import ENDED, settle, start, wait_for

from app.experiments import EXPERIMENTS

pytestmark = pytest.mark.browser

BUILT = [slug for slug, e in EXPERIMENTS.items() if e.built]
WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
    e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile));
"""
ENDED_JS = "s => ['finished', 'stopped', 'failed'].includes(s)"


class Watched:
    """A page whose policy violations, script errors and dialogs are kept."""

    def __init__(self, browser: Any) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", self._dialog)
        self.page.add_init_script(WATCH)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def violations(self) -> list[str]:
        found: list[str] = self.page.evaluate("window.__csp")
        return found

    def status(self) -> str:
        text: str = self.page.evaluate(
            "() => document.querySelector('#run-status')?.textContent.trim() ?? ''"
        )
        return text


@pytest.mark.parametrize("slug", BUILT)
def test_a_whole_run_and_its_replay_break_no_policy(
    browser: Any, own_server: LiveServer, own_client: httpx.Client, slug: str
) -> None:
    # A quick run first, then one from the form, set to the same values.
    quick = start(own_client, slug, **EXPERIMENTS[slug].quick_params)
    wait_for(own_client, quick["id"], lambda r: r["status"] in ENDED, 30)
    w = Watched(browser)
    try:
        w.page.goto(f"{own_server.url}/experiments/{slug}")
        set_fields(w.page, EXPERIMENTS[slug].quick_params)
        w.page.click("button.start")
        w.page.wait_for_function(
            "old => { const c = document.querySelector('#runbar code');"
            " return c && c.textContent !== old; }",
            arg=quick["id"],
            timeout=10000,
        )
        run_id = w.page.locator("#runbar code").inner_text()
        w.page.wait_for_function(
            f"() => ({ENDED_JS})(document.querySelector('#run-status')?.textContent.trim())",
            timeout=30000,
        )
        w.page.screenshot(path=str(ARTIFACTS / f"csp-{slug}.png"), full_page=True)
        assert w.status() in ENDED
        # The replay of the same run, one step back and forth.
        settle(lambda: own_client.get(f"/runs/{run_id}").status_code, lambda code: code == 200, 5.0)
        w.page.goto(f"{own_server.url}/runs/{run_id}")
        w.page.click("button[data-step='-1']")
        w.page.click("button[data-step='1']")
        w.page.wait_for_load_state("networkidle")
        assert w.violations() == []
        assert w.errors == []
    finally:
        w.page.close()


def test_markup_in_labels_and_names_is_shown_not_run(
    browser: Any, own_server: LiveServer, own_client: httpx.Client
) -> None:
    run = marked_run(own_client)
    assert own_client.patch(f"/api/recordings/{run['id']}", json={"name": XSS}).status_code == 200
    w = Watched(browser)
    try:
        for path in (f"/runs/{run['id']}", "/runs", "/watch"):
            w.page.goto(own_server.url + path)
            # /watch keeps a stream open: no "networkidle"; streams swap in
            # their first message meanwhile.
            w.page.wait_for_timeout(400)
            assert w.page.locator("img[src='x']").count() == 0, path
            assert XSS in w.page.inner_text("body"), path  # shown as text
        assert w.dialogs == []
        assert w.violations() == []
        assert w.errors == []
    finally:
        w.page.close()
