"""The program's lines as the code view draws them: indentation that a
wrapped line keeps, and a trailing comment that moves down whole."""

from __future__ import annotations

import pytest

from app.codeview import MAX_INDENT, CodeLine, comment_start


@pytest.mark.parametrize(
    ("text", "indent"),
    [("def f():", 0), ("    x = 1", 4), ("        q.put(item)", 8), ("", 0), ("    ", 4)],
)
def test_indent_is_the_leading_spaces(text: str, indent: int) -> None:
    assert CodeLine(1, text).indent == indent


def test_indent_stops_at_the_deepest_the_page_draws() -> None:
    assert CodeLine(1, " " * 50 + "x").indent == MAX_INDENT


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        (
            "        item = q.get()      # waits here",
            ("        item = q.get()      ", "# waits here"),
        ),
        ("    # a whole line of comment", ("    ", "# a whole line of comment")),
        ('print("#1 is not a comment")', ('print("#1 is not a comment")', "")),
        ("s = 'it\\'s #2'  # but this is", ("s = 'it\\'s #2'  ", "# but this is")),
        ("x = 1", ("x = 1", "")),
    ],
)
def test_parts_split_the_code_from_its_trailing_comment(text: str, parts: tuple[str, str]) -> None:
    line = CodeLine(1, text)
    assert line.parts == parts
    assert "".join(line.parts) == text  # nothing is lost between the two


def test_a_hash_inside_a_string_starts_no_comment() -> None:
    assert comment_start("f'{n} # {m}'") is None
    assert comment_start('"a" + "b" # c') == 10
