"""Benchmark: the bytes a viewer of a live run receives each second.

Run it with the project's interpreter from anywhere; about half a minute::

    python bench/bytes.py                      # 2x2 at its defaults, 16x16 at full speed
    python bench/bytes.py --seconds 1 --full-workers 2 --warm-up 0.5   # a smoke run

Not part of the test suite (a smoke run is: tests/test_benches.py). Traffic
goes to 127.0.0.1 only.

For each run (the producer/consumer lesson, 2 producers and 2 consumers at
its default times; then 16 and 16 at full speed: no work, speed 20), through
the real server (`python -m app`, `--fps 20`), in the same window:

- *whole frames* (the baseline: what every viewer got before patches): the
  first message of a fresh connection is the whole stage; a sampler opens
  one every 0.2 s, and this is their mean size times the frames a viewer got;
- *patches*: a viewer that sends no Accept-Encoding, every byte it received
  (HTTP chunking included);
- *patches, deflated*: a viewer that takes `deflate`, as browsers do.

A page also holds the run's timeline stream (`/runs/{id}/timeline`, its
drawing twice a second, deflated against the previous one for a viewer
that takes deflate): its bytes are printed too, and the page's total.

Printed for each: KiB/s per viewer, and the ratio to the baseline. Targets
(the issue): <= 8 KiB/s at 2x2, <= 64 KiB/s at 16x16 full speed.
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
import threading
import time
import zlib
from pathlib import Path
from typing import Any

from fanout import http, start_app, stop  # next to this file

KIB = 1024
SAMPLE_EVERY_S = 0.2


def _request(path: str, deflate: bool) -> bytes:
    extra = "Accept-Encoding: deflate\r\n" if deflate else ""
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()


def _dechunk(buf: bytes) -> tuple[bytes, bytes]:
    """The body in the whole chunks of `buf`, and what is left of it."""
    body = b""
    while True:
        eol = buf.find(b"\r\n")
        if eol < 0:
            return body, buf
        size = int(buf[:eol], 16)
        if len(buf) < eol + 2 + size + 2:
            return body, buf
        body += buf[eol + 2 : eol + 2 + size]
        buf = buf[eol + 2 + size + 2 :]


class Viewer(threading.Thread):
    """Reads a frame stream until `stop`: bytes received, and messages."""

    def __init__(self, port: int, path: str, deflate: bool, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port, self.path, self.deflate, self.stop = port, path, deflate, stop
        self.wire = 0
        self.messages = 0
        self.patches = 0
        self.counting = False

    def run(self) -> None:
        inflate = zlib.decompressobj(-15)
        with socket.create_connection(("127.0.0.1", self.port)) as s:
            s.sendall(_request(self.path, self.deflate))
            s.settimeout(0.2)
            head, rest, text = b"", b"", ""
            while not self.stop.is_set():
                try:
                    data = s.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    return
                if not head:  # the response's head is not counted
                    head, _, data = data.partition(b"\r\n\r\n")
                if self.counting:
                    self.wire += len(data)
                body, rest = _dechunk(rest + data)
                text += (inflate.decompress(body) if self.deflate else body).decode()
                *done, text = text.split("\n\n")
                if self.counting:
                    self.messages += sum(": made " in m for m in done)
                    self.patches += sum("<hx-partial" in m for m in done)


def whole_frame(port: int, path: str) -> int:
    """The size of a fresh viewer's first message: the whole stage."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(_request(path, False))
        buf, body = b"", b""
        while b"\n\n" not in body:
            buf += s.recv(65536)
            if b"\r\n\r\n" in buf and not body:
                buf = buf.partition(b"\r\n\r\n")[2]
            got, buf = _dechunk(buf)
            body += got
        return len(body.partition(b"\n\n")[0]) + 2


def measure(port: int, params: dict[str, Any], seconds: float, warm_up: float) -> dict[str, float]:
    run = http(port, "POST", "/api/runs", {"experiment": "producer-consumer", "params": params})
    path = f"/runs/{run['id']}/stream"
    stop_ = threading.Event()
    timeline = f"/runs/{run['id']}/timeline"
    viewers = [
        Viewer(port, path, False, stop_),
        Viewer(port, path, True, stop_),
        Viewer(port, timeline, False, stop_),
        Viewer(port, timeline, True, stop_),
    ]
    for v in viewers:
        v.start()
    time.sleep(warm_up)
    for v in viewers:
        v.counting = True
    sizes = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sizes.append(whole_frame(port, path))
        time.sleep(SAMPLE_EVERY_S)
    stop_.set()
    for v in viewers:
        v.join(5)
    http(port, "POST", f"/api/runs/{run['id']}/stop")
    plain, deflated, drawing, drawing_deflated = viewers
    fps = plain.messages / seconds
    return {
        "fps": fps,
        "frame": sum(sizes) / len(sizes),
        "whole": sum(sizes) / len(sizes) * fps / KIB,
        "patches": plain.wire / seconds / KIB,
        "deflated": deflated.wire / seconds / KIB,
        "patched": plain.patches / max(1, plain.messages),
        "timeline": drawing.wire / seconds / KIB,
        "timeline_deflated": drawing_deflated.wire / seconds / KIB,
    }


def line(name: str, m: dict[str, float], target: float) -> str:
    return (
        f"{name:<22} {m['fps']:5.1f} frames/s; whole frames {m['whole']:7.1f} KiB/s"
        f" ({m['frame']:.0f} B each); patches {m['patches']:6.1f} KiB/s"
        f" (ratio {m['patches'] / m['whole']:.3f}, {m['patched']:.0%} of messages);"
        f" deflated {m['deflated']:5.1f} KiB/s (ratio {m['deflated'] / m['whole']:.3f});"
        f" target <= {target:g} KiB/s\n{'':<22} its timeline stream: {m['timeline']:.1f} KiB/s,"
        f" deflated against the last drawing {m['timeline_deflated']:.1f} KiB/s;"
        f" a browser's page (stage and timeline, deflated):"
        f" {m['deflated'] + m['timeline_deflated']:.1f} KiB/s"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0, help="measurement window per run")
    p.add_argument("--warm-up", type=float, default=3.0, help="seconds before each window")
    p.add_argument("--full-workers", type=int, default=16, help="producers and consumers")
    args = p.parse_args()
    n = args.full_workers
    runs = [
        ("2x2 default", {"producers": 2, "consumers": 2, "items_per_producer": 0}, 8.0),
        (
            f"{n}x{n} full speed",
            {
                "producers": n,
                "consumers": n,
                "items_per_producer": 0,
                **dict.fromkeys(["produce_min_ms", "produce_max_ms"], 0),
                **dict.fromkeys(["consume_min_ms", "consume_max_ms"], 0),
                "speed": 20,
            },
            64.0,
        ),
    ]
    with tempfile.TemporaryDirectory(prefix="concviz-bytes-") as tmp:
        port = _free_port()
        app = start_app(port, str(Path(tmp) / "runs.sqlite3"), 20.0)
        try:
            print(f"fps 20; window {args.seconds:g} s; {os.cpu_count()} cores", flush=True)
            for name, params, target in runs:
                print(line(name, measure(port, params, args.seconds, args.warm_up), target))
        finally:
            stop(app)


def _free_port() -> int:
    from serving import free_port

    return free_port()


if __name__ == "__main__":
    main()
