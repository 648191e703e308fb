"""Joining the broker lesson from another machine: a joined consumer on
the lesson's stage (pure), and a real `concviz worker --join` process on a
real server's broker run under --lan: it takes and acknowledges items that
show on the stage with its host's name and its real pid, and leaves
cleanly on SIGINT; the broker's Redis server answers nobody without its
password."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ARTIFACTS, ROOT, LiveServer

from app.events import RUN_START, from_raw
from app.experiments import EXPERIMENTS
from app.experiments.broker.view import view
from app.joining.translate import Translation, translate
from app.joining.wire import host_label, parse_address
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.rundirs import BASE_DIR

redis = pytest.importorskip("redis")

HOST = host_label(socket.gethostname())
KEY = "redis:127.0.0.1:6390/1/orders"


def test_a_joined_consumer_is_on_the_stage_after_the_lessons_own_with_its_kill() -> None:
    params = EXPERIMENTS["broker"].params().model_dump()  # type: ignore[misc]
    own = [
        (1, "main", 100, 100, RUN_START, None, {"params": params}),
        (2, "main", 100, 100, K.PROC, None, {"name": "MainProcess", "main": True}),
        (
            3,
            "main",
            100,
            100,
            K.NEW,
            KEY,
            {"type": "RedisStream", "lib": "redis", "name": "orders"},
        ),
        (4, "main", 100, 100, K.XGROUP, KEY, {"group": "workers", "start": "0"}),
        (5, "C1", 201, 201, K.PROC, None, {"name": "C1", "ppid": 100}),
        (6, "C1", 201, 201, K.THREAD, None, {"name": "MainThread", "main": True}),
        (7, "P1", 101, 101, K.PUT, KEY, {"v": "{'item': 'P1#1'}", "id": "1-1", "size": None}),
    ]
    tr = Translation("alice", "alice/consumer", "redis:127.0.0.1:6390/1/", 0)
    got = {"v": "{'item': 'P1#1'}", "id": "1-1", "again": False}
    theirs = translate(
        [
            (8, "main", 7, 7, K.PROC, None, {"name": "MainProcess", "main": True}),
            (8, "main", 7, 7, K.THREAD, None, {"name": "MainThread", "main": True}),
            (9, "main", 7, 7, K.NEW, "redis:192.168.1.20:6390/1/orders", {"type": "RedisStream"}),
            (10, "main", 7, 7, K.GET, "redis:192.168.1.20:6390/1/orders",
             {**got, "group": "workers", "consumer": "alice/consumer"}),
            (11, "main", 7, 7, K.ACK, "redis:192.168.1.20:6390/1/orders",
             {"ids": ["1-1"], "group": "workers", "acked": 1}),
        ],
        tr,
        start_ns=0,
        now_ns=100,
    )  # fmt: skip
    state = EXPERIMENTS["broker"].fold_all(
        [from_raw(r, i, 0) for i, r in enumerate(own + theirs, 1)]
    )
    state.status = "running"
    cards = view(state, params)["consumer_cards"]
    assert [(c["w"].name, c["w"].pid, c["killable"]) for c in cards] == [
        ("C1", 201, True),
        ("alice/consumer", 7, True),  # its machine kills it when asked
    ]
    assert cards[1]["count"] == 1
    assert state.acknowledged == {"alice/consumer": 1}
    assert state.lesson_counters()["acknowledged"] == 1


# A real join, on the embedded broker of a server in classroom mode.


@pytest.fixture(scope="module")
def lan() -> Iterator[LiveServer]:
    server = LiveServer("--lan")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def presenter(lan: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=lan.url, timeout=15) as c:
        assert c.get(f"/?token={lan.presenter_token()}").status_code == 303
        yield c
        for run in c.get("/api/runs").json():
            if run["status"] not in ("finished", "stopped", "failed"):
                c.post(f"/api/runs/{run['id']}/stop")


def wait_until(check: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return found


@contextlib.contextmanager
def joined_from_here(url: str) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """`concviz worker --join URL`, as a student's machine runs it, and the
    file its words go to; killed on the way out if it is still there."""
    path = ARTIFACTS / f"worker-{time.monotonic_ns()}.txt"
    with path.open("w") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "app", "worker", "--join", url],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield worker, path
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()


def on_stage(c: httpx.Client, run_id: str, name: str) -> dict[str, Any] | None:
    run = c.get(f"/api/runs/{run_id}").json()
    return next((w for w in run["workers"] if w["name"] == name), None)


@pytest.mark.live
def test_a_worker_on_another_machine_consumes_from_the_run_and_leaves_cleanly(
    lan: LiveServer, presenter: httpx.Client, tmp_path: Path
) -> None:
    c = presenter
    params = {
        "producers": 1,
        "consumers": 1,
        "items_per_producer": 0,
        "produce_min_ms": 0,
        "produce_max_ms": 100,
        "consume_min_ms": 100,
        "consume_max_ms": 200,
        "speed": 20,
    }
    run = c.post("/api/runs", json={"experiment": "broker", "params": params})
    assert run.status_code == 201, run.text
    run_id = run.json()["id"]
    offer = c.get(f"/api/runs/{run_id}/join").json()
    assert offer["command"] == f"concviz worker --join {offer['url']}"
    page = c.get(f"/runs/{run_id}/join").text
    assert offer["command"] in page
    address = parse_address(offer["url"])
    # As another machine reaches it: the server's address on the network.
    join = httpx.get(address.url, timeout=15).json()
    # Redis as the run's own user, with a password of its own, not the server's.
    url = join["env"]["REDIS_URL"]
    assert re.fullmatch(r"redis://concviz-run\d+-[0-9a-f]{8}:[\w-]{20,}@127\.0\.0\.1:\d+/\d+", url)
    guest = redis.Redis.from_url(url, socket_timeout=2)
    assert guest.ping()
    with pytest.raises(redis.exceptions.NoPermissionError):
        guest.config_get("requirepass")  # the server's own settings are not the run's
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    no_password = redis.Redis(host=address.host, port=port, socket_timeout=2)
    with pytest.raises(redis.AuthenticationError):
        no_password.ping()
    no_password.close()

    with joined_from_here(offer["url"]) as (worker, out):
        said = wait_until(lambda: " runs as pid " in (t := out.read_text()) and t)
        pid = int(re.search(r" runs as pid (\d+)", said).group(1))  # type: ignore[union-attr]
        label = f"{HOST}/consumer"
        assert f"as {label}" in said

        def acknowledged() -> dict[str, Any] | None:
            run = c.get(f"/api/runs/{run_id}").json()
            return run if run["lesson"]["acknowledged"].get(label, 0) >= 3 else None

        now = wait_until(acknowledged)
        mine = next(w for w in now["workers"] if w["name"] == label)
        assert (mine["pid"], mine["role"], mine["alive"]) == (pid, "consumer", True)
        assert mine["items"] >= 3
        assert now["status"] == "running"
        worker.send_signal(signal.SIGINT)
        assert worker.wait(30) == 0, out.read_text()
    said = out.read_text()
    assert "leaving (interrupted)" in said
    assert not os.path.exists(f"/proc/{pid}")
    left = list(BASE_DIR.glob(f"{worker.pid}-*"))
    assert left == [], [list(p.rglob("*")) for p in left]
    gone = wait_until(lambda: (w := on_stage(c, run_id, label)) and not w["alive"] and w)
    assert gone["state"] == "finished"  # it left after its item: nothing pending at it
    # Revoked, the run's Redis user is gone with its connections; the run goes on.
    assert c.delete(f"/api/runs/{run_id}/join").status_code == 200
    with pytest.raises(redis.ConnectionError):  # its connection was closed
        guest.ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(url, socket_timeout=2).ping()
    guest.close()
    assert c.get(f"/api/runs/{run_id}").json()["status"] == "running"
    assert c.post(f"/api/runs/{run_id}/stop").json()["status"] == "stopped"


@pytest.mark.live
def test_the_presenters_kill_reaches_a_joined_consumer_on_its_machine(
    lan: LiveServer, presenter: httpx.Client
) -> None:
    c = presenter
    params = {"producers": 1, "consumers": 1, "items_per_producer": 0, "speed": 20}
    run_id = c.post("/api/runs", json={"experiment": "broker", "params": params}).json()["id"]
    offer = c.get(f"/api/runs/{run_id}/join").json()
    label = f"{HOST}/consumer"
    with joined_from_here(offer["url"]) as (worker, out):
        wait_until(lambda: (w := on_stage(c, run_id, label)) and w["alive"])
        killed = c.post(f"/api/runs/{run_id}/kill", json={"worker": label})
        assert killed.status_code == 200, killed.text
        gone = wait_until(lambda: (w := on_stage(c, run_id, label)) and not w["alive"] and w)
        assert gone["state"] == "killed"
        assert worker.wait(30) != 0  # its program was killed: it left
    said = out.read_text()
    assert f"the presenter killed process {gone['pid']}" in said
    assert not os.path.exists(f"/proc/{gone['pid']}")
    assert c.get(f"/api/runs/{run_id}").json()["status"] == "running"  # the run goes on
