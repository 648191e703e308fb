"""Every benchmark in bench/ runs at a tiny size and prints its figures, so
that a change of the app that breaks a benchmark fails here, not the next
time someone measures. The figures of a tiny run say nothing about speed:
no test here looks at a time or a rate, only that each figure is printed,
and at the counts a benchmark must get right (events lost, processes left).

Each benchmark runs as a user runs it (`python bench/X.py`, from another
directory), with its own temporary directory (TMPDIR) and a mark in its
environment that every process it starts inherits (servers, workers,
traced programs): once it has exited, no process with that mark may be
left, and its temporary directory must be empty."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest
from conftest import ROOT

from app.broker.embedded import BASE_DIR as BROKER_DIR
from app.programs.rundirs import BASE_DIR

MARK = "CONCVIZ_BENCH_SMOKE"
# A number as the benchmarks print it: 12, 0.87, 14,861, or nan (no sample).
NUM = r"(?:[\d,]+(?:\.\d+)?|nan)"


def marked(mark: str) -> list[psutil.Process]:
    """The processes whose environment carries `mark`."""
    found = []
    for p in psutil.process_iter():
        try:
            if p.environ().get(MARK) == mark:
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def left_behind(mark: str, timeout: float = 5.0) -> list[str]:
    """The marked processes still alive after `timeout` (a worker's watchdog
    ends it a moment after its parent). They are killed, so that a failure
    here leaves nothing running either."""
    alive = [p for p in marked(mark) if p.is_running()]
    _, alive = psutil.wait_procs(alive, timeout=timeout)
    described = []
    for p in alive:
        try:
            described.append(f"{p.pid} {' '.join(p.cmdline())[:200]}")
            p.kill()
        except psutil.Error:
            continue
    return described


def files_left(tmp: Path) -> list[str]:
    """What is left in the benchmark's TMPDIR. The things allowed are the
    server's base directories for programs' runs and for its broker, empty:
    each is shared by every server of the user, and each server removes only
    its own directories there."""
    left = []
    shared = {tmp / BASE_DIR.name, tmp / BROKER_DIR.name}
    for path in sorted(tmp.rglob("*")):
        if path in shared and path.is_dir() and not any(path.iterdir()):
            continue
        left.append(str(path.relative_to(tmp)))
    return left


def run_bench(tmp_path: Path, name: str, *args: str) -> str:
    """Run bench/`name` with `args`; return what it printed, once it has exited
    0 and left no process and no file behind."""
    tmp, cwd = tmp_path / "tmp", tmp_path / "cwd"
    tmp.mkdir()
    cwd.mkdir()
    mark = uuid.uuid4().hex
    env = {**os.environ, MARK: mark, "TMPDIR": str(tmp)}
    try:
        done = subprocess.run(
            [sys.executable, str(ROOT / "bench" / name), *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=100,
        )
    finally:
        # Also after a timeout, which kills only the benchmark itself.
        processes = left_behind(mark)
    output = f"stdout:\n{done.stdout}\nstderr:\n{done.stderr[-4000:]}"
    assert done.returncode == 0, output
    assert "Traceback" not in done.stderr, output
    assert processes == [], f"processes left behind: {processes}\n{output}"
    assert files_left(tmp) == [], output
    assert files_left(cwd) == [], output
    return done.stdout


def line(pattern: str, text: str) -> re.Match[str]:
    """The one line of `text` that `pattern` matches whole."""
    found = re.search(rf"^{pattern}$", text, re.MULTILINE)
    assert found, f"no line matches {pattern!r} in:\n{text}"
    return found


def test_ingest_prints_each_side_per_event_and_its_ratio(tmp_path: Path) -> None:
    out = run_bench(tmp_path, "ingest.py", "--items", "300", "--repeats", "1")
    for side in ("numbering", "ingest", "ingest\\+recording"):
        line(rf"{side}\s+{NUM} us/event\s+\(\s*{NUM} events/s\)\s+ratio to numbering\s+{NUM}", out)


def test_replay_records_a_run_and_times_opening_and_jumps_against_folding_it_all(
    tmp_path: Path,
) -> None:
    out = run_bench(tmp_path, "replay.py", "--events", "1000", "--jumps", "3", "--workers", "1")
    recorded = line(rf"recorded (\d+) events in {NUM} s", out)
    assert int(recorded.group(1)) >= 1000
    line(
        rf"open a recording of {recorded.group(1)} events until its first frame: {NUM} ms"
        rf" \(target < 1 s\); reading and folding it all first, as before: {NUM} s;"
        rf" ratio {NUM}x",
        out,
    )
    line(rf"the missing checkpoints, made in the background: {NUM} s", out)
    line(r"the replay's final state is the live fold's: True", out)
    line(rf"opening it again: {NUM} ms, checkpoints all there: True", out)
    jumps = line(
        rf"jump \+ render over (\d+) events, 3 random positions: median {NUM} ms,"
        rf" worst {NUM} ms \(target < 50 ms\), the first {NUM} ms; folding from the start instead:"
        rf" median {NUM} ms; ratio {NUM}x faster with checkpoints",
        out,
    )
    assert jumps.group(1) == recorded.group(1)


@pytest.mark.live
def test_pipeline_prints_both_ratios_and_the_first_event_and_leaves_no_server(
    tmp_path: Path,
) -> None:
    out = run_bench(
        tmp_path,
        "pipeline.py",
        *("--items", "300", "--repeats", "1", "--capacities", "5", "--starts", "2"),
    )
    line(
        rf"pipeline \[capacity 5, 300 items, 1 runs each\]: bare {NUM} items/s,"
        rf" instrumented {NUM} items/s, ratio {NUM} \(target >= 0\.8\)",
        out,
    )
    line(rf"    floor \(.*\): {NUM} items/s, ratio {NUM}", out)
    line(r"    wall clock, process start to end of run \(info only\): bare .*", out)
    line(
        rf"first event: median {NUM} ms, p90 {NUM} ms over 2 starts \(target median < 150 ms\)",
        out,
    )
    line(r"    server stopped; leftover processes: 0", out)
    assert "the server logged errors" not in out
    line(rf"benchmark took {NUM} s .*", out)


@pytest.mark.live
def test_fanout_prints_the_app_and_both_baselines(tmp_path: Path) -> None:
    out = run_bench(
        tmp_path, "fanout.py", *("--viewers", "3", "--seconds", "1", "--warm-up", "0.5")
    )
    line(r"app frame: \d+ bytes on the wire; fps 20; window 1 s; \d+ cores", out)
    for side in ("bare 2 KiB", "bare same", "app"):
        found = line(
            rf"{side}\s+viewers=\s+(\d+)\s+fps/viewer median=\s*{NUM} worst=\s*{NUM}"
            rf" \(made\s+({NUM})\)\s+latency p50=\s*{NUM} ms p99=\s*{NUM} ms"
            rf"\s+server cpu=\s*{NUM}% of a core\s+received=\s*{NUM} KiB/s per viewer",
            out,
        )
        assert found.group(1) == "3", found.group(0)  # every viewer reported
        # At least one frame, with its `: made` stamp, reached a viewer.
        assert found.group(2) not in ("0.0", "nan"), found.group(0)


@pytest.mark.live
def test_bytes_prints_whole_frames_patches_and_deflated_patches_per_viewer(tmp_path: Path) -> None:
    out = run_bench(
        tmp_path, "bytes.py", *("--seconds", "1", "--full-workers", "2", "--warm-up", "0.5")
    )
    line(r"fps 20; window 1 s; \d+ cores", out)
    for name, target in (("2x2 default", "8"), ("2x2 full speed", "64")):
        line(
            rf"{name}\s+{NUM} frames/s; whole frames\s+{NUM} KiB/s \({NUM} B each\);"
            rf" patches\s+{NUM} KiB/s \(ratio {NUM}, {NUM}% of messages\);"
            rf" deflated\s+{NUM} KiB/s \(ratio {NUM}\); target <= {target} KiB/s",
            out,
        )
    timeline = (
        rf"its timeline stream: {NUM} KiB/s, deflated against the last drawing {NUM} KiB/s;"
        rf" a browser's page \(stage and timeline, deflated\): {NUM} KiB/s"
    )
    assert len(re.findall(timeline, out)) == 2


@pytest.mark.live
def test_memory_prints_its_samples_and_the_result(tmp_path: Path) -> None:
    out = run_bench(
        tmp_path,
        "memory.py",
        *("--seconds", "2", "--interval", "0.2", "--producers", "1", "--consumers", "1"),
    )
    line(rf"server pid \d+; rss before the run {NUM} MB; run \w+: 1x1 at full speed for 2 s", out)
    line(
        rf"t=\s*{NUM} s\s+rss=\s*{NUM} MB\s+events=\s*\d+\s+recorded=\s*-?\d+"
        rf"\s+frames seen=\s*\d+\s+db=\s*{NUM} MB",
        out,
    )
    assert "the run ended early" not in out
    line(
        rf"RESULT rss before {NUM} MB, ring full \(t={NUM} s\) {NUM} MB, peak {NUM} MB,"
        rf" end {NUM} MB; second-half slope [+-]{NUM} MB/min; \d+ events in {NUM} s"
        rf" \({NUM}/s\)",
        out,
    )


@pytest.mark.live
def test_programs_prints_bare_traced_and_served_and_loses_no_event(tmp_path: Path) -> None:
    out = run_bench(
        tmp_path, "programs.py", *("--items", "2000", "--rounds", "1", "--no-viztracer")
    )
    line(r"items per run: 2000, rounds: 1", out)
    for side in ("bare", "traced", "served"):
        line(rf"\s*{side}: \s*{NUM} items/s \(median of 1\)  ratio to bare {NUM}", out)
    assert "viztracer:" not in out
    line(rf"tracer: \d+ events in the last traced run, {NUM} events/s sustained", out)
    line(r"events lost by the tracer: 0", out)


def test_the_smoke_runs_cover_every_benchmark() -> None:
    """A new benchmark gets its smoke run here too."""
    benches = {p.stem for p in (ROOT / "bench").glob("*.py")} - {"serving"}
    source = Path(__file__).read_text()
    covered = set(re.findall(r'"(\w+)\.py"', source))
    assert benches <= covered, f"no smoke run for: {sorted(benches - covered)}"


def test_left_behind_finds_and_ends_a_marked_process() -> None:
    """The leak check can fail: a process carrying the mark is found (and
    ended) even when its parent is gone."""
    mark = uuid.uuid4().hex
    env = {**os.environ, MARK: mark}
    # A parent that starts a sleeping child and exits at once: an orphan.
    code = (
        "import subprocess, sys;"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=30)
    deadline = time.monotonic() + 10
    while not marked(mark):
        assert time.monotonic() < deadline, "the orphan never showed up"
        time.sleep(0.02)
    left = left_behind(mark, timeout=0.1)
    assert len(left) == 1, left
    assert "time.sleep(60)" in left[0], left
    assert left_behind(mark, timeout=5) == []


def test_broker_prints_stream_and_queue_rates_for_each_count_of_consumers(tmp_path: Path) -> None:
    out = run_bench(tmp_path, "broker.py", "--items", "200", "--rounds", "1", "--consumers", "1,3")
    line(r"Redis [\d.]+ \(embedded\); 200 items, median of 1", out)
    for consumers in (1, 3):
        line(rf"\s+{consumers}\s+{NUM}\s+{NUM}\s+{NUM}", out)


def test_stalls_prints_a_steady_sample_against_reading_everything_again(tmp_path: Path) -> None:
    out = run_bench(tmp_path, "stalls.py", "--processes", "2", "--writers", "1", "--samples", "3")
    line(r"\d+ processes in the session, 1 of them found waiting to write", out)
    line(rf"steady sample: {NUM} ms \({NUM}% of a core\)", out)
    line(rf"reading everything again: {NUM} ms \({NUM}% of a core\)", out)
    line(rf"ratio {NUM}x; procfs.members for comparison: {NUM} ms", out)
