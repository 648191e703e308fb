"""A run's output files read as they grow: whole lines, each with where
it starts in its file, a long one in pieces, the last unfinished one at
the end."""

from __future__ import annotations

from pathlib import Path

from app.programs.launch import STDERR_FILE, STDOUT_FILE
from app.programs.output import MAX_LINE, OutputFiles


def test_lines_come_whole_as_the_files_grow(tmp_path: Path) -> None:
    out, err = tmp_path / STDOUT_FILE, tmp_path / STDERR_FILE
    out.write_bytes(b"one\ntw")
    err.write_bytes("caf\u00e9\n".encode())
    files = OutputFiles(tmp_path)
    assert files.lines() == [("stdout", "one", 0), ("stderr", "café", 0)]
    with out.open("ab") as f:
        f.write(b"o\nthree")
    assert files.lines() == [("stdout", "two", 4)]
    assert files.lines() == []
    assert files.lines(final=True) == [("stdout", "three", 8)]


def test_a_line_longer_than_a_console_line_comes_in_pieces(tmp_path: Path) -> None:
    (tmp_path / STDOUT_FILE).write_bytes(b"x" * (MAX_LINE * 2 + 10) + b"\nnext\n")
    pieces = OutputFiles(tmp_path).lines()
    assert [(len(text), at) for _, text, at in pieces] == [
        (MAX_LINE, 0),
        (MAX_LINE, 0),
        (10, 0),
        (4, MAX_LINE * 2 + 11),
    ]
