"""Benchmark: opening a long recording, and jumping anywhere in it.

Records a real producer/consumer run (the lesson's program under the tracer,
8 producers, 8 consumers by default, zero delays, real processes) until it
has at least 100,000 events, in a temporary SQLite database through the same
`Recorder` the server uses, folding them as they come as the server does,
and keeping the final state as a run does when it ends.

Then it opens the recording as the replay page does and prints:
- open: until the first frame (the end of the run) is rendered; the
  baseline, in the same run, is the old opening: read every event and fold
  them all (leaving every checkpoint) before the first frame;
- the background pass that makes the missing checkpoints (the page shows
  meanwhile), and a second opening, which finds them kept;
- jump + render at random positions once the checkpoints are there (the
  first apart: it compiles the templates the end's frame did not need),
  against folding from the start without checkpoints;
- whether the replay's final state is the live fold's (nothing lost).

Targets (#18): open < 1 s, jump < 50 ms, for recordings up to the cap.

    python bench/replay.py [--events 100000] [--jumps 30] [--workers 8]

Not part of the test suite (a smoke run is: tests/test_benches.py).
"""

from __future__ import annotations

import argparse
import copy
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


def record(db: Path, want: int, workers: int = 8) -> Any:
    """Record a run of at least `want` events; its live final state."""
    from app import events
    from app.budget import WorkerBudget
    from app.experiments import EXPERIMENTS
    from app.recording import Recorder, shape

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

    assert exp.fold is not None
    live = exp.new_state()
    live.params = params.model_dump()

    def on_batch(batch: list[events.RawEvent]) -> None:
        nonlocal seq
        with lock:
            evs = []
            for raw in batch:
                seq += 1
                e = events.from_raw(raw, seq, rt.started_ns if rt else 0)
                exp.fold(live, e)  # as the server folds them, live
                evs.append(e)
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
    with lock:
        rec.end("bench", "stopped", "enough events", 0.0, seq, seq)
        rec.keep_state("bench", seq, live, shape(exp.new_state))  # as a run does at its end
        final = copy.deepcopy(live)
    rec.close()
    return final


def main() -> None:
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--jumps", type=int, default=30)
    ap.add_argument("--workers", type=int, default=8, help="producers, and as many consumers")
    args = ap.parse_args()

    from app.cli import tune_gc
    from app.experiments import EXPERIMENTS
    from app.recording import Recorder
    from app.replay import Replay
    from app.web.render import env, stage_context
    from app.web.replays import ReplayView, _open

    exp = EXPERIMENTS["producer-consumer"]
    assert exp.params is not None
    assert exp.fold is not None
    fold = exp.fold
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "runs.sqlite3"
        t = time.perf_counter()
        live = record(db, args.events, args.workers)
        rec = Recorder(db)
        meta = rec.run("bench")
        assert meta is not None
        print(f"recorded {meta.events} events in {time.perf_counter() - t:.1f} s")
        params = exp.params.model_validate(meta.params)
        template = env.get_template(exp.frame_template)

        def render(state: object) -> str:
            view = ReplayView("bench", exp, params, state)
            return template.render(stage_context(view))  # type: ignore[arg-type]

        # The old opening: every event read, and folded once, before the first frame.
        t = time.perf_counter()
        evs = rec.events("bench")
        old = Replay.of(evs, exp.new_state, fold, meta.params)
        render(old.state_at(old.length))
        old_open = time.perf_counter() - t
        del old

        t = time.perf_counter()
        replay = _open(rec, meta, exp)
        end = replay.state_at(replay.length)
        render(end)
        open_s = time.perf_counter() - t
        print(
            f"open a recording of {meta.events} events until its first frame:"
            f" {open_s * 1000:.0f} ms (target < 1 s); reading and folding it all first,"
            f" as before: {old_open:.2f} s; ratio {old_open / open_s:.0f}x"
        )
        t = time.perf_counter()
        replay.start_building()
        replay.wait_built()
        print(f"the missing checkpoints, made in the background: {time.perf_counter() - t:.2f} s")
        same = render(live) == render(end)
        print(f"the replay's final state is the live fold's: {same}")
        rec.close()  # every checkpoint written
        rec = Recorder(db)
        t = time.perf_counter()
        replay = _open(rec, meta, exp)
        render(replay.state_at(replay.length))
        print(
            f"opening it again: {(time.perf_counter() - t) * 1000:.0f} ms,"
            f" checkpoints all there: {replay.complete}"
        )

        # Jumps, with nothing else of the recording in memory (as the server
        # holds it): the events of the old opening would make every full
        # collection of the garbage collector walk through a million more.
        length = len(evs)
        del evs
        tune_gc()  # as a server does once it has started
        rng = random.Random(1)
        points = [rng.randrange(length + 1) for _ in range(args.jumps)]
        jump_ms = []
        for k in points:
            t = time.perf_counter()
            render(replay.state_at(k))
            jump_ms.append((time.perf_counter() - t) * 1000)
        # Against folding from the start, the events read once.
        evs = rec.events("bench")
        base_ms = []
        for k in points:
            t = time.perf_counter()
            state = exp.new_state()
            state.params = dict(meta.params)
            for e in evs[:k]:
                fold(state, e)
            render(state)
            base_ms.append((time.perf_counter() - t) * 1000)
        rec.close()
        # The first jump compiles the templates that the end's frame did not
        # need (a server does it once, at its first such frame).
        first, rest = jump_ms[0], jump_ms[1:] or jump_ms
        med, worst = statistics.median(rest), max(rest)
        bmed = statistics.median(base_ms)
        print(
            f"jump + render over {length} events, {args.jumps} random positions:"
            f" median {med:.1f} ms, worst {worst:.1f} ms (target < 50 ms),"
            f" the first {first:.1f} ms; folding from the start instead: median {bmed:.1f} ms;"
            f" ratio {bmed / med:.0f}x faster with checkpoints"
        )


if __name__ == "__main__":
    main()
