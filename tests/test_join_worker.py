"""`concviz worker --join`, a real process, joining a run of a real server
(uvicorn in a thread of the test, serving a lesson that takes joins): it
shows on the stage with this machine's name and its program's real pid,
and leaves cleanly on SIGINT, on a revoke, and when the run ends; a wrong
address is one line and exit code 2. (tests/test_join_live.py joins the
broker lesson itself, on a real Redis server.)"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from conftest import ROOT, free_port
from joinlesson import REDIS_URL, SLUG, joined_lesson
from ssereader import messages

from app.experiments import EXPERIMENTS
from app.joining.wire import host_label
from app.programs.rundirs import BASE_DIR
from app.settings import Settings
from app.web.app import create_app

HOST = host_label(socket.gethostname())


class ThreadServer:
    """The app served by uvicorn in a thread of the test's own process (so
    that it serves the test's lesson)."""

    def __init__(self, db: Path) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        app = create_app(Settings(db=str(db), port=port))
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert self.thread.is_alive(), "the server did not start"
            assert time.monotonic() < deadline, "the server did not start in time"
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadServer]:
    EXPERIMENTS[SLUG] = joined_lesson(tmp_path)
    served = ThreadServer(tmp_path / "runs.sqlite3")
    try:
        yield served
    finally:
        served.stop()
        del EXPERIMENTS[SLUG]


class Worker:
    """`python -m app worker ...` as a student runs it; its output in a file."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.out_path = tmp_path / f"worker-{time.monotonic_ns()}.txt"
        self._out = self.out_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app", "worker", *args],
            cwd=ROOT,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal's Ctrl-C is ours to send
        )

    def output(self) -> str:
        return self.out_path.read_text()

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert self.proc.poll() is None or text in self.output(), self.output()
            assert time.monotonic() < deadline, self.output()
            time.sleep(0.02)
        return self.output()

    def exit_code(self, timeout: float = 30) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._out.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._out.close()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Any]:
    started: list[Worker] = []

    def start(*args: str) -> Worker:
        w = Worker(tmp_path, *args)
        started.append(w)
        return w

    yield start
    for w in started:
        w.kill()


def run_of(c: httpx.Client) -> tuple[str, str]:
    run = c.post("/api/runs", json={"experiment": SLUG}).json()
    return run["id"], c.get(f"/api/runs/{run['id']}/join").json()["url"]


def shown(c: httpx.Client, run_id: str, name: str) -> dict[str, Any] | None:
    return next(
        (w for w in c.get(f"/api/runs/{run_id}").json()["workers"] if w["name"] == name), None
    )


def wait_until(check: Any, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    return found


def pid_of(output: str) -> int:
    line = next(ln for ln in output.splitlines() if " runs as pid " in ln)
    return int(line.split(" runs as pid ")[1].split()[0])


def left_nothing(worker: Worker, pid: int) -> None:
    """No process of its program, no temp dir of its runs."""
    assert not os.path.exists(f"/proc/{pid}")
    leftovers = [p for p in BASE_DIR.glob(f"{worker.proc.pid}-*")] if BASE_DIR.exists() else []
    assert leftovers == []


def test_a_worker_joins_shows_on_the_stage_and_leaves_on_sigint(
    server: ThreadServer, workers: Any
) -> None:
    with httpx.Client(base_url=server.url, timeout=15) as c:
        run_id, url = run_of(c)
        w = workers("--join", url)
        said = w.wait_for(" runs as pid ")
        pid = pid_of(said)
        assert f"joined run {run_id} ({SLUG}) at {server.url} as {HOST}/consumer" in said
        on_stage = wait_until(lambda: shown(c, run_id, f"{HOST}/consumer"))
        assert on_stage["pid"] == pid
        assert on_stage["alive"]
        assert os.path.exists(f"/proc/{pid}")
        w.proc.send_signal(signal.SIGINT)
        assert w.exit_code() == 0
        said = w.output()
        assert "leaving (interrupted)" in said
        assert f"left run {run_id}" in said
        left_nothing(w, pid)
        gone = wait_until(
            lambda: (s := shown(c, run_id, f"{HOST}/consumer")) and not s["alive"] and s
        )
        assert gone["pid"] == pid
        assert c.get(f"/api/runs/{run_id}/join").json()["workers"] == []
        assert c.get(f"/api/runs/{run_id}").json()["status"] == "running"
        c.post(f"/api/runs/{run_id}/stop")


def test_a_producer_joins_as_asked_and_a_revoke_stops_it(
    server: ThreadServer, workers: Any
) -> None:
    with httpx.Client(base_url=server.url, timeout=15) as c:
        run_id, url = run_of(c)
        w = workers("--join", url, "--as", "producer")
        pid = pid_of(w.wait_for(" runs as pid "))
        wait_until(lambda: shown(c, run_id, f"{HOST}/producer"))
        c.delete(f"/api/runs/{run_id}/join")
        assert w.exit_code() == 1
        said = w.output()
        assert "stopping: the presenter revoked joining" in said
        left_nothing(w, pid)
        assert not wait_until(
            lambda: (s := shown(c, run_id, f"{HOST}/producer")) and not s["alive"] and s
        )["alive"]
        again = workers("--join", url)
        assert again.exit_code() == 2
        assert "the join address was refused" in again.output()
        c.post(f"/api/runs/{run_id}/stop")


def test_the_run_ending_ends_its_joined_workers(server: ThreadServer, workers: Any) -> None:
    with httpx.Client(base_url=server.url, timeout=15) as c:
        run_id, url = run_of(c)
        w = workers("--join", url)
        pid = pid_of(w.wait_for(" runs as pid "))
        c.post(f"/api/runs/{run_id}/stop")
        assert w.exit_code() == 0
        assert "stopping: the run has ended" in w.output()
        left_nothing(w, pid)
        late = workers("--join", url)
        assert late.exit_code() == 2
        assert f"run {run_id} is not going on" in late.output()


def test_a_wrong_address_is_one_line_and_exit_code_2(server: ThreadServer, workers: Any) -> None:
    with httpx.Client(base_url=server.url, timeout=15) as c:
        run_id, url = run_of(c)
        wrong = workers("--join", url[:-4] + "AAAA")
        unreachable = workers("--join", f"http://127.0.0.1:{free_port()}/join/{run_id}/{'A' * 32}")
        no_join = workers("--join", server.url)
        no_role = workers("--join", url, "--as", "boss")
        for w, says in (
            (wrong, "the join address was refused"),
            (unreachable, "cannot reach concviz at"),
            (no_join, "is no join address"),
            (no_role, "--as must be one of consumer, producer"),
        ):
            assert w.exit_code() == 2
            lines = w.output().strip().splitlines()
            assert len(lines) == 1, lines
            assert says in lines[0]
        c.post(f"/api/runs/{run_id}/stop")


def test_a_joined_program_prints_on_the_runs_console_with_the_runs_clock(
    server: ThreadServer, workers: Any
) -> None:
    """It is given the run's Redis URL (its loopback host as it is: this
    worker reached concviz on this machine) and its role and label."""
    with httpx.Client(base_url=server.url, timeout=15) as c:
        run_id, url = run_of(c)
        w = workers("--join", url)
        w.wait_for(" runs as pid ")
        with c.stream("GET", f"/api/runs/{run_id}/events") as s:
            for m in messages(s):
                e = m.json()
                if e["kind"] == "out" and e["worker"] == f"{HOST}/consumer":
                    break
        assert e["data"]["text"] == f"consumer {HOST}/consumer on {REDIS_URL}\n"
        assert 0 <= e["t"] < 60
        w.proc.send_signal(signal.SIGINT)
        assert w.exit_code() == 0
        c.post(f"/api/runs/{run_id}/stop")
