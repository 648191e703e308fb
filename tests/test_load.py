"""Load: a storm of slider moves, a storm of starts, clients that stop
reading or vanish, and thirty clients that reconnect after a restart.
Real servers and processes; traffic only to 127.0.0.1; every wait bounded."""

from __future__ import annotations

import asyncio
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import pytest
from conftest import LiveServer, run_async, tidy_client
from probes import ENDED, family, settle, start, wait_for, with_pids
from ssereader import read_events

# Load and its timing: run alone, not beside other tests (the README's
# command runs these after the rest, in one process).
pytestmark = [pytest.mark.live, pytest.mark.alone]

CAP = 12
MAX_RUNS = 4


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    s = LiveServer(
        env={
            "CONCVIZ_MAX_WORKERS": str(CAP),
            "CONCVIZ_MAX_RUNS": str(MAX_RUNS),
            "CONCVIZ_SEND_TIMEOUT": "1",
            # A small ring of events in memory: the rest is in the recording.
            "CONCVIZ_EVENT_BUFFER": "100",
        }
    )
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with tidy_client(server, 20) as c:
        yield c


def program_workers(server: LiveServer) -> int:
    """The processes of the lessons' programs alive now: the server's
    descendants (a lesson that is a program holds a place under max_workers
    for each one it starts: main, its producers and its consumers)."""
    return len(family(server.proc.pid))


class Sampler:
    """Counts the live worker processes every 10 ms, in a thread."""

    def __init__(self, server: LiveServer) -> None:
        self.samples: list[int] = []
        self._server = server
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._done.is_set():
            self.samples.append(program_workers(self._server))
            self._done.wait(0.01)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(5)


async def storm(url: str, requests: list[tuple[str, str, dict[str, Any]]]) -> list[httpx.Response]:
    """Every request at once, each on a connection of its own."""
    limits = httpx.Limits(max_connections=len(requests))
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as c:
        return await asyncio.gather(*(c.request(m, p, json=b) for m, p, b in requests))


def test_slider_storm_never_passes_the_cap_and_the_accounting_stays_exact(
    server: LiveServer, client: httpx.Client
) -> None:
    # Enough items that the run outlasts the storm on a busy machine (a
    # change to a run that ended is a 409, not what this test is about).
    run = start(
        client,
        producers=2,
        consumers=2,
        items_per_producer=600,
        produce_min_ms=5,
        produce_max_ms=15,
        consume_min_ms=5,
        consume_max_ms=15,
    )
    rid = run["id"]
    wait_for(client, rid, with_pids(4))
    rng = random.Random(8)
    patches = []
    for _ in range(100):
        params: dict[str, int] = {}
        for role in rng.sample(["producers", "consumers"], rng.randint(1, 2)):
            params[role] = rng.randint(1, 16)
        patches.append(("PATCH", f"/api/runs/{rid}", {"params": params}))
    with Sampler(server) as sampler:
        answers = run_async(storm(server.url, patches))
        time.sleep(0.3)  # the last changes take effect
    codes = [r.status_code for r in answers]
    assert set(codes) <= {200, 429}, [r.text for r in answers if r.status_code not in (200, 429)]
    assert codes.count(429) > 0
    assert all("max_workers" in r.json()["detail"] for r in answers if r.status_code == 429)
    assert len(sampler.samples) > 20
    assert max(sampler.samples) <= CAP, max(sampler.samples)

    # The run goes on to its end with every item accounted for.
    client.patch(f"/api/runs/{rid}", json={"params": {"speed": 20}})
    final = wait_for(client, rid, lambda r: r["status"] in ENDED, 30)
    assert final["status"] == "finished", final["reason"]
    counters = final["counters"]
    assert counters["produced"] == counters["consumed"]
    assert counters["in_queue"] == 0
    assert counters["duplicates"] == 0
    producers = [w for w in final["workers"] if w["role"] == "producer"]
    assert counters["produced"] == sum(w["items"] for w in producers)
    assert all(w["items"] <= 600 for w in producers)
    assert not any(w["alive"] for w in final["workers"])
    # Every slot came back: a run as large as the cap starts.
    big = start(client, producers=CAP // 2, consumers=CAP // 2 - 1, items_per_producer=0)
    wait_for(client, big["id"], with_pids(CAP))
    client.post(f"/api/runs/{big['id']}/stop")


def test_start_storm_starts_max_runs_and_leaves_nothing_half_started(
    server: LiveServer, client: httpx.Client
) -> None:
    body = {
        "experiment": "producer-consumer",
        "params": {"producers": 1, "consumers": 1, "items_per_producer": 0},
    }
    answers = run_async(storm(server.url, [("POST", "/api/runs", body)] * 50))
    codes = [r.status_code for r in answers]
    assert codes.count(201) == MAX_RUNS, codes
    assert codes.count(429) == 50 - MAX_RUNS
    assert all("max_runs" in r.json()["detail"] for r in answers if r.status_code == 429)
    started = {r.json()["id"] for r in answers if r.status_code == 201}
    live = {r["id"] for r in client.get("/api/runs").json() if r["status"] not in ENDED}
    assert live == started
    for rid in started:
        wait_for(client, rid, with_pids(3))
    # main, a producer and a consumer each
    assert settle(lambda: program_workers(server), lambda n: n == 3 * MAX_RUNS) == 12
    for rid in started:
        assert client.post(f"/api/runs/{rid}/stop").json()["status"] == "stopped"
    assert settle(lambda: program_workers(server), lambda n: n == 0) == 0


def test_a_json_client_behind_the_ring_gets_the_rest_from_the_recording(
    client: httpx.Client,
) -> None:
    run = start(
        client, producers=3, items_per_producer=40, produce_max_ms=2, consume_max_ms=2, speed=20
    )
    final = wait_for(client, run["id"], lambda r: r["status"] in ENDED, 20)
    assert final["events"] > 300  # three times the ring
    # Read at once: the recorder may not have committed the end yet.
    evs = read_events(client, run["id"])
    assert [e["seq"] for e in evs] == list(range(1, final["events"] + 1))
    assert evs[-1]["kind"] == "run_end"
    resumed = read_events(client, run["id"], last_event_id=7)
    assert resumed == evs[7:]


class FrameReader:
    """A healthy viewer of a run's HTML stream on a raw socket: when each
    frame arrived (the whole stage or a patch: a message with an id), and
    how many watch according to the frames that say it."""

    def __init__(self, port: int, run_id: str) -> None:
        self.arrivals: list[float] = []
        self.watching: list[tuple[float, int]] = []
        self._sock = socket.create_connection(("127.0.0.1", port))
        self._sock.sendall(
            f"GET /runs/{run_id}/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        buf = b""
        try:
            while chunk := self._sock.recv(65536):
                buf += chunk
                *messages, buf = buf.split(b"\n\n")
                now = time.monotonic()
                for m in messages:
                    if not re.search(rb"^id: \d+", m, re.MULTILINE):
                        continue
                    self.arrivals.append(now)
                    found = re.search(rb"(\d+) watching", m)
                    if found:
                        self.watching.append((now, int(found.group(1))))
        except OSError:
            pass

    def close(self) -> None:
        self._sock.close()


def stalled_client(port: int, run_id: str) -> socket.socket:
    """Connects, asks for the stream, and never reads (a tiny window)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(f"GET /runs/{run_id}/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return s


VANISHING = """
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(("GET /runs/%s/stream HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n" % sys.argv[2]).encode())
print("connected", flush=True)
time.sleep(60)
"""


def test_slow_and_vanished_clients_are_dropped_and_delay_nobody() -> None:
    # Frames as large and as frequent as a busy run makes them, so that the
    # stalled clients' socket buffers (megabytes on loopback) fill quickly.
    server = LiveServer(
        env={"CONCVIZ_SEND_TIMEOUT": "1", "CONCVIZ_FPS": "60", "CONCVIZ_MAX_WORKERS": "16"}
    )
    client = httpx.Client(base_url=server.url, timeout=20)
    gone: subprocess.Popen[str] | None = None
    healthy: list[FrameReader] = []
    slow: socket.socket | None = None
    try:
        run = start(
            client,
            producers=8,
            consumers=7,  # and main: 16 workers
            items_per_producer=0,
            produce_max_ms=50,
            consume_max_ms=50,
            speed=2,
        )
        rid = run["id"]
        wait_for(client, rid, with_pids(16))
        rss_before = psutil.Process(server.proc.pid).memory_info().rss
        healthy = [FrameReader(server.port, rid) for _ in range(3)]
        slow = stalled_client(server.port, rid)
        # A client whose machine went away: its process frozen, its socket
        # never read nor closed (the kernel still holds the connection).
        gone = subprocess.Popen(
            [sys.executable, "-c", VANISHING, str(server.port), rid],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert gone.stdout is not None
        assert gone.stdout.readline().strip() == "connected"
        gone.send_signal(signal.SIGSTOP)
        since = time.monotonic()

        def watching() -> int:
            return healthy[0].watching[-1][1] if healthy[0].watching else 0

        # Both are among the watchers at first, then both are dropped: once
        # their socket buffers are full (sooner the more frames a busy
        # machine still draws), after SEND_TIMEOUT_S (1 s here).
        assert settle(watching, lambda n: n == 5, 3) == 5
        assert settle(watching, lambda n: n == 3, 30) == 3, healthy[0].watching[-5:]
        took = time.monotonic() - since
        time.sleep(0.3)
        window_end = time.monotonic()
        rss_after = psutil.Process(server.proc.pid).memory_info().rss
        client.post(f"/api/runs/{rid}/stop")
    finally:
        if gone is not None:
            gone.kill()
            gone.wait()
            assert gone.stdout is not None
            gone.stdout.close()
        if slow is not None:
            slow.close()
        for h in healthy:
            h.close()
        client.close()
        server.stop()
    assert "dropped a client" in server.output()
    # The healthy viewers got their frames all along, at the run's pace.
    for h in healthy:
        during = [t for t in h.arrivals if since <= t <= window_end]
        gaps = [b - a for a, b in zip(during, during[1:], strict=False)]
        assert len(during) >= 15 * (window_end - since), (len(during), took)
        assert max(gaps) < 0.5, max(gaps)
    # Latest frame wins: a stalled client costs one slot, not a backlog.
    assert rss_after - rss_before < 20 * 2**20, (rss_before, rss_after)


async def _sse_client(
    port: int, run_id: str, last_id: int, stop_after: float | None
) -> tuple[list[dict[str, Any]], bool]:
    """Reads /api/runs/{id}/events from `last_id` until the stream ends (or
    `stop_after` seconds, or the connection breaks). Returns the events and
    whether the stream ended on its own."""
    import json

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /api/runs/{run_id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Last-Event-ID: {last_id}\r\n\r\n".encode()
    )
    got: list[dict[str, Any]] = []
    ended = False
    buf = b""
    deadline = time.monotonic() + stop_after if stop_after else None
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert b" 200 " in head.split(b"\r\n")[0], head
        while True:
            timeout = (deadline - time.monotonic()) if deadline else 15
            if timeout <= 0:
                break
            try:
                size_line = await asyncio.wait_for(reader.readuntil(b"\r\n"), timeout)
            except TimeoutError:
                break
            size = int(size_line.strip(), 16)
            if size == 0:
                ended = True
                break
            buf += (await reader.readexactly(size + 2))[:-2]
            *messages, buf = buf.split(b"\n\n")
            for m in messages:
                for line in m.split(b"\n"):
                    if line.startswith(b"data: "):
                        got.append(json.loads(line[6:]))
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
    return got, ended


def test_thirty_clients_resume_after_a_restart_with_no_gap_and_no_duplicate() -> None:
    first = LiveServer()
    port, db = first.port, first.db
    try:
        with httpx.Client(base_url=first.url, timeout=15) as c:
            run = start(
                c,
                producers=2,
                consumers=2,
                items_per_producer=0,
                produce_min_ms=40,
                produce_max_ms=80,
                consume_min_ms=40,
                consume_max_ms=80,
            )
            rid = run["id"]
            wait_for(c, rid, lambda r: r["events"] > 20)

        async def before_restart() -> list[tuple[list[dict[str, Any]], bool]]:
            # Thirty viewers, each reading for a while; the restart cuts the
            # ones still reading.
            rng = random.Random(30)
            return await asyncio.gather(
                *(_sse_client(port, rid, 0, rng.uniform(0.1, 4.0)) for _ in range(30))
            )

        def restart() -> None:
            time.sleep(0.5)
            first.proc.send_signal(signal.SIGTERM)

        threading.Thread(target=restart, daemon=True).start()
        seen = run_async(before_restart())
        first.proc.wait(15)
    finally:
        first.stop()
    assert any(not ended and evs for evs, ended in seen)  # cut by the restart

    second = LiveServer(port=port, db=db)
    try:

        async def after_restart() -> list[tuple[list[dict[str, Any]], bool]]:
            return await asyncio.gather(
                *(_sse_client(port, rid, evs[-1]["seq"] if evs else 0, None) for evs, _ in seen)
            )

        resumed = run_async(after_restart())
        with httpx.Client(base_url=second.url, timeout=15) as c:
            recorded = c.get(f"/api/recordings/{rid}/export").json()
    finally:
        second.stop()
    everything = [e["seq"] for e in recorded["events"]]
    assert everything == list(range(1, len(everything) + 1))
    assert recorded["events"][-1]["kind"] == "run_end"
    for (before, _), (after, ended) in zip(seen, resumed, strict=True):
        assert ended
        seqs = [e["seq"] for e in before + after]
        assert seqs == everything  # no gap, no duplicate, up to the run's end
