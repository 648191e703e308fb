"""Filters the templates format values with."""

from __future__ import annotations

from app.web.render import env


def test_a_rate_keeps_one_decimal_while_small_and_drops_it_when_it_would_not_fit() -> None:
    rate = env.from_string("{{ r | rate }}")
    assert rate.render(r=0.0) == "0.0"
    assert rate.render(r=4.04) == "4.0"
    assert rate.render(r=99.94) == "99.9"
    assert rate.render(r=18651.2) == "18651"  # a full-speed run: its box stays readable


def test_a_printed_line_shows_as_a_terminal_leaves_it() -> None:
    shown = env.filters["terminal_text"]
    assert shown("\x1b[1;31mred\x1b[0m and plain") == "red and plain"  # colours are no text
    assert shown("10%\r50%\r100%") == "100%"  # a progress bar, rewritten in place
    assert shown("a\x07b\tc") == "ab\tc"
