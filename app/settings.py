"""Server settings: limits and rates, from flags or environment variables.

Each setting `name` can come from the flag `--name` (with dashes) or from the
environment variable `CONCVIZ_NAME`; a flag wins over the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields


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
    lan: bool = False  # classroom mode: every interface, a presenter token

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        environ = dict(os.environ) if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(f"CONCVIZ_{f.name.upper()}")
            if raw is not None:
                values[f.name] = _parse(f.name, raw, type(getattr(cls, f.name)))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


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
