"""Benchmark: jumping anywhere in a long recording (target: under 200 ms).

Records a real producer/consumer run (the lesson's program under the tracer,
8 producers, 8 consumers by default, zero delays, real processes) until it
has at least 100,000 events, in a temporary SQLite database through the same
`Recorder` the server uses.
Then, for 30 random positions, times what the replay page does for a jump:
the state after the first k events (`Replay.state_at`, from the nearest
checkpoint) plus rendering the frame. The baseline, measured in the same run
at the same positions, folds from the start without checkpoints (and renders
the same).

    python bench/replay.py [--events 100000] [--jumps 30] [--workers 8]

Not part of the test suite (a smoke run is: tests/test_benches.py).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def record(db: Path, want: int, workers: int = 8) -> str:
    from app import events
    from app.budget import WorkerBudget
    from app.experiments import EXPERIMENTS
    from app.recording import Recorder

    exp = EXPERIMENTS["producer-consumer"]  # a lesson that is a program: its own runtime
    assert exp.runtime is not None
    assert exp.params is not None
    params = exp.params(
        producers=workers,
        consumers=workers,
        items_per_producer=0,
        produce_max_ms=0,
        consume_max_ms=0,
        capacity=20,
    )
    rec = Recorder(db)
    rec.begin("bench", exp.slug, params.model_dump(), "2026-01-01T00:00:00")
    seq = 0
    lock = threading.Lock()
    enough = threading.Event()
    rt: Any = None

    def on_batch(batch: list[events.RawEvent]) -> None:
        nonlocal seq
        with lock:
            evs = []
            for raw in batch:
                seq += 1
                evs.append(events.from_raw(raw, seq, rt.started_ns if rt else 0))
            rec.append("bench", evs)
            if seq >= want:
                enough.set()

    budget = WorkerBudget(64)
    budget.acquire(exp.worker_count(params))
    rt = exp.runtime(exp, params, on_batch, budget)
    rt.start()
    enough.wait(120)
    rt.stop("enough events for the benchmark")
    rt.join(30)
    rec.end("bench", "stopped", "enough events", 0.0, seq, seq)
    rec.close()
    return "bench"


def main() -> None:
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--jumps", type=int, default=30)
    ap.add_argument("--workers", type=int, default=8, help="producers, and as many consumers")
    args = ap.parse_args()

    from app.experiments import EXPERIMENTS
    from app.recording import Recorder
    from app.replay import Replay
    from app.web.render import env, stage_context
    from app.web.replays import ReplayView

    exp = EXPERIMENTS["producer-consumer"]
    assert exp.params is not None
    assert exp.fold is not None
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "runs.sqlite3"
        t = time.perf_counter()
        run_id = record(db, args.events, args.workers)
        rec = Recorder(db)
        meta = rec.run(run_id)
        evs = rec.events(run_id)
        rec.close()
        assert meta is not None
        print(f"recorded {len(evs)} events in {time.perf_counter() - t:.1f} s")
        params = exp.params.model_validate(meta.params)
        template = env.get_template(exp.frame_template)

        def render(state: object) -> str:
            view = ReplayView(run_id, exp, params, state)
            return template.render(stage_context(view))  # type: ignore[arg-type]

        t = time.perf_counter()
        replay = Replay(evs, exp.new_state, exp.fold, meta.params)
        replay.state_at(len(evs))  # the first pass, which leaves the checkpoints
        print(f"first pass over the recording (makes checkpoints): {time.perf_counter() - t:.2f} s")

        rng = random.Random(1)
        points = [rng.randrange(len(evs) + 1) for _ in range(args.jumps)]
        jump_ms, base_ms = [], []
        for k in points:
            t = time.perf_counter()
            render(replay.state_at(k))
            jump_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            state = exp.new_state()
            state.params = dict(meta.params)
            for e in evs[:k]:
                exp.fold(state, e)
            render(state)
            base_ms.append((time.perf_counter() - t) * 1000)
        med, worst = statistics.median(jump_ms), max(jump_ms)
        bmed = statistics.median(base_ms)
        print(
            f"jump + render over {len(evs)} events, {args.jumps} random positions:"
            f" median {med:.1f} ms, worst {worst:.1f} ms (target < 200 ms);"
            f" folding from the start instead: median {bmed:.1f} ms;"
            f" ratio {bmed / med:.0f}x faster with checkpoints"
        )


if __name__ == "__main__":
    main()
