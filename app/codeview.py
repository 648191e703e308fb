"""The experiment's plain program, line by line, with who is where.

Pure: the program text, where each state sits in it, and the workers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from app.model import WorkerView

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


def locate(
    program: str, code_lines: dict[str, str], workers: Iterable[WorkerView]
) -> list[CodeLine]:
    """Every line of `program`, each with the workers now on it: a worker is
    on the first line holding the text mapped to "role:state", or to its
    state alone. Workers in states with no line are on none."""
    lines = [CodeLine(i + 1, text) for i, text in enumerate(program.splitlines())]
    for w in workers:
        needle = code_lines.get(f"{w.role}:{w.state}") or code_lines.get(w.state)
        if not needle:
            continue
        for line in lines:
            if needle in line.text:
                line.workers.append(w.name)
                break
    return lines


def body(lines: list[CodeLine]) -> list[CodeLine]:
    """From the first definition on: what the workers run (imports and
    settings stay in the downloaded script)."""
    for i, line in enumerate(lines):
        if line.text.startswith(("def ", "class ")):
            return lines[i:]
    return lines
