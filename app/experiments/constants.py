"""A lesson program's settings: the constants at its top.

A lesson is a plain Python program whose settings are module-level
constants written as literals (``REPEAT = 10  # rounds``). The form's values
go into those constants, and the program that runs (and the one downloaded)
is the file with them substituted: nothing else of it changes, comments
included. Pure functions over source text.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any


def _literals(tree: ast.Module) -> dict[str, ast.expr]:
    """The module's top-level ``NAME = literal`` assignments, by name (the
    first of each name: a constant is set once)."""
    out: dict[str, ast.expr] = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id.isupper()
        ):
            try:
                ast.literal_eval(node.value)
            except ValueError:
                continue
            out.setdefault(node.targets[0].id, node.value)
    return out


def constants(source: str) -> dict[str, Any]:
    """The values of the program's literal constants (``NAME = 3``)."""
    return {name: ast.literal_eval(value) for name, value in _literals(ast.parse(source)).items()}


def substitute(source: str, values: Mapping[str, Any]) -> str:
    """`source` with each constant named in `values` set to its value
    (written with ``repr``). A name the program does not have as a literal
    constant is an error: the form and the program must agree."""
    found = _literals(ast.parse(source))
    missing = sorted(set(values) - set(found))
    if missing:
        raise KeyError(f"the program has no constant {', '.join(missing)}")
    lines = source.splitlines(keepends=True)
    # From the bottom up, so that earlier positions stay valid.
    for name in sorted(values, key=lambda n: (found[n].lineno, found[n].col_offset), reverse=True):
        node = found[name]
        if node.end_lineno is None or node.end_col_offset is None:
            raise ValueError(f"{name}: no position for its value")
        start, end = node.lineno - 1, node.end_lineno - 1
        head = lines[start][: _col(lines[start], node.col_offset)]
        tail = lines[end][_col(lines[end], node.end_col_offset) :]
        was = lines[start][len(head) : len(head) + 1]
        lines[start : end + 1] = [head + _literal(values[name], was) + tail]
    return "".join(lines)


def _col(line: str, utf8_offset: int) -> int:
    """ast's column offsets count UTF-8 bytes; a str index counts characters."""
    return len(line.encode("utf-8")[:utf8_offset].decode("utf-8"))


def _literal(value: Any, was: str = "") -> str:
    """`value` as Python source; a string keeps the double quotes of the
    value it replaces (the program's own style) where it can."""
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"
    text = repr(value)
    if isinstance(value, str) and was == '"' and text.startswith("'") and '"' not in value:
        return '"' + text[1:-1] + '"'
    return text
