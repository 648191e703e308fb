"""A live server with the test-only experiments of `faultexp` added."""

from __future__ import annotations

import os
import time
from pathlib import Path

from conftest import ARTIFACTS, LiveServer, free_port

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
        self.db = db or ARTIFACTS / f"runs-{self.port}-{time.monotonic_ns()}.sqlite3"
        path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
        self._start(
            ["-c", "import faultexp; faultexp.serve()", *args],
            {"PYTHONPATH": path, **(env or {})},
            ARTIFACTS / f"server-{self.port}-{time.monotonic_ns()}.log",
        )
