"""A program's source as the page, the API and `concviz run` take it: as
Python itself would read the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.programs import source
from app.programs.command import read_program


def test_a_byte_order_mark_and_windows_newlines_are_read_as_python_reads_them() -> None:
    text = source.plain("\ufeffprint('hi')\r\nprint('there')\r\n")
    assert text == "print('hi')\nprint('there')\n"
    assert source.check(text) is None


def test_a_file_in_the_encoding_its_coding_line_names_is_read(tmp_path: Path) -> None:
    latin = tmp_path / "cafe.py"
    latin.write_bytes("# -*- coding: latin-1 -*-\nprint('café')\n".encode("latin-1"))
    text, name = read_program(latin)
    assert "print('café')" in text
    assert name == "cafe.py"
    bom = tmp_path / "bom.py"
    bom.write_bytes("print('ok')\n".encode("utf-8-sig"))
    assert read_program(bom)[0] == "print('ok')\n"


def test_a_file_in_no_encoding_python_reads_is_refused_in_words(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_bytes("print('café')\n".encode("latin-1"))  # no coding line: not UTF-8
    with pytest.raises(SystemExit) as refused:
        read_program(bad)
    assert "is not UTF-8, nor in the encoding its coding line names" in str(refused.value)
