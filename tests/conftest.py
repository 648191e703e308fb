"""Shared fixtures: a real server on a free port, and the system Chromium."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")
ARTIFACTS = ROOT / "test-artifacts"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run`, in a thread of its own: the session's Playwright browser
    keeps an event loop running in the main thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LiveServer:
    """`python -m app` in a process of its own, as a teacher would start it.
    `port` and `db` may be given, to start a server again in the place of
    one that stopped."""

    def __init__(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        port: int | None = None,
        db: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.db = db or ARTIFACTS / f"runs-{self.port}-{time.monotonic_ns()}.sqlite3"
        log_path = ARTIFACTS / f"server-{self.port}-{time.monotonic_ns()}.log"
        self._start(["-m", "app", *args], env or {}, log_path)

    def _start(self, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        """Run `python <argv> --port --db` and wait until it answers /healthz."""
        self.url = f"http://127.0.0.1:{self.port}"
        ARTIFACTS.mkdir(exist_ok=True)
        self.log_path = log_path
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, *argv, "--port", str(self.port), "--db", str(self.db)],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                output = self.output()
                self._log.close()
                raise RuntimeError(f"server exited early:\n{output}")
            try:
                if httpx.get(self.url + "/healthz", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()  # closes the log
        raise RuntimeError(f"server did not answer /healthz:\n{self.output()}")

    def presenter_token(self) -> str:
        """The token of the presenter's address a `--lan` server printed."""
        deadline = time.monotonic() + 5
        while True:
            found = re.search(r"presenter .*\?token=([\w-]+)", self.output())
            if found:
                return found.group(1)
            assert time.monotonic() < deadline, self.output()
            time.sleep(0.05)

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    server = LiveServer(env={"CONCVIZ_MAX_RUNS": "4", "CONCVIZ_MAX_WORKERS": "64"})
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def own_server() -> Iterator[LiveServer]:
    """A server of the test module's own: no other module's runs in its
    process tree, its descriptors and threads."""
    server = LiveServer(env={"CONCVIZ_MAX_RUNS": "4", "CONCVIZ_MAX_WORKERS": "64"})
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def tidy_client(server: LiveServer, timeout: float) -> Iterator[httpx.Client]:
    """A client of `server` that leaves it as found: no run it started keeps
    going."""
    with httpx.Client(base_url=server.url, timeout=timeout) as c:
        yield c
        for run in c.get("/api/runs").json():
            if run["status"] not in ("finished", "stopped", "failed"):
                c.post(f"/api/runs/{run['id']}/stop")


@pytest.fixture
def own_client(own_server: LiveServer) -> Iterator[httpx.Client]:
    with tidy_client(own_server, 20) as c:
        yield c


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with tidy_client(live_server, 15) as c:
        yield c


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    path = chromium_path()
    if path is None:
        if IN_CI:
            pytest.fail("CI must run the browser tests: Debian's chromium is not installed")
        pytest.skip("BROWSER TESTS SKIPPED: no system chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            b.close()
