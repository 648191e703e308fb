"""A live server with the test-only experiments of `faultexp` added."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from conftest import ARTIFACTS, ROOT, LiveServer, free_port

TESTS = Path(__file__).resolve().parent


class FaultServer(LiveServer):
    """Like `LiveServer`, started through `faultexp.serve()`. `port` and `db`
    may be given, to start a server again in the place of one that stopped."""

    def __init__(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        port: int | None = None,
        db: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        ARTIFACTS.mkdir(exist_ok=True)
        self.log_path = ARTIFACTS / f"server-{self.port}-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("w")
        self.db = db or ARTIFACTS / f"runs-{self.port}-{time.monotonic_ns()}.sqlite3"
        path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "import faultexp; faultexp.serve()"]
            + ["--port", str(self.port), "--db", str(self.db), *args],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": path, **(env or {})},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.output()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not answer /healthz:\n{self.output()}")
