"""What a user's program may use: time, processes, threads, memory, output
and events. Reaching one stops the run, naming it (the supervisor of
`app.programs.runtime` measures, this module judges)."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path

from app import reasons
from app.settings import Settings


@dataclass(frozen=True)
class Limits:
    """What a program may use. Reaching one stops the run, naming it."""

    seconds: float = 60.0
    processes: int = 16
    threads: int = 128
    memory_mb: int = 512
    output_kb: int = 1024
    events: int = 1_000_000
    # Which of the server's settings the time is: a user's program's own
    # limit, or any run's (a lesson's, or the smaller one).
    time_reason: str = reasons.PROGRAM_TIME


@dataclass(frozen=True)
class Passed:
    """A limit the program went past: its name (a field of `Limits`), the
    value measured, the limit, and why the run stops (English)."""

    name: str
    value: float
    limit: float
    reason: str


def limits_from(
    settings: Settings, time_limit_s: float, *, lesson: bool = False, workers: int = 0
) -> Limits:
    """A user's program gets `program_seconds`; a lesson's own program, the
    time any run gets, and room for the `workers` its run holds budget for
    (its form's bounds are the lesson's, not the programs' limits), and no
    cap on its events."""
    own = not lesson and settings.program_seconds <= time_limit_s
    return Limits(
        seconds=settings.program_seconds if own else time_limit_s,
        time_reason=reasons.PROGRAM_TIME if own else reasons.RUN_TIME,
        processes=max(settings.program_processes, workers + 1 if lesson else 0),
        threads=settings.program_threads,
        memory_mb=settings.program_memory_mb,
        output_kb=settings.program_output_kb,
        # A lesson's own program (an endless producer/consumer at full speed
        # makes a million events in 20 s) is bounded by its run's time, as
        # any run is: its recording and its ring of events have their own.
        events=sys.maxsize if lesson else settings.program_events,
    )


def first_passed(
    lim: Limits,
    *,
    seconds: float,
    processes: int,
    threads: int,
    memory_mb: float,
    output_kb: float,
    events: int,
) -> Passed | None:
    """The first limit (in `Limits`' order) that a use is past, if any."""
    checks = (
        ("seconds", seconds, lim.seconds, lim.time_reason),
        ("processes", processes, lim.processes, reasons.PROGRAM_PROCESSES),
        ("threads", threads, lim.threads, reasons.PROGRAM_THREADS),
        ("memory_mb", memory_mb, lim.memory_mb, reasons.PROGRAM_MEMORY),
        ("output_kb", output_kb, lim.output_kb, reasons.PROGRAM_OUTPUT),
        ("events", events, lim.events, reasons.PROGRAM_EVENTS),
    )
    for name, value, limit, reason in checks:
        if value > limit:
            return Passed(name, value, limit, reason % {"n": _number(limit)})
    return None


def ended_by_itself(
    code_ended_ns: int, ending_ns: int, exit_code: int | None, handles_term: bool = False
) -> bool:
    """Whether a program stopped at a limit had ended by itself: what the
    server counts (what it printed, its events) trails it, and a burst of
    output just before its end passes a limit only once it has ended. It
    had if its main code ended (`code_ended_ns`, 0: not) and no signal
    ended its first process (`exit_code`); one whose code handles SIGTERM
    (`handles_term`) may end its code because it was asked to, so its code
    must have ended before its processes were asked to end (`ending_ns`)."""
    if not code_ended_ns or exit_code is None or exit_code < 0:
        return False
    return code_ended_ns <= ending_ns if handles_term else True


def file_bytes(workdir: Path | None) -> int:
    """What a program wrote past Python's streams (C code, subprocesses),
    into its run directory's output files."""
    total = 0
    if workdir is not None:
        for name in ("stdout.txt", "stderr.txt"):
            with contextlib.suppress(OSError):
                total += (workdir / name).stat().st_size
    return total


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
