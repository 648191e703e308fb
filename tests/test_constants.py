"""A lesson program's settings are the literal constants at its top; the
form's values go into them and nothing else of the program changes."""

from __future__ import annotations

import pytest

from app.experiments.constants import constants, substitute

PROGRAM = '''\
"""A program: REPEAT = 3 here is a docstring, not a constant."""
import time

REPEAT = 10  # rounds
PAUSE = 0.25          # seconds between rounds
NAME = "café"; WHERE = "here"
SIZES = (1,
         2)
DERIVED = REPEAT * 2
lower = 5


def f():
    REPEAT = 99  # a local, not the constant
    return REPEAT
'''


def test_constants_are_the_top_level_literals() -> None:
    assert constants(PROGRAM) == {
        "REPEAT": 10,
        "PAUSE": 0.25,
        "NAME": "café",
        "WHERE": "here",
        "SIZES": (1, 2),
    }


def test_substitute_changes_only_the_values_named() -> None:
    out = substitute(PROGRAM, {"REPEAT": 3, "PAUSE": 2.0, "NAME": "naïve", "SIZES": (5,)})
    assert "REPEAT = 3  # rounds\n" in out
    assert "PAUSE = 2.0          # seconds between rounds\n" in out
    assert 'NAME = "naïve"; WHERE = "here"\n' in out  # in the program's own quotes
    assert "SIZES = (5,)\nDERIVED" in out
    assert "REPEAT = 99  # a local" in out
    assert out.startswith('"""A program: REPEAT = 3 here')
    assert constants(out)["REPEAT"] == 3
    compile(out, "p.py", "exec")


def test_a_value_the_program_has_no_constant_for_is_refused() -> None:
    with pytest.raises(KeyError, match="DERIVED"):
        substitute(PROGRAM, {"DERIVED": 1})
    with pytest.raises(KeyError, match="MISSING"):
        substitute(PROGRAM, {"MISSING": 1})
