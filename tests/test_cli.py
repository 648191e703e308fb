"""The `concviz` command line: `--open` says what it could not do; `--help`
names the other commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from app.cli import parse_args

URL = "http://localhost:8123/"


def open_browser_with(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`app.cli.open_browser(URL)` in a fresh interpreter (the standard
    library's webbrowser looks for browsers once per process) that sees
    only `env`, and prints what it answered."""
    code = f"from app.cli import open_browser; print('opened:', open_browser({URL!r}))"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_open_without_a_browser_prints_the_address_and_why(tmp_path: Path) -> None:
    # No display, no BROWSER, and a PATH with no console browser on it: the
    # situation of a server without a desktop.
    result = open_browser_with({"PATH": str(tmp_path), "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "opened: False" in result.stdout
    assert "could not open a browser: no browser was found on this machine" in result.stdout
    assert f"open {URL} yourself" in result.stdout


def test_open_with_a_browser_says_nothing_more(tmp_path: Path) -> None:
    # A "browser" that accepts the address and exits 0.
    result = open_browser_with(
        {"PATH": str(tmp_path), "HOME": str(tmp_path), "BROWSER": "/bin/true"}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "opened: True\n"


def test_open_with_a_browser_that_fails_prints_the_address(tmp_path: Path) -> None:
    result = open_browser_with(
        {"PATH": str(tmp_path), "HOME": str(tmp_path), "BROWSER": "/bin/false"}
    )
    assert "opened: False" in result.stdout
    assert "could not open a browser: the browser did not start" in result.stdout
    assert f"open {URL} yourself" in result.stdout


def test_help_names_the_commands_beside_serving(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    said = capsys.readouterr().out
    assert "concviz run FILE.py" in said
    assert "concviz worker --join URL" in said
    assert "rediss://" in said
