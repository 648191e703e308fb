"""Benchmark: many viewers on one run's HTML stream, through the real app.

Run it with the project's interpreter from anywhere; a few minutes on a
2-core machine::

    python bench/fanout.py                         # 200, 500, 1000 viewers
    python bench/fanout.py --viewers 1000 --seconds 20
    python bench/fanout.py --no-baseline --viewers 200
    python bench/fanout.py --viewers 3 --seconds 1 --warm-up 0.5   # a smoke run

Not part of the test suite (a smoke run is: tests/test_benches.py). Traffic
goes to 127.0.0.1 only.

What runs
---------

*App*: the real server (`python -m app`, one uvicorn worker, `--fps 20`),
one producer/consumer run busy enough to change its stage every tick (so the
server renders 20 frames a second), and N viewers on `GET /runs/{id}/stream`.

*Baseline*, measured in the same invocation, alternating with the app for
each N: a bare ASGI app on the same uvicorn (same HTTP parser and event
loop) that publishes frames of a fixed size (2 KiB: the anchor in the design
notes, and the size of the app's whole frame, which every frame was before
the app sent patches, to tell the cost of bytes from the cost of the app) at
the same rate, latest frame wins, one task per viewer (and, as the app's
streams have, a wait for the viewer to leave, which ends its stream).

Viewers are raw asyncio connections (an `asyncio.Protocol`, no SSE library:
an httpx client costs about 5x the CPU and would measure itself), spread
over client processes of their own, started before the measurement.

What is measured
----------------

Each frame carries the time it was made, as an SSE comment line
(`: made <unix time>`, which the app's streams send with every frame; see
`app/web/streams.py`). A viewer counts the frames it receives during the
window and takes `receipt time - made` for each: the latency from the moment
the frame existed to the moment a viewer process had its bytes (so it
includes the server's queueing for that viewer and the client's own). Then:

- frames per second per viewer: median and worst over the viewers;
- latency p50 and p99 over every frame of every viewer;
- server CPU: the server process's user+system time over the window, in
  percent of one core (the run's worker processes are not the server);
- the frames the server made per second (seen by the best viewer).
- the bytes a viewer received per second (median over the viewers; the
  viewers take no `deflate`, so the app's patches are counted as they are).

Targets (the issue): 1000 viewers, every viewer at least 19 fps, p99 under
100 ms.

Keep this module's top level light: it is also the client and the baseline
server (`--client`, `--serve-bare`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from serving import free_port, wait_healthy  # next to this file

ROOT = Path(__file__).resolve().parents[1]

MARK = b": made "
VIEWERS_PER_CLIENT = 250


# --- The viewer (one client process holds many) -------------------------------


class Viewer(asyncio.Protocol):
    def __init__(self, request: bytes, window: list[float]) -> None:
        self.request = request
        self.window = window  # [start, end] in time.time(), set by the client
        self.frames = 0
        self.bytes = 0
        self.latencies: list[float] = []
        self.connected = asyncio.get_running_loop().create_future()
        self._tail = b""

    def connection_made(self, transport: Any) -> None:
        transport.write(self.request)
        self.connected.set_result(None)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        start, end = self.window
        if not start <= now <= end:
            self._tail = data[-40:]
            return
        self.bytes += len(data)
        buf = self._tail + data
        done = 0  # everything before this index is counted
        i = buf.find(MARK)
        while i >= 0:
            j = buf.find(b"\n", i)
            if j < 0:
                break  # the rest of the line comes with the next chunk
            self.frames += 1
            self.latencies.append(now - float(buf[i + len(MARK) : j]))
            done = j
            i = buf.find(MARK, j)
        # Keep what may hold the start of a marker cut by this chunk's end.
        self._tail = buf[i:] if i >= 0 else buf[max(done, len(buf) - len(MARK)) :]


async def _client(port: int, path: str, n: int, start: float, seconds: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    window = [start, start + seconds]
    viewers = []
    for _ in range(n):
        v = Viewer(request, window)
        await loop.create_connection(lambda v=v: v, "127.0.0.1", port)  # type: ignore[misc]
        viewers.append(v)
    await asyncio.sleep(max(0.0, window[1] - time.time()) + 0.2)
    lat = [x for v in viewers for x in v.latencies]
    return {
        "fps": [v.frames / seconds for v in viewers],
        "lat": lat,
        "bytes": [v.bytes / seconds for v in viewers],
    }


def client_main(args: argparse.Namespace) -> None:
    out = asyncio.run(_client(args.port, args.path, args.n, args.start, args.seconds))
    json.dump(out, sys.stdout)


# --- The baseline server --------------------------------------------------------


def bare_main(args: argparse.Namespace) -> None:
    import uvicorn

    period = 1.0 / args.fps
    pad = b"x" * args.size
    state: dict[str, Any] = {"frame": b"", "changed": None}

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        n, next_at = 0, loop.time()
        while True:  # a fixed cadence, as the app's own ticker
            n += 1
            state["frame"] = b": made %.6f\ndata: %s\nid: %d\n\n" % (time.time(), pad, n)
            changed, state["changed"] = state["changed"], asyncio.Event()
            changed.set()
            next_at = max(next_at + period, loop.time())
            await asyncio.sleep(next_at - loop.time())

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    state["changed"] = asyncio.Event()
                    state["task"] = asyncio.get_running_loop().create_task(ticker())
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})

        async def stream() -> None:
            while True:  # latest frame wins: one slot, the newest
                await state["changed"].wait()
                await send(
                    {"type": "http.response.body", "body": state["frame"], "more_body": True}
                )

        task = asyncio.get_running_loop().create_task(stream())
        try:  # a stream that outlived its viewer would hold the server's shutdown up
            while (await receive())["type"] != "http.disconnect":
                pass
        finally:
            task.cancel()

    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


# --- The driver ----------------------------------------------------------------


def http(port: int, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    import httpx

    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
        r = c.request(method, path, json=body)
        r.raise_for_status()
        return r.json()


def measure(
    port: int, path: str, viewers: int, seconds: float, server_pid: int, warm_up: float = 3.0
) -> dict[str, float]:
    import psutil

    clients = []
    per = [VIEWERS_PER_CLIENT] * (viewers // VIEWERS_PER_CLIENT)
    if viewers % VIEWERS_PER_CLIENT:
        per.append(viewers % VIEWERS_PER_CLIENT)
    # Every viewer connects first; the window opens after a warm-up.
    start = time.time() + warm_up + viewers / 400
    for n in per:
        cmd = [sys.executable, __file__, "--client", "--port", str(port), "--path", path]
        cmd += ["--n", str(n), "--start", repr(start), "--seconds", str(seconds)]
        clients.append(subprocess.Popen(cmd, stdout=subprocess.PIPE))
    server = psutil.Process(server_pid)
    time.sleep(max(0.0, start - time.time()))
    cpu0, t0 = sum(server.cpu_times()[:2]), time.monotonic()
    time.sleep(seconds)
    cpu1, t1 = sum(server.cpu_times()[:2]), time.monotonic()
    fps: list[float] = []
    lat: list[float] = []
    rates: list[float] = []
    for c in clients:
        out, _ = c.communicate(timeout=60 + seconds)
        got = json.loads(out)
        fps += got["fps"]
        lat += got["lat"]
        rates += got["bytes"]
    lat.sort()

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")

    return {
        "viewers": len(fps),
        "fps_median": statistics.median(fps) if fps else 0.0,
        "fps_worst": min(fps) if fps else 0.0,
        "fps_made": max(fps) if fps else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "cpu_pct": 100 * (cpu1 - cpu0) / (t1 - t0),
        "kib_s": statistics.median(rates) / 1024 if rates else 0.0,
    }


def start_app(port: int, db: str, fps: float) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CONCVIZ_FPS": str(fps), "CONCVIZ_RUN_TIME_LIMIT": "3600"}
    cmd = [sys.executable, "-m", "app", "--port", str(port), "--db", db]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    wait_healthy(port, proc)
    return proc


def start_bare(port: int, fps: float, size: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, __file__, "--serve-bare", "--port", str(port)]
    cmd += ["--fps", str(fps), "--size", str(size)]
    proc = subprocess.Popen(cmd)
    wait_healthy(port, proc, "/")
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def line(name: str, m: dict[str, float]) -> str:
    return (
        f"{name:<13} viewers={m['viewers']:>5.0f}  fps/viewer median={m['fps_median']:5.1f}"
        f" worst={m['fps_worst']:5.1f} (made {m['fps_made']:4.1f})  latency p50={m['p50_ms']:6.1f}"
        f" ms p99={m['p99_ms']:7.1f} ms  server cpu={m['cpu_pct']:5.1f}% of a core"
        f"  received={m['kib_s']:6.1f} KiB/s per viewer"
    )


def driver(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="concviz-fanout-") as tmp:
        app_port = free_port()
        app = start_app(app_port, str(Path(tmp) / "runs.sqlite3"), args.fps)
        try:
            params = {
                "producers": 2,
                "consumers": 2,
                "items_per_producer": 0,
                "produce_min_ms": 20,
                "produce_max_ms": 60,
                "consume_min_ms": 20,
                "consume_max_ms": 60,
            }
            run = http(
                app_port, "POST", "/api/runs", {"experiment": "producer-consumer", "params": params}
            )
            path = f"/runs/{run['id']}/stream"
            time.sleep(1.0)
            size = len(_one_frame(app_port, path))
            print(
                f"app frame: {size} bytes on the wire; fps {args.fps:g}; window"
                f" {args.seconds:g} s; {os.cpu_count()} cores",
                flush=True,
            )
            for n in args.viewers:
                if not args.no_baseline:
                    for label, frame_size in (("bare 2 KiB", 2048), ("bare same", size)):
                        bare_port = free_port()
                        bare = start_bare(bare_port, args.fps, frame_size)
                        try:
                            print(
                                line(
                                    label,
                                    measure(
                                        bare_port, "/", n, args.seconds, bare.pid, args.warm_up
                                    ),
                                ),
                                flush=True,
                            )
                        finally:
                            stop(bare)
                m = measure(app_port, path, n, args.seconds, app.pid, args.warm_up)
                print(line("app", m), flush=True)
            http(app_port, "POST", f"/api/runs/{run['id']}/stop")
        finally:
            stop(app)


def _one_frame(port: int, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        buf = b""
        while buf.count(MARK) < 2:
            buf += s.recv(65536)
        first = buf.index(MARK)
        return buf[first : buf.index(MARK, first + 1)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--viewers", type=lambda s: [int(x) for x in s.split(",")], default=[200, 500, 1000]
    )
    p.add_argument("--seconds", type=float, default=10.0, help="measurement window")
    p.add_argument("--fps", type=float, default=20.0)
    p.add_argument(
        "--warm-up",
        type=float,
        default=3.0,
        help="seconds for the viewers to connect before each window (plus 1 s per 400 viewers)",
    )
    p.add_argument("--no-baseline", action="store_true")
    # Internal: the client processes and the baseline server.
    p.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--path", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--start", type=float, help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, default=2048, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.client:
        client_main(args)
    elif args.serve_bare:
        bare_main(args)
    else:
        driver(args)


if __name__ == "__main__":
    main()
