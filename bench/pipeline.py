"""Benchmark: what instrumentation costs a fast run, and how soon a run shows.

Run it with the project's interpreter (it moves to the repository root
itself, see `main`); about a minute on a 2-core machine::

    python bench/pipeline.py            # both parts
    python bench/pipeline.py --part pipeline --items 50000 --repeats 5 --capacities 0,20,5
    python bench/pipeline.py --part pipeline --delay-ms 0.1   # some work per item
    python bench/pipeline.py --part first-event --starts 20 -v

Not part of the test suite (a smoke run is: tests/test_benches.py). Every
ratio is against a baseline measured in the same run, on the same machine,
alternating, so that drift (thermal, other load) hits both sides alike.

Part 1, pipeline throughput (target: instrumented/bare >= 0.8)
----------------------------------------------------------------

*Instrumented*: the `producer-consumer` lesson as it runs in the app: its
program (`app/experiments/producer_consumer/program.py`) under the tracer
(`app.programs.runtime.ProgramRuntime`), with 1 producer, 1 consumer, every
delay 0, `backend="process"`, for each queue capacity asked for (0 =
unbounded). `items_per_producer` is set above the form's limit of 1000
(with `model_copy`, which skips validation) so that a run lasts long enough
to time; nothing in the program depends on that limit.

*Bare*: the same topology with no instrumentation: one producer process
putting "P1#1" .. "P1#N" into a plain `multiprocessing.Queue(capacity)`, one
consumer process getting N items. Both processes start the way the lesson's
program starts its own (the platform's default start method), the producer
first, then the consumer, as the program does.

What is timed, and why this is fair: process start-up (a few ms per
process, and noisy) and the run's end (sentinels, joins, exit events) are
not the pipeline, so both sides are timed from *inside the workers* with
`time.monotonic_ns()` (system-wide on Linux):

- instrumented: from the earlier of the two workers' first events (`proc`)
  to the consumer's last `get` of an item from q (the stamps are taken in
  the workers; the benchmark only reads them);
- bare: from the earlier of the two workers' first statement to the moment
  the consumer has taken its N-th item.

Both spans therefore include the same thing: the gap between the two
processes' start (the later one starts a few ms after the earlier one, on
both sides) plus moving N items. The wall-clock time from `rt.start()` to
the end of the run (`rt.join()`) is printed too, for information only.

The run's `on_batch` callback only extends a list (cheap, in the reader
thread). The real server's callback hands each batch to the event loop with
`call_soon_threadsafe`, where it is numbered and folded: that work happens in
the server process and competes for CPU with the workers on a small machine,
but it is not instrumentation and is not measured here (`--on-batch fold`
does the server's numbering and fold in the reader thread, to see its cost).

*Floor* (leave it out with `--no-floor`): the bare workers plus the least
any tracer of these events must do, written inline with nothing else (no
classes, no stop or pause checks, no step mode): two stamped records per
item on each side, the same count as the instrumented run, and a record of
each wait, taken before the call blocks (a `put_nowait` first, and a look
at the queue's pipe before a get, as the tracer looks: the page shows who is
blocked while they are), sent in batches of 256 through a run's own event
transport (the tracer's frames, `concviz_tracer.wire`, on the run's FIFO,
`app.programs.fifo.EventFifo`) to a reader thread here. Its ratio bounds
what any tracer that records every item's steps and shows waits can reach
here.

With `--delay-ms D` both sides work D ms per item (slept: `time.sleep` in
the bare workers, the experiment's own produce and consume time in the
instrumented ones, below the form's 1 ms step if asked). The default, 0, is
the worst case for the ratio. The lesson's program sleeps for each item it
makes and each it uses, also when that time is 0, and so do the bare and
floor workers: `time.sleep(0)` is no free call (about 60 us here, the
kernel's timer slack), and a baseline that skipped it measured the sleeps,
not the instrumentation. For the tracer on a program with nothing but its
queue calls, see bench/programs.py.

Part 2, time to the first worker event (target: median < 150 ms)
----------------------------------------------------------------

Starts the real server (`python -m app --port <free port>`) as a subprocess,
waits for `/healthz`, then repeatedly: POST /api/runs with small fast
params, read `GET /api/runs/{id}/events` (SSE) until the first event whose
worker is not `main`, and take the time from just before the POST. Each run
is stopped (POST /api/runs/{id}/stop) before the next one starts, so at most
one run goes at a time (the server allows 4). The server is terminated at
the end and the script checks that none of its processes are left.

Keep this module's top level light: where the default start method is spawn,
children import it again (as `__mp_main__`), so heavy imports live inside
the functions that need them.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import queue
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

# Run from anywhere: the app lives one directory up.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# --- bare baseline workers (top-level, so that they pickle by reference) -----


def watched(target, *args):  # type: ignore[no-untyped-def]
    """Run a benchmark worker that ends when this benchmark does, as a traced
    program's processes end with the server: one blocked on a queue would
    outlive a benchmark stopped with Ctrl-C, and keep the resource tracker
    alive too."""
    import multiprocessing
    import multiprocessing.connection
    import threading

    parent = multiprocessing.parent_process()
    if parent is not None:
        sentinel = parent.sentinel

        def watch() -> None:
            multiprocessing.connection.wait([sentinel])
            os._exit(70)

        threading.Thread(target=watch, name="watchdog", daemon=True).start()
    target(*args)


def bare_producer(q, n_items, results, delay_s=0.0):  # type: ignore[no-untyped-def]
    t0 = time.monotonic_ns()
    for n in range(1, n_items + 1):
        time.sleep(delay_s)  # as the lesson's program: every item, also of 0 s
        q.put(f"P1#{n}")
    results.put(("producer", t0, time.monotonic_ns()))


def bare_consumer(q, n_items, results, delay_s=0.0):  # type: ignore[no-untyped-def]
    t0 = time.monotonic_ns()
    get = q.get
    for _ in range(n_items):
        get()
        time.sleep(delay_s)  # as the lesson's program: every item, also of 0 s
    results.put(("consumer", t0, time.monotonic_ns()))


# The floor: the bare workers plus the least a tracer of these events does,
# written inline (no classes, no step mode, no pause, no stop): two stamped
# records per item on each side, as the instrumented run makes, and one more
# when a put finds the queue full or a get finds it empty (seen before the
# call blocks, as the page must show it), sent to this process in batches of
# 256 through a run's own event transport: the tracer's frames on a FIFO.


def fifo_writer(path):  # type: ignore[no-untyped-def]
    """`send(batch)`: the batch in the tracer's frames, each one write."""
    import threading

    from app.programs.boot.concviz_tracer import wire

    fd = os.open(path, os.O_WRONLY)
    pid, tid = os.getpid(), threading.get_native_id()

    def send(batch):  # type: ignore[no-untyped-def]
        for message in wire.messages(wire.encode(batch), pid, tid):
            os.write(fd, message)

    return send


def floor_producer(q, n_items, results, delay_s, fifo_path):  # type: ignore[no-untyped-def]
    trace = fifo_writer(fifo_path)
    now, batch = time.monotonic_ns, []
    t0 = now()
    for n in range(1, n_items + 1):
        item = f"P1#{n}"
        batch.append((now(), "P1", "produce", item))
        time.sleep(delay_s)  # as the lesson's program: every item, also of 0 s
        try:
            q.put_nowait(item)
        except queue.Full:  # the page shows who waits: say so before blocking
            batch.append((now(), "P1", "put_wait", item))
            q.put(item)
        batch.append((now(), "P1", "put", item))
        if len(batch) >= 256:
            trace(batch)
            batch = []
    trace(batch)
    trace(None)  # this side is done
    results.put(("producer", t0, now()))


def floor_consumer(q, n_items, results, delay_s, fifo_path):  # type: ignore[no-untyped-def]
    import select

    trace = fifo_writer(fifo_path)
    # Is an item there? One poll(2) on the queue's pipe, as the tracer asks
    # (the stock get_nowait costs as much as moving an item).
    poller = select.poll()
    poller.register(q._reader.fileno(), select.POLLIN)
    now, batch = time.monotonic_ns, []
    t0 = now()
    for _ in range(n_items):
        if not poller.poll(0):
            batch.append((now(), "C1", "get_wait", None))
        item = q.get()
        batch.append((now(), "C1", "get", item))
        time.sleep(delay_s)  # as the lesson's program: every item, also of 0 s
        batch.append((now(), "C1", "done", item))
        if len(batch) >= 256:
            trace(batch)
            batch = []
    trace(batch)
    trace(None)  # this side is done
    results.put(("consumer", t0, now()))


# --- part 1: pipeline throughput --------------------------------------------


def run_bare(
    n_items: int, capacity: int, delay_ms: float = 0.0, floor: bool = False
) -> tuple[float, float]:
    """One bare run (or, with `floor`, the floor's): (items/s from in-worker
    stamps, wall seconds)."""
    import multiprocessing
    import tempfile
    import threading

    from app.programs.fifo import EventFifo

    ctx = multiprocessing.get_context()  # as the lesson's program starts its own
    q = ctx.Queue(capacity)
    results = ctx.Queue()
    wall0 = time.perf_counter()
    args: tuple[Any, ...] = (q, n_items, results, delay_ms / 1000)
    workers = (bare_producer, bare_consumer)
    fifo = None
    with contextlib.ExitStack() as cleanup:
        if floor:
            fifo = EventFifo(cleanup.enter_context(tempfile.TemporaryDirectory()))
            cleanup.callback(fifo.close)
            args += (str(fifo.path),)
            workers = (floor_producer, floor_consumer)
        prod = ctx.Process(target=watched, args=(workers[0], *args), name="P1")
        cons = ctx.Process(target=watched, args=(workers[1], *args), name="C1")
        prod.start()
        cons.start()
        reader = None
        if fifo is not None:  # started after the workers: nothing forks beside a thread
            records: list[Any] = []
            get = fifo.get

            def read() -> None:  # the server's reader, minus the fold
                done = 0
                while done < 2:
                    batch = get(timeout=120)
                    if batch is None:
                        done += 1
                    else:
                        records.extend(batch)

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
        stamps = {}
        for _ in range(2):
            role, t_start, t_end = results.get(timeout=120)
            stamps[role] = (t_start, t_end)
        prod.join(30)
        cons.join(30)
        if reader is not None:
            reader.join(30)
    wall = time.perf_counter() - wall0
    for p in (prod, cons):
        if p.exitcode != 0:
            raise RuntimeError(f"bare {p.name} exited with {p.exitcode}")
    t0 = min(stamps["producer"][0], stamps["consumer"][0])
    t1 = stamps["consumer"][1]
    q.close()
    results.close()
    return n_items / ((t1 - t0) / 1e9), wall


def run_instrumented(
    n_items: int, capacity: int, on_batch_mode: str, delay_ms: float = 0.0
) -> tuple[float, float]:
    """One instrumented run: (items/s from event stamps, wall seconds)."""
    from app import events
    from app.budget import WorkerBudget
    from app.experiments import EXPERIMENTS
    from app.experiments.producer_consumer import Params
    from app.programs.boot.concviz_tracer import kinds as K

    exp = EXPERIMENTS["producer-consumer"]
    assert exp.runtime is not None
    assert exp.fold is not None
    params = Params(
        producers=1,
        consumers=1,
        capacity=capacity,
        items_per_producer=1,
        produce_min_ms=0,
        produce_max_ms=0,
        consume_min_ms=0,
        consume_max_ms=0,
        speed=1.0,
        backend="process",
    ).model_copy(update={"items_per_producer": n_items})  # past the form's limit of 1000
    if delay_ms:
        # Under the form's 1 ms step too: the fields are ints, and pydantic
        # warns each time such params are dumped; the workers take floats.
        warnings.filterwarnings("ignore", "Pydantic serializer warnings", UserWarning)
        fields = ("produce_min_ms", "produce_max_ms", "consume_min_ms", "consume_max_ms")
        params = params.model_copy(update=dict.fromkeys(fields, delay_ms))

    received: list[events.RawEvent] = []
    if on_batch_mode == "fold":
        fold = exp.fold
        state = exp.new_state()
        state.params = params.model_dump()
        seq = 0

        def on_batch(batch: list[events.RawEvent]) -> None:
            nonlocal seq
            received.extend(batch)
            for raw in batch:
                seq += 1
                fold(state, events.from_raw(raw, seq, start_ns))
    else:

        def on_batch(batch: list[events.RawEvent]) -> None:
            received.extend(batch)  # what the server does, minus the fold

    budget = WorkerBudget(8)
    assert budget.acquire(exp.worker_count(params))
    rt = exp.runtime(exp, params, on_batch, budget, time_limit_s=300)
    start_ns = rt.started_ns
    wall0 = time.perf_counter()
    rt.start()
    if not rt.join(300):
        rt.stop("benchmark timeout")
        rt.join(30)
        raise RuntimeError("instrumented run did not end in time")
    wall = time.perf_counter() - wall0

    queues = [e[5] for e in received if e[4] == K.NEW and (e[6] or {}).get("name") == "q"]
    starts = [e[0] for e in received if e[4] == K.PROC and e[1] in ("P1", "C1")]
    dones = [
        e[0]
        for e in received
        if e[4] == K.GET and e[1] == "C1" and e[5] in queues and (e[6] or {}).get("v") != "None"
    ]
    ends = [e for e in received if e[4] == events.RUN_END]
    if len(starts) != 2 or len(dones) != n_items or not ends:
        raise RuntimeError(f"unexpected run: {len(starts)} starts, {len(dones)} gets, end={ends}")
    end = ends[0][6] or {}
    if end.get("outcome") != "finished":
        raise RuntimeError(f"run did not finish: {end}")
    t0, t1 = min(starts), max(dones)
    return n_items / ((t1 - t0) / 1e9), wall


def bench_pipeline(args: argparse.Namespace) -> list[tuple[int, float, float, float]]:
    # One untimed round of each, so that caches are warm.
    run_bare(min(args.items, 2000), args.capacities[0])
    run_instrumented(min(args.items, 2000), args.capacities[0], args.on_batch)

    sides = {
        "bare": lambda capacity: run_bare(args.items, capacity, args.delay_ms),
        "floor": lambda capacity: run_bare(args.items, capacity, args.delay_ms, floor=True),
        "instrumented": lambda capacity: run_instrumented(
            args.items, capacity, args.on_batch, args.delay_ms
        ),
    }
    if args.no_floor:
        del sides["floor"]
    names = list(sides)
    results = []
    for capacity in args.capacities:
        rates: dict[str, list[float]] = {name: [] for name in names}
        walls: dict[str, list[float]] = {name: [] for name in names}
        for i in range(args.repeats):
            # Rotate which side goes first, so that none always follows another.
            for name in names[i % len(names) :] + names[: i % len(names)]:
                rate, wall = sides[name](capacity)
                rates[name].append(rate)
                walls[name].append(wall)
        median = {name: statistics.median(rates[name]) for name in names}
        b, s = median["bare"], median["instrumented"]
        ratio = s / b
        cap = f"capacity {capacity}" + (" (unbounded)" if capacity == 0 else "")
        if args.delay_ms:
            cap += f", {args.delay_ms:g} ms per item on each side"
        print(
            f"pipeline [{cap}, {args.items} items, {args.repeats} runs each]:"
            f" bare {b:.0f} items/s, instrumented {s:.0f} items/s,"
            f" ratio {ratio:.2f} (target >= 0.8)",
            flush=True,
        )
        if "floor" in median:
            print(
                f"    floor (bare + the same records, inline, each wait seen before it blocks):"
                f" {median['floor']:.0f} items/s, ratio {median['floor'] / b:.2f}",
                flush=True,
            )
        if args.verbose:
            for name in names:
                print(f"    {name} runs: {', '.join(f'{x:.0f}' for x in rates[name])}")
        print(
            "    wall clock, process start to end of run (info only): "
            + ", ".join(f"{name} {statistics.median(walls[name]) * 1000:.0f} ms" for name in names),
            flush=True,
        )
        results.append((capacity, b, s, ratio))
    return results


# --- part 2: time from POST /api/runs to the first worker event --------------


def _first_worker_event(client, base: str, params: dict) -> tuple[float, str]:  # type: ignore[no-untyped-def]
    import json

    t0 = time.perf_counter()
    r = client.post(f"{base}/api/runs", json={"experiment": "producer-consumer", "params": params})
    if r.status_code != 201:
        raise RuntimeError(f"POST /api/runs answered {r.status_code}: {r.text}")
    run_id = r.json()["id"]
    elapsed = None
    with client.stream("GET", f"{base}/api/runs/{run_id}/events") as resp:
        resp.raise_for_status()
        for line in resp.iter_lines():
            if not line.startswith("data:"):
                continue
            event = json.loads(line[5:].strip())
            if event.get("worker") != "main":
                elapsed = time.perf_counter() - t0
                break
    if elapsed is None:
        raise RuntimeError(f"run {run_id} ended with no worker event")
    return elapsed, run_id


def bench_first_event(args: argparse.Namespace) -> tuple[float, float]:
    import tempfile

    # The server's output goes to a file: a pipe nobody reads could fill and stall it.
    with tempfile.TemporaryFile() as log:
        times, leftovers = _time_first_events(args, log)
        log.seek(0)
        output = log.read().decode(errors="replace")

    ms = sorted(t * 1000 for t in times)
    median = statistics.median(ms)
    p90 = ms[max(0, math.ceil(0.9 * len(ms)) - 1)]  # nearest rank
    print(
        f"first event: median {median:.0f} ms, p90 {p90:.0f} ms over {len(ms)} starts"
        f" (target median < 150 ms)",
        flush=True,
    )
    if args.verbose:
        print(f"    each start (ms, in order): {', '.join(f'{t * 1000:.0f}' for t in times)}")
    print(f"    server stopped; leftover processes: {leftovers}", flush=True)
    if "Traceback" in output or "ERROR" in output:
        print("    the server logged errors:\n" + output[-3000:], flush=True)
    return median, p90


def _time_first_events(args: argparse.Namespace, log: Any) -> tuple[list[float], int]:
    """Start the server, time `args.starts` runs, stop the server.
    Returns the times and how many of the server's processes were left."""
    import subprocess

    import httpx
    import psutil
    from serving import free_port, wait_healthy

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [args.python, "-m", "app", "--port", str(port)], cwd=ROOT, stdout=log, stderr=log
    )
    family: list[psutil.Process] = []
    times: list[float] = []
    try:
        try:
            wait_healthy(port, server)
        except RuntimeError as exc:
            log.seek(0)
            raise RuntimeError(f"{exc}: {log.read().decode(errors='replace')[-2000:]}") from None
        with httpx.Client(timeout=30) as client:
            params = {
                "producers": 1,
                "consumers": 1,
                "capacity": 5,
                "items_per_producer": 20,
                "produce_min_ms": 0,
                "produce_max_ms": 20,
                "consume_min_ms": 0,
                "consume_max_ms": 20,
                "speed": 1.0,
                "backend": "process",
            }
            for _ in range(args.starts):
                elapsed, run_id = _first_worker_event(client, base, params)
                times.append(elapsed)
                # Remember every process of the server's family while a run is live.
                family = _remember(family, server.pid)
                client.post(f"{base}/api/runs/{run_id}/stop").raise_for_status()
    finally:
        family = _remember(family, server.pid)
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
        left = _wait_gone(family, 5.0)
        for p in left:
            with contextlib.suppress(psutil.Error):
                p.kill()
        if left:
            print(f"first event: WARNING {len(left)} server processes were left; killed them")
    return times, len(left)


def _remember(known, pid: int):  # type: ignore[no-untyped-def]
    """`known` plus the process `pid` and all its descendants alive now."""
    import psutil

    seen = {(p.pid, p.create_time()) for p in known}
    out = list(known)
    try:
        proc = psutil.Process(pid)
        for p in [proc, *proc.children(recursive=True)]:
            try:
                key = (p.pid, p.create_time())
            except psutil.Error:
                continue
            if key not in seen:
                seen.add(key)
                out.append(p)
    except psutil.Error:
        pass
    return out


def _wait_gone(procs, timeout: float):  # type: ignore[no-untyped-def]
    import psutil

    _, alive = psutil.wait_procs([p for p in procs if p.is_running()], timeout=timeout)
    return alive


# --- main --------------------------------------------------------------------


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=("all", "pipeline", "first-event"), default="all")
    p.add_argument("--items", type=int, default=50000, help="items per run (part 1)")
    p.add_argument("--repeats", type=int, default=5, help="runs of each side per capacity")
    p.add_argument(
        "--capacities",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[0, 20, 5],
        help="queue capacities to try, comma-separated (0 = unbounded)",
    )
    p.add_argument(
        "--on-batch",
        choices=("extend", "fold"),
        default="extend",
        help="what the reader does with a batch: extend a list (default) or also fold it",
    )
    p.add_argument(
        "--delay-ms",
        type=float,
        default=0.0,
        help="work per item on both sides, slept (part 1; default 0: the worst case)",
    )
    p.add_argument("--no-floor", action="store_true", help="leave out the floor side (part 1)")
    p.add_argument("--starts", type=int, default=20, help="runs started (part 2)")
    p.add_argument("--python", default=sys.executable, help="interpreter for the server")
    p.add_argument("-v", "--verbose", action="store_true", help="print every run's figure")
    args = p.parse_args()

    # Run from ROOT, as the server of part 2 does, so that this process, its
    # workers and that server use the same `app` (it matters when
    # benchmarking a copy).
    os.chdir(ROOT)
    import app

    t0 = time.perf_counter()
    print(
        f"bench/pipeline.py: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs,"
        f" app from {Path(app.__file__).parent}, on_batch={args.on_batch},"
        f" load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    if args.part in ("all", "pipeline"):
        bench_pipeline(args)
    if args.part in ("all", "first-event"):
        bench_first_event(args)
    print(
        f"benchmark took {time.perf_counter() - t0:.1f} s (load average now"
        f" {os.getloadavg()[0]:.2f}; other load on the machine skews the figures)",
        flush=True,
    )


if __name__ == "__main__":
    main()
