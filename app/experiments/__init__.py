"""The experiments, one package each, and the catalogue that lists them.

Each experiment's package defines `EXPERIMENT`: a lesson's folder holds its
program, and its overlay and view where it has any (`lesson.py`).
"""

from __future__ import annotations

import importlib

from app.experiments.spec import Experiment

__all__ = ["EXPERIMENTS", "Experiment"]

# The experiments' packages, in the order of the lecture's lessons as the
# index shows them; the user's own program last.
_CATALOGUE = (
    "producer_consumer",
    "queue_calls",
    "joinable",
    "threads",
    "daemon",
    "lock",
    "ipc",
    "broker",
    "program",
)


def _load() -> dict[str, Experiment]:
    out: dict[str, Experiment] = {}
    for module in _CATALOGUE:
        exp: Experiment = importlib.import_module(f"app.experiments.{module}").EXPERIMENT
        assert exp.slug not in out, f"{module}.EXPERIMENT has the slug of another: {exp.slug!r}"
        out[exp.slug] = exp
    return out


EXPERIMENTS: dict[str, Experiment] = _load()
