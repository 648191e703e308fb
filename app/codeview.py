"""A program's lines as the page draws them, with who is on each.

Pure: `app.programs.view` places the threads; this is the line itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# A wrapped line goes on under its own indentation, up to this deep: the page
# has a class for each indentation up to here (app.css, `.ind-N`).
MAX_INDENT = 32


@dataclass
class CodeLine:
    number: int
    text: str
    workers: list[str] = field(default_factory=list)

    @property
    def indent(self) -> int:
        """Leading spaces: a long line wraps under its own indentation, not
        under the line's first column."""
        return min(len(self.text) - len(self.text.lstrip(" ")), MAX_INDENT)

    @property
    def parts(self) -> tuple[str, str]:
        """The code (with the spaces that line its comment up) and its
        trailing comment, so that a narrow box moves the comment whole to the
        next line instead of breaking it."""
        at = comment_start(self.text)
        if at is None:
            return self.text, ""
        return self.text[:at], self.text[at:]


def comment_start(text: str) -> int | None:
    """Where the line's comment starts: the first `#` outside a string."""
    quote = ""
    escaped = False
    for i, ch in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            return i
    return None
