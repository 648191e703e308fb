"""`concviz run FILE.py [ARGS]`: watch a program of your own run, live.

If a concviz server already answers on the port, the program is handed to
it; otherwise this command serves (as `concviz` does) and hands it over once
the server answers. Either way the browser opens on the run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from app.programs import source
from app.settings import Settings


def parse_args(argv: list[str]) -> argparse.Namespace:
    from app.cli import add_program_limits

    p = argparse.ArgumentParser(
        prog="concviz run",
        description="Run a Python program under concviz and watch its processes and threads.",
        epilog="Options go before FILE; everything after FILE is the program's own arguments.",
    )
    p.add_argument("--port", type=int, help="the server's port (default 8000; env CONCVIZ_PORT)")
    p.add_argument("--no-open", action="store_true", help="do not open the browser")
    add_program_limits(p)
    p.add_argument("file", help="the program, a .py file")
    p.add_argument("args", nargs=argparse.REMAINDER, help="the program's arguments")
    return p.parse_args(argv)


def read_program(path: Path) -> tuple[str, str]:
    """The program's text and the name it runs under; SystemExit with a
    message a person can act on when it cannot run."""
    try:
        text = source.decoded(path.read_bytes())
    except OSError as exc:
        raise SystemExit(f"concviz: cannot read {path}: {exc}") from None
    except (SyntaxError, ValueError) as exc:  # UnicodeDecodeError is one
        raise SystemExit(
            f"concviz: cannot read {path}: it is not UTF-8, nor in the encoding its"
            f" coding line names ({exc})"
        ) from None
    name = path.name if source.FILENAME.match(path.name) else source.DEFAULT_FILENAME
    if len(text.encode()) > source.MAX_SOURCE_BYTES:
        raise SystemExit(f"concviz: {path} is longer than {source.MAX_SOURCE_BYTES} bytes")
    problem = source.check(text, name)
    if problem is not None:
        raise SystemExit(f"concviz: {path} does not compile: {problem}")
    return text, name


def _request(url: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET")
    req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read() or b"{}")
        except ValueError:
            detail = {"detail": exc.reason}
        return exc.code, detail if isinstance(detail, dict) else {"detail": str(detail)}


def serving(base: str) -> bool:
    try:
        status, body = _request(f"{base}/healthz")
    except (OSError, ValueError):
        return False
    return status == 200 and body.get("status") == "ok"


def submit(base: str, text: str, name: str, args: list[str], open_it: bool) -> bool:
    from app.cli import open_browser

    status, body = _request(
        f"{base}/api/programs", {"source": text, "args": args, "filename": name}
    )
    if status == 201:
        url = f"{base}/programs?run={body['id']}"
        print(f"concviz: {name} runs as run {body['id']}: {url}", flush=True)
        if open_it:
            open_browser(url)
        return True
    if status == 403:
        print(
            f"concviz: the server at {base} takes programs only from its presenter"
            " (classroom mode): paste the program on its presenter's page",
            file=sys.stderr,
        )
    else:
        print(f"concviz: not started: {body.get('detail', status)}", file=sys.stderr)
    return False


def main(argv: list[str]) -> None:
    ns = parse_args(argv)
    text, name = read_program(Path(ns.file))
    port = ns.port or Settings.from_env().port
    base = f"http://127.0.0.1:{port}"
    if serving(base):
        if not submit(base, text, name, ns.args, not ns.no_open):
            raise SystemExit(1)
        return
    from app.cli import serve

    flags = ["--port", str(port)]
    for option, value in vars(ns).items():
        if option.startswith("program_") and value is not None:
            flags += [f"--{option.replace('_', '-')}", str(value)]

    def when_ready(server: str) -> None:
        for _ in range(200):
            if serving(server):
                submit(server, text, name, ns.args, not ns.no_open)
                return
            time.sleep(0.1)
        print("concviz: the server did not answer; the program was not started", file=sys.stderr)

    serve(flags, on_ready=when_ready)
