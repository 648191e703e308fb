"""Strict tooling is part of the suite: lint and types must stay clean."""

from __future__ import annotations

import ast
import subprocess
import sys

from conftest import ROOT


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_ruff_finds_nothing() -> None:
    result = run("ruff", "check", "app", "tests", "bench", "tools")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing() -> None:
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_only_the_web_layer_imports_the_web_framework() -> None:
    """Runs, lessons, the fold and the tracer know nothing of HTTP or
    templates: only app/web imports FastAPI, Starlette or Jinja."""
    framework = {"fastapi", "starlette", "jinja2"}
    web = ROOT / "app" / "web"
    found = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        if web in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            found += [
                f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in framework
            ]
    assert found == []
