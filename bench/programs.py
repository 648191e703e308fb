"""Benchmark: what tracing costs an unmodified program.

    python bench/programs.py                    # 200,000 items, 3 rounds
    python bench/programs.py --items 50000 --rounds 1 --no-viztracer

Not part of the test suite (a smoke run is: tests/test_benches.py). The
program is a plain one-producer/one-consumer `multiprocessing.Queue`
program with no work per item (`PROGRAM` below); it times itself, from
before its first `put` to after its last `get`, and prints items per
second. It runs, alternating within each round so that drift hits all
alike:

- *bare*: `python prog.py N`, nothing else;
- *traced*: under the tracer exactly as concviz runs a user's program
  (`app.programs.launch`, the run's FIFO), with a reader that takes every
  batch off the FIFO and decodes it, as the server's reader thread does,
  and counts the events (the fold, recording and frames are the server's
  business: bench/ingest.py);
- *floor*: the same program plus the least any tracer of its events must
  do, written inline (`FLOOR`): a stamped record of each `put` and each
  `get`, and of each wait, seen before the `get` blocks (one poll(2) of
  the queue's pipe, as the tracer looks), sent in batches of 256 in the
  tracer's frames through a run's FIFO to a reader here that decodes them
  as the server's reader does. The tracer's target: within 10% of it;
- *served*: the same program through a real server (`POST /api/programs`):
  events numbered, folded, recorded and drawn for one viewer, who reads
  the run's frames and timeline as its page does (`--viewers N` for more,
  0 for none); the next round waits until the server is done with them
  (its CPU idle), and the server's CPU time for the run is printed per
  event;
- *VizTracer*: `python -m viztracer prog.py N`, the tool people reach for
  today, which records every function call to a file it writes at the end
  (left out, saying so, where VizTracer is not installed: it is not one of
  the project's dependencies).

Printed: items/s of each, the ratio to bare (target for traced: >= 0.7),
events per second the tracer sustained, events lost (must be 0: the tracer
never drops silently; a full FIFO makes the program wait), and VizTracer's
trace size.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import queue
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

# Both programs' main: a consumer, then a producer of N items, timed from
# the producer's start to the consumer's last get.
MAIN = """

if __name__ == "__main__":
    q = Queue()
    done = Queue()
    consumer = Process(target=consume, args=(q, N, done), name="consumer")
    consumer.start()
    t0 = time.perf_counter()
    producer = Process(target=produce, args=(q, N), name="producer")
    producer.start()
    t1 = done.get()
    producer.join()
    consumer.join()
    print(f"{N / (t1 - t0):.0f} items/s")
"""

PROGRAM = (
    """\
import sys
import time
from multiprocessing import Process, Queue

N = int(sys.argv[1])


def produce(q, n):
    for i in range(n):
        q.put(i)


def consume(q, n, out):
    for _ in range(n):
        q.get()
    out.put(time.perf_counter())
"""
    + MAIN
)

# The program with the least a tracer must do, inline (argv: N, the FIFO,
# the directory holding the tracer's `wire` module).
FLOOR = (
    """\
import os
import select
import sys
import threading
import time
from multiprocessing import Process, Queue

N = int(sys.argv[1])
sys.path.insert(0, sys.argv[3])
from app.programs.boot.concviz_tracer import wire


def sender():
    fd = os.open(sys.argv[2], os.O_WRONLY)
    pid, tid = os.getpid(), threading.get_native_id()

    def send(batch):
        for message in wire.messages(wire.encode(batch), pid, tid):
            os.write(fd, message)

    return send


def produce(q, n):
    send, now, batch = sender(), time.monotonic_ns, []
    for i in range(n):
        batch.append((now(), "producer", "put", i))
        q.put(i)
        if len(batch) >= 256:
            send(batch)
            batch = []
    send(batch)


def consume(q, n, out):
    send, now, batch = sender(), time.monotonic_ns, []
    poller = select.poll()
    poller.register(q._reader.fileno(), select.POLLIN)
    for _ in range(n):
        if not poller.poll(0):
            batch.append((now(), "consumer", "get_wait", None))
        item = q.get()
        batch.append((now(), "consumer", "get", item))
        if len(batch) >= 256:
            send(batch)
            batch = []
    send(batch)
    out.put(time.perf_counter())
"""
    + MAIN
)

RATE = re.compile(r"(\d+) items/s")


def bare(script: Path, n: int) -> float:
    out = subprocess.run(
        [sys.executable, str(script), str(n)], capture_output=True, text=True, check=True
    ).stdout
    return float(RATE.search(out).group(1))  # type: ignore[union-attr]


def read_events(fifo, counts: dict[str, int], running: threading.Event) -> None:  # type: ignore[no-untyped-def]
    """The server's reader, minus the fold: take every batch off the FIFO
    (decoded), count its events and those the tracer says it lost."""
    from app.programs.boot.concviz_tracer import kinds as K

    while True:
        try:
            batch = fifo.get(timeout=0.2)
        except queue.Empty:
            if not running.is_set():
                return
            continue
        counts["events"] += len(batch)
        for raw in batch:
            if len(raw) == 7 and raw[4] == K.LOST:
                counts["lost"] += int(raw[6]["events"])


def traced(workdir: Path, n: int, floor: bool = False) -> tuple[float, int, int]:
    """items/s, events read, events the tracer said it lost. `floor`: the
    floor's program, untraced, with its own records."""
    from app.programs.fifo import EventFifo
    from app.programs.launch import NO_ECHO, TraceOptions, launch

    fifo = EventFifo(workdir)
    counts = {"events": 0, "lost": 0}
    running = threading.Event()
    running.set()
    reader = threading.Thread(target=read_events, args=(fifo, counts, running))
    reader.start()
    life_w = -1
    try:
        if floor:
            (workdir / "floor.py").write_text(FLOOR)
            out = subprocess.run(
                [sys.executable, "floor.py", str(n), str(fifo.path), str(ROOT)],
                capture_output=True,
                text=True,
                check=True,
                cwd=workdir,
            ).stdout
        else:
            life_r, life_w = os.pipe()
            # Its printed rate in stdout.txt too, not only as an event.
            options = TraceOptions(life_fd=life_r, extra_env={NO_ECHO: ""})
            proc = launch("prog.py", [str(n)], workdir, fifo.path, options)
            os.close(life_r)
            proc.wait()
            out = (workdir / "stdout.txt").read_text()
    finally:
        running.clear()
        reader.join()
        if life_w >= 0:
            os.close(life_w)
        fifo.close()
    return float(RATE.search(out).group(1)), counts["events"], counts["lost"]  # type: ignore[union-attr]


def served(base: str, source: str, n: int, viewers: int = 1) -> tuple[float, int]:
    """items/s through a real server, and its event count. `viewers` read
    the run's frames and timeline meanwhile, as a page does."""
    body = json.dumps({"source": source, "args": [str(n)], "filename": "prog.py"}).encode()
    req = urllib.request.Request(
        f"{base}/api/programs", data=body, headers={"content-type": "application/json"}
    )
    run = json.load(urllib.request.urlopen(req))
    watching = [
        threading.Thread(target=view, args=(f"{base}/runs/{run['id']}/{path}",), daemon=True)
        for _ in range(viewers)
        for path in ("stream", "timeline")
    ]
    for w in watching:
        w.start()
    while run["status"] not in ("finished", "stopped", "failed"):
        time.sleep(0.2)
        run = json.load(urllib.request.urlopen(f"{base}/api/runs/{run['id']}"))
    for w in watching:
        w.join(30)  # each stream ends after the run's last frame
    text = " ".join(c["text"] for c in run["console"])
    found = RATE.search(text)
    if found is None:
        raise RuntimeError(f"no rate in the served run's output: {run['reason']!r} {text!r}")
    return float(found.group(1)), int(run["events"])


def view(url: str) -> None:
    """A viewer: read a stream until it ends, as a page's EventSource does."""
    with urllib.request.urlopen(url, timeout=60) as stream:
        while stream.read1(1 << 16):
            pass


def cpu_seconds(pid: int) -> float | None:
    """The CPU time process `pid` has used (None where /proc cannot say)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_idle(pid: int, quiet_s: float = 0.3, longest_s: float = 60.0) -> None:
    """Wait until process `pid` has used no CPU for `quiet_s`: the server
    still folds, records and draws a served run's events after its program
    ended, and the next round's legs must not run beside it."""
    deadline = time.monotonic() + longest_s
    last = cpu_seconds(pid)
    while last is not None and time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = cpu_seconds(pid)
        if now == last:
            return
        last = now


def viztraced(workdir: Path, n: int) -> tuple[float, int]:
    """items/s under VizTracer, and the size of the trace it wrote."""
    trace = workdir / "viz.json"
    out = subprocess.run(
        [sys.executable, "-m", "viztracer", "--quiet", "-o", str(trace), "prog.py", str(n)],
        capture_output=True,
        text=True,
        check=True,
        cwd=workdir,
    ).stdout
    return float(RATE.search(out).group(1)), trace.stat().st_size  # type: ignore[union-attr]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=200_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-viztracer", action="store_true")
    p.add_argument("--no-server", action="store_true")
    p.add_argument("--viewers", type=int, default=1, help="viewers of the served run (0: none)")
    args = p.parse_args()
    os.chdir(ROOT)
    if not args.no_viztracer and importlib.util.find_spec("viztracer") is None:
        print("VizTracer is not installed (pip install viztracer): its side is left out")
        args.no_viztracer = True

    rates: dict[str, list[float]] = {
        "bare": [],
        "traced": [],
        "floor": [],
        "served": [],
        "viztracer": [],
    }
    events: list[tuple[int, float]] = []
    server_us: list[float] = []  # the server's CPU time per event of a served run
    lost = 0
    viz_bytes = 0
    server = None
    db = ""
    base = ""
    if not args.no_server:
        from serving import free_port, wait_healthy

        port = free_port()
        db = tempfile.mkdtemp(prefix="concviz-bench-")
        server = subprocess.Popen(
            [sys.executable, "-m", "app", "--port", str(port), "--db", f"{db}/runs.sqlite3"],
            env={**os.environ, "CONCVIZ_PROGRAM_SECONDS": "600"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_healthy(port, server)
        base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory(prefix="concviz-bench-") as tmp:
                workdir = Path(tmp)
                script = workdir / "prog.py"
                script.write_text(PROGRAM)
                rates["bare"].append(bare(script, args.items))
                rate, n_events, n_lost = traced(workdir, args.items)
                rates["traced"].append(rate)
                events.append((n_events, args.items / rate))
                lost += n_lost
                rates["floor"].append(traced(workdir, args.items, floor=True)[0])
                if base:
                    assert server is not None
                    cpu0 = cpu_seconds(server.pid)
                    rate, n_served = served(base, PROGRAM, args.items, args.viewers)
                    rates["served"].append(rate)
                    wait_idle(server.pid)
                    cpu1 = cpu_seconds(server.pid)
                    if cpu0 is not None and cpu1 is not None:
                        server_us.append((cpu1 - cpu0) / n_served * 1e6)
                if not args.no_viztracer:
                    rate, viz_bytes = viztraced(workdir, args.items)
                    rates["viztracer"].append(rate)
    finally:
        if server is not None:
            server.terminate()
            server.wait()
            shutil.rmtree(db, ignore_errors=True)

    bare_rate = statistics.median(rates["bare"])
    print(f"items per run: {args.items}, rounds: {args.rounds}")
    for name, values in rates.items():
        if not values:
            continue
        median = statistics.median(values)
        print(
            f"{name:>10}: {median:>10.0f} items/s (median of {len(values)})"
            f"  ratio to bare {median / bare_rate:.2f}"
        )
    if rates["floor"]:
        ratio = statistics.median(rates["traced"]) / statistics.median(rates["floor"])
        print(f"traced/floor: {ratio:.2f} (target >= 0.9: the tracer within 10% of the floor)")
    per_s = statistics.median(n / seconds for n, seconds in events)
    print(f"tracer: {events[-1][0]} events in the last traced run, {per_s:.0f} events/s sustained")
    print(f"events lost by the tracer: {lost}")
    if server_us:
        print(
            f"server CPU per event of a served run: {statistics.median(server_us):.2f} us"
            f" (median of {len(server_us)}, {args.viewers} viewer(s); reading, numbering,"
            " folding, recording, frames, the HTTP around them)"
        )
    if viz_bytes:
        print(f"VizTracer's trace file: {viz_bytes / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
