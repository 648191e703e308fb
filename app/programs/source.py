"""A program's source, checked before anything runs."""

from __future__ import annotations

import io
import re
import tokenize
import unicodedata
from dataclasses import dataclass

from app.i18n import N_

MAX_SOURCE_BYTES = 256 * 1024
MAX_ARGS = 32
MAX_ARG_CHARS = 1000
# What the program reads on stdin (input()), given with it.
MAX_STDIN_CHARS = 64 * 1024
# The script's name in the run's directory: a name students use, in any
# script (week-3.py, 1_threads.py, 作业3.py); spawn runs the main module
# again by its path, not its name. No separator, space, control character
# or character a shell or another system reads. The editor's "Open a .py
# file" takes a name that matches (program.js tests it too: one pattern that
# means the same in Python, pydantic and JavaScript).
NOT_IN_NAME = r"""\s\x00-\x1f\x7f/\\:*?"<>|'`$;&"""
FILENAME = re.compile(rf"^[^{NOT_IN_NAME}.\-][^{NOT_IN_NAME}]{{0,63}}\.py$")
DEFAULT_FILENAME = "program.py"


# Said after Python's message when the character it cannot read is a
# full-width one (`ascii_twin`).
FULL_WIDTH = N_(
    "%(char)s is a full-width character: Python needs %(ascii)s in its place"
    " (type it with the keyboard's English input)"
)


@dataclass(frozen=True)
class CompileProblem:
    line: int
    column: int
    message: str

    @property
    def twin(self) -> tuple[str, str] | None:
        """The full-width character it is about, and the ASCII one meant."""
        return ascii_twin(self.message)

    def __str__(self) -> str:
        said = f"line {self.line}, column {self.column}: {self.message}"
        if self.twin is not None:
            said += ". " + FULL_WIDTH % {"char": self.twin[0], "ascii": self.twin[1]}
        return said


def plain(text: str) -> str:
    """The source as Python reads a file of it: no byte order mark (an
    editor's, pasted along), plain newlines."""
    return text.removeprefix("\ufeff").replace("\r\n", "\n")


def decoded(data: bytes) -> str:
    """A file's source in the encoding Python would read it in (UTF-8, or
    what its coding line says, PEP 263); ValueError if it is not."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return plain(data.decode(encoding))


def check(source: str, filename: str = DEFAULT_FILENAME) -> CompileProblem | None:
    """Where the source does not compile, or None. Compiling runs nothing."""
    try:
        compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return CompileProblem(exc.lineno or 1, exc.offset or 1, exc.msg)
    except ValueError as exc:  # a NUL byte, say
        return CompileProblem(1, 1, str(exc))
    return None


# Python's word for a character it cannot read in code, and the ASCII
# character meant, where NFKC does not give it (a Chinese or Japanese
# keyboard types these in its own input mode).
_INVALID = re.compile(r"^invalid character '(.)' \(U\+[0-9A-F]+\)$")
_TWINS = {"。": ".", "、": ",", "“": '"', "”": '"', "‘": "'", "’": "'", "【": "[", "】": "]"}
_TWINS |= {"《": "<", "》": ">", "—": "-", "…": "..."}


def ascii_twin(message: str) -> tuple[str, str] | None:
    """The full-width character a compile error is about, and the ASCII one
    Python needs in its place (``（`` and ``(``), if that is what it is."""
    m = _INVALID.match(message)
    if m is None:
        return None
    char = m.group(1)
    twin = _TWINS.get(char) or unicodedata.normalize("NFKC", char)
    return (char, twin) if twin != char and twin.isascii() else None
