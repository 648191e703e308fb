"""Server settings: limits and rates, from flags or environment variables.

Each setting `name` can come from the flag `--name` (with dashes) or from the
environment variable `CONCVIZ_NAME`; a flag wins over the environment.
(`redis_url` is the flag `--redis`.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

# The numeric settings' bounds, inclusive.
BOUNDS: dict[str, tuple[float, float]] = {
    "port": (1, 65535),
    "max_workers": (1, 1024),
    "max_runs": (1, 64),
    "run_time_limit": (1, 86400),
    "fps": (1, 60),
    "event_buffer": (1, 10_000_000),
    "keep_runs": (0, 10_000),
    "record_limit": (0, 1_000_000_000),
    "send_timeout": (1, 3600),
    "idle_limit": (0, 86400),
    "program_seconds": (1, 86400),
    "program_processes": (1, 1024),
    "program_threads": (1, 10_000),
    "program_memory_mb": (16, 1_000_000),
    "program_output_kb": (1, 10_000_000),
    "program_events": (1, 1_000_000_000),
}


def default_processes(cpus: int | None) -> int:
    """A program's default limit of live processes on a machine of `cpus`."""
    return max(16, 2 * (cpus or 1))


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    max_workers: int = 64  # live worker processes and threads across all runs
    max_runs: int = 4  # runs going at once
    run_time_limit: float = 600.0  # seconds before a run stops itself
    fps: float = 20.0  # frames rendered per second per run, at most
    event_buffer: int = 50_000  # events kept per run for the JSON stream
    keep_runs: int = 50  # ended runs kept in memory for GET /api/runs
    allowed_hosts: str = ""  # more Host names to answer, comma-separated
    db: str = ""  # the recordings database; empty: under the user's data directory
    # Events recorded per run: past this the run goes on live, unrecorded (a
    # full-speed run makes ~50 MB of recording a million events). 0: no limit.
    record_limit: int = 2_000_000
    # Seconds a stream's client may take to accept a message before it is
    # dropped: too short drops a phone on a weak network, too long keeps a
    # dead client's socket buffers for as long.
    send_timeout: float = 10.0
    # Seconds a run may go with no event from any worker (paused and step
    # mode aside) before it ends itself: a hang, or a playground nobody
    # uses, would otherwise hold its workers and a place under max_runs
    # until run_time_limit. 0: never.
    idle_limit: float = 120.0
    lan: bool = False  # classroom mode: every interface, a presenter token
    # The broker lesson's Redis server (redis://, rediss:// or unix://);
    # empty: an embedded one concviz starts itself (app/broker). Its
    # password, if any, stays out of the settings' repr.
    redis_url: str = field(default="", repr=False)
    # What a user's program may use (app/programs/runtime.py); it runs with
    # the server user's rights, so these are its leash, not a sandbox.
    program_seconds: float = 60.0  # wall time
    # Live processes at once: 16, or twice the CPUs where that is more
    # (a plain Pool() starts one worker per CPU, besides main).
    program_processes: int = default_processes(os.cpu_count())
    program_threads: int = 128  # live threads in all its processes
    program_memory_mb: int = 512  # resident memory of any one process
    program_output_kb: int = 1024  # printed, all processes together
    # Traced calls: two threads that add 1 a million times under a lock (a
    # lecture's demo) make 4 million; the wall time limit still holds.
    program_events: int = 10_000_000

    def __post_init__(self) -> None:
        for name, (low, high) in BOUNDS.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(
                    f"--{name.replace('_', '-')} (or CONCVIZ_{name.upper()}) must be"
                    f" from {_number(low)} to {_number(high)} (got {_number(value)})"
                )
        if self.redis_url:
            from app.broker.urls import problem  # only then: workers import this module

            said = problem(self.redis_url)
            if said:
                raise ValueError(f"--redis (or CONCVIZ_REDIS_URL) {said}")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        environ = dict(os.environ) if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(f"CONCVIZ_{f.name.upper()}")
            if raw is not None:
                values[f.name] = _parse(f.name, raw, type(getattr(cls, f.name)))
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)  # type: ignore[arg-type]
        except ValueError as exc:
            raise SystemExit(f"concviz: {exc}") from None


def _parse(name: str, raw: str, kind: type) -> object:
    if kind is bool:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    try:
        return kind(raw)
    except ValueError:
        raise SystemExit(
            f"CONCVIZ_{name.upper()} must be {'an integer' if kind is int else 'a number'}"
            f" (got {raw!r})"
        ) from None


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
