"""Benchmark: what the server does with each event of a fast run.

At full speed the server, not the workers, sets the pace of a real run: each
event a worker sends is numbered, folded into the run's view state, kept in
the ring of recent events and, with a recording, handed to the recorder.
This times `Run.ingest` (the event loop's part of it) on batches shaped as
the tracer sends them: the producer/consumer lesson's program with 1
producer and 1 consumer, four events per item (P1 sleeps to make it and
puts it into q, C1 gets it and sleeps to use it), in batches of 256.

The baseline, in the same run, is the least any server must do with an
event: turn the worker's raw tuple into a numbered `Event`
(`events.from_raw`). The ratio says how many times that the whole ingest
costs. With a recording, the time runs until the recorder has written
every event (its writer thread shares the server's interpreter).

`--experiment program` folds the same events as any user's program (the
program fold alone, no lesson overlay).

    python bench/ingest.py [--items 50000] [--repeats 5] [--experiment program]

Not part of the test suite (a smoke run is: tests/test_benches.py).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Who does what with each item; the queue's key, as the tracer names it.
KINDS = (("P1", "sleep"), ("P1", "put"), ("C1", "get"), ("C1", "sleep"))
QUEUE = "100.1"
PIDS = {"main": 100, "P1": 101, "C1": 102}


def batches(n_items: int, start_ns: int) -> list[list[Any]]:
    """Raw events of `n_items` items, 100 ns apart, in batches of 256."""
    out: list[list[Any]] = [[]]
    t = start_ns
    for n in range(1, n_items + 1):
        v = repr(f"P1#{n}")
        for worker, kind in KINDS:
            t += 100
            if len(out[-1]) == 256:
                out.append([])
            pid = PIDS[worker]
            if kind == "sleep":
                out[-1].append((t, worker, pid, pid, kind, None, {"s": 0.0, "line": 1}))
            else:
                out[-1].append((t, worker, pid, pid, kind, QUEUE, {"v": v, "size": 0, "line": 1}))
    return out


async def ingest(n_items: int, recording: bool, slug: str = "producer-consumer") -> float:
    """Seconds per event of Run.ingest (and the recording's writing)."""
    from app.experiments import EXPERIMENTS
    from app.recording import Recorder
    from app.runs import Run
    from app.settings import Settings

    exp = EXPERIMENTS[slug]
    assert exp.params is not None
    quick = {"producers": 1, "consumers": 1, "items_per_producer": 0}
    params = exp.params.model_validate(quick if slug == "producer-consumer" else {})
    with tempfile.TemporaryDirectory() as tmp:
        recorder = Recorder(Path(tmp) / "runs.sqlite3") if recording else None
        run = Run("bench", exp, params, Settings(), recorder=recorder)
        start_ns = time.monotonic_ns()
        run._start_ns = start_ns
        run.ingest(
            [
                (start_ns, "main", 1, 1, "run_start", None, {"params": params.model_dump()}),
                (start_ns, "main", 100, 100, "proc", None, {"name": "MainProcess", "main": True}),
                (start_ns, "main", 100, 100, "new", QUEUE, {"type": "Queue", "name": "q"}),
                (start_ns, "P1", 101, 101, "proc", None, {"name": "P1", "ppid": 100}),
                (start_ns, "C1", 102, 102, "proc", None, {"name": "C1", "ppid": 100}),
            ]
        )
        work = batches(n_items, start_ns)
        t0 = time.perf_counter()
        for batch in work:
            run.ingest(batch)
        if recorder is not None:
            recorder.close()  # until every event is written
        elapsed = time.perf_counter() - t0
    return elapsed / (n_items * len(KINDS))


def numbering(n_items: int) -> float:
    """Seconds per event of the baseline: raw tuple to numbered Event."""
    from app import events

    start_ns = time.monotonic_ns()
    work = batches(n_items, start_ns)
    seq = 0
    kept = []
    t0 = time.perf_counter()
    for batch in work:
        for raw in batch:
            seq += 1
            kept.append(events.from_raw(raw, seq, start_ns))
    return (time.perf_counter() - t0) / (n_items * len(KINDS))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument(
        "--experiment", choices=("producer-consumer", "program"), default="producer-consumer"
    )
    args = ap.parse_args()
    slug = args.experiment
    print(f"bench/ingest.py: {slug}, {args.items} items, {args.repeats} repeats", flush=True)
    sides: dict[str, list[float]] = {"numbering": [], "ingest": [], "ingest+recording": []}
    for _ in range(args.repeats):
        sides["numbering"].append(numbering(args.items))
        sides["ingest"].append(asyncio.run(ingest(args.items, False, slug)))
        sides["ingest+recording"].append(asyncio.run(ingest(args.items, True, slug)))
    base = statistics.median(sides["numbering"])
    for name, values in sides.items():
        us = statistics.median(values) * 1e6
        print(
            f"{name:17s} {us:5.2f} us/event  ({1e6 / us:9,.0f} events/s)"
            f"  ratio to numbering {us / (base * 1e6):5.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
