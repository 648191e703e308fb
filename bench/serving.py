"""Starting a server for a benchmark: a free port, and waiting until the
server answers."""

from __future__ import annotations

import socket
import subprocess
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_healthy(
    port: int, proc: subprocess.Popen[bytes], path: str = "/healthz", timeout: float = 30.0
) -> None:
    """Until GET `path` answers 200; raises if `proc` exits first, or after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited early (exit code {proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
                if b" 200 " in s.recv(64):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the server did not answer {path} within {timeout:g} s")
