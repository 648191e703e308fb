"""Benchmark: what the runtime's sample of waits in the kernel costs.

Starts, in a session of its own, as a program would: PROCESSES commands
that sleep and WRITERS commands that fill a pipe nobody reads (each a
wait to name: a write to a full pipe, whose other end must be looked up in
every process's open files). Then it times `Sampler.sample` over that
session as the runtime calls it, every 0.5 s while a program runs:

- steady: nothing moved since the last sample (what a stuck program gives);
- reading everything again each time (the sampler without its memory of
  the last sample): the baseline;
- `procfs.members`, which the runtime reads every tick anyway.

It prints each in ms per sample, and the share of one core at two samples a
second.

    python bench/stalls.py [--processes 20] [--writers 5] [--samples 50]

Not part of the test suite (a smoke run is: tests/test_benches.py).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.programs import procfs  # noqa: E402
from app.programs.lookout import STALL_S  # noqa: E402
from app.programs.stalls import Sampler  # noqa: E402


def per_sample_ms(samples: int, one: object) -> float:
    assert callable(one)
    start = time.perf_counter()
    for _ in range(samples):
        one()
    return (time.perf_counter() - start) / samples * 1000


def measure(processes: int, writers: int, samples: int) -> None:
    """In its own session: the commands, then the timings."""
    children = [subprocess.Popen(["sleep", "60"]) for _ in range(processes)]
    children += [
        subprocess.Popen(["seq", "10000000"], stdout=subprocess.PIPE) for _ in range(writers)
    ]
    try:
        sid = os.getsid(0)
        sampler, found = Sampler(), procfs.members(sid)
        deadline = time.monotonic() + 10
        waits: list[dict[str, object]] = []
        while len(waits) < writers and time.monotonic() < deadline:
            time.sleep(0.05)
            found = procfs.members(sid)
            waits = [w for w in sampler.sample(found) or [] if w["wait"] == "write"]
        print(f"{len(found)} processes in the session, {len(waits)} of them found waiting to write")

        forgetful = Sampler()
        forgetful.sample(found)

        def again() -> None:
            forgetful._key = ()  # it forgets what the last sample found
            forgetful.sample(found)

        steady = per_sample_ms(samples, lambda: sampler.sample(found))
        whole = per_sample_ms(samples, again)
        members = per_sample_ms(samples, lambda: procfs.members(sid))
        share = 100 / STALL_S / 1000
        print(f"steady sample: {steady:.3f} ms ({steady * share:.2f}% of a core)")
        print(f"reading everything again: {whole:.3f} ms ({whole * share:.2f}% of a core)")
        print(f"ratio {whole / steady:.1f}x; procfs.members for comparison: {members:.3f} ms")
    finally:
        for child in children:
            child.kill()
        for child in children:
            child.communicate()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--processes", type=int, default=20)
    ap.add_argument("--writers", type=int, default=5)
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--in-session", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.in_session:
        measure(args.processes, args.writers, args.samples)
        return
    # A session of its own, as a program's: the sample reads only its processes.
    argv = [sys.executable, __file__, *sys.argv[1:], "--in-session"]
    sys.exit(subprocess.run(argv, start_new_session=True).returncode)


if __name__ == "__main__":
    main()
