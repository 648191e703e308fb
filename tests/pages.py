"""What the browser tests do on a page again and again."""

from __future__ import annotations

from typing import Any


def set_slider(page: Any, name: str, value: str) -> None:
    """Move the form's control `name` to `value`, as a hand on it would."""
    page.locator(f"#f-{name}").evaluate(
        "(e, v) => { e.value = v; e.dispatchEvent(new Event('input', {bubbles: true})); }", value
    )


def set_fields(page: Any, params: dict[str, Any]) -> None:
    """Set the form's fields to `params` (those the form has): it starts
    from the lesson's defaults, not from what an earlier test ran."""
    for name, value in params.items():
        if page.locator(f"#f-{name}").count():
            set_slider(page, name, str(value))


def started_run(page: Any) -> str:
    """Wait until the form says a run started; its id."""
    page.wait_for_function(
        "() => /Run \\w+ started/.test(document.querySelector('#form-message').textContent)"
    )
    run_id: str = page.locator("#form-message").inner_text().split()[1]
    return run_id


def wait_for_run(page: Any, run_id: str, timeout: float | None = None) -> None:
    """Wait until the page's stage shows the run `run_id`."""
    page.wait_for_function(
        "id => document.querySelector('#runbar code')?.textContent === id",
        arg=run_id,
        timeout=timeout,
    )
