"""Benchmark: the server's memory during a long run at full speed.

Run it with the project's interpreter from anywhere::

    python bench/memory.py                  # 10 minutes
    python bench/memory.py --seconds 60     # a shorter look
    python bench/memory.py --seconds 2 --interval 0.2 --producers 1 --consumers 1   # a smoke run

Not part of the test suite (a smoke run is: tests/test_benches.py). Traffic
goes to 127.0.0.1 only.

The real server (`python -m app`, recording into a temporary database)
runs one producer/consumer run with 16 producers and 16 consumers, every
delay 0 at speed 20, endless, for `--seconds`; one viewer reads the run's
HTML stream the whole time, as an open page would. Every second (or
`--interval`) the script samples the server process's RSS (the workers are
processes of their own and not counted), the run's event count, and the
recording's size on disk.

What bounds the memory, and what the numbers should show:

- events: a ring of the last `event_buffer` events per run (Settings,
  50,000 by default) is kept in memory for the JSON stream; older ones are
  read back from the recording (`app/web/streams.py`). The ring fills in the
  first seconds at full speed, then RSS should stay flat;
- the view state: fixed-size deques (log, timeline lanes, queue depth),
  the last 500 item journeys, and one bit per consumed item;
- frames: one per language in use, latest frame wins per viewer;
- the pipeline from the workers: at most EVENT_QUEUE_BATCHES batches in the
  run's event queue and INFLIGHT_BATCHES handed to the event loop, so a run
  faster than the server slows down instead of filling memory;
- the recorder's queue is not bounded: if SQLite could not keep up with the
  run, it would grow; the numbers show whether it does (events recorded
  should keep pace with events made, and RSS stay flat).

Printed: RSS at the start, once the ring is full, the peak, the end, and the
slope over the second half of the run (MB per minute; about 0 when bounded).
"""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from serving import free_port, wait_healthy  # next to this file

ROOT = Path(__file__).resolve().parents[1]

MiB = 1024 * 1024


def viewer(port: int, path: str, stop: threading.Event, count: list[int]) -> None:
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        s.settimeout(1.0)
        while not stop.is_set():
            try:
                chunk = s.recv(1 << 16)
            except TimeoutError:
                continue
            if not chunk:
                return
            count[0] += chunk.count(b"\nid: ")


def recorded(db: Path, run_id: str) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute(
                "SELECT max(last_seq) FROM chunks WHERE run_id = ?", (run_id,)
            ).fetchone()
            return int(row[0] or 0)
    except sqlite3.Error:
        return -1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=600.0)
    p.add_argument("--producers", type=int, default=16)
    p.add_argument("--consumers", type=int, default=16)
    p.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    args = p.parse_args()

    import httpx
    import psutil

    with tempfile.TemporaryDirectory(prefix="concviz-memory-") as tmp:
        db = Path(tmp) / "runs.sqlite3"
        port = free_port()
        env = {**os.environ, "CONCVIZ_RUN_TIME_LIMIT": str(args.seconds + 120)}
        cmd = [sys.executable, "-m", "app", "--port", str(port), "--db", str(db)]
        server = subprocess.Popen(cmd, cwd=ROOT, env=env)
        url = f"http://127.0.0.1:{port}"
        stop = threading.Event()
        try:
            wait_healthy(port, server)
            with httpx.Client(base_url=url, timeout=30) as c:
                proc = psutil.Process(server.pid)
                rss0 = proc.memory_info().rss
                params: dict[str, Any] = {
                    "producers": args.producers,
                    "consumers": args.consumers,
                    "items_per_producer": 0,
                    "produce_min_ms": 0,
                    "produce_max_ms": 0,
                    "consume_min_ms": 0,
                    "consume_max_ms": 0,
                    "speed": 20,
                }
                r = c.post("/api/runs", json={"experiment": "producer-consumer", "params": params})
                r.raise_for_status()
                rid = r.json()["id"]
                frames = [0]
                threading.Thread(
                    target=viewer, args=(port, f"/runs/{rid}/stream", stop, frames), daemon=True
                ).start()
                print(
                    f"server pid {server.pid}; rss before the run {rss0 / MiB:.1f} MB;"
                    f" run {rid}: {args.producers}x{args.consumers} at full speed for"
                    f" {args.seconds:g} s",
                    flush=True,
                )
                samples: list[tuple[float, int, int]] = []  # t, rss, events
                started = time.monotonic()
                next_print = 0.0
                while (t := time.monotonic() - started) < args.seconds:
                    run = c.get(f"/api/runs/{rid}").json()
                    rss = proc.memory_info().rss
                    samples.append((t, rss, run["events"]))
                    if t >= next_print:
                        print(
                            f"t={t:6.0f} s  rss={rss / MiB:7.1f} MB  events={run['events']:>10}"
                            f"  recorded={recorded(db, rid):>10}  frames seen={frames[0]:>6}"
                            f"  db={db.stat().st_size / MiB:7.1f} MB",
                            flush=True,
                        )
                        next_print += max(5.0, args.seconds / 20)
                    if run["status"] in ("finished", "stopped", "failed"):
                        print(f"the run ended early: {run['status']}: {run['reason']}")
                        break
                    time.sleep(args.interval)
                c.post(f"/api/runs/{rid}/stop")
        finally:
            stop.set()
            server.terminate()
            server.wait(30)
        report(samples, rss0)


def report(samples: list[tuple[float, int, int]], rss0: int) -> None:
    if len(samples) < 4:
        print("too short to say")
        return
    end_t, _, events = samples[-1]
    peak = max(rss for _, rss, _ in samples)
    ring_full = next((s for s in samples if s[2] >= 50_000), samples[len(samples) // 4])
    half = [s for s in samples if s[0] >= end_t / 2]
    ts = [s[0] for s in half]
    rs = [s[1] / MiB for s in half]
    slope = statistics.linear_regression(ts, rs).slope * 60 if len(half) >= 2 else float("nan")
    print(
        f"RESULT rss before {rss0 / MiB:.1f} MB, ring full (t={ring_full[0]:.0f} s)"
        f" {ring_full[1] / MiB:.1f} MB, peak {peak / MiB:.1f} MB, end {samples[-1][1] / MiB:.1f}"
        f" MB; second-half slope {slope:+.2f} MB/min; {events} events in {end_t:.0f} s"
        f" ({events / end_t:.0f}/s)"
    )


if __name__ == "__main__":
    main()
