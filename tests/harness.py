"""Running an experiment's real program without the server, for the tests.

`Recorder` is a runtime's `on_batch`: it keeps every raw event in arrival
order. `start` starts the experiment's runtime holding the budget the
experiment needs, as the registry does, and `Runs` stops whatever a test
left running.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from app import events
from app.budget import WorkerBudget
from app.events import Event
from app.experiments import Experiment
from app.programs.runtime import ProgramRuntime


class Recorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.raw: list[events.RawEvent] = []

    def __call__(self, batch: list[events.RawEvent]) -> None:
        with self._lock:
            self.raw.extend(batch)

    def events(self, start_ns: int) -> list[Event]:
        """The events so far, numbered as the server numbers them."""
        with self._lock:
            raws = list(self.raw)
        return [events.from_raw(r, seq, start_ns) for seq, r in enumerate(raws, start=1)]

    def wait_for(self, what: Callable[[list[events.RawEvent]], bool], timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if what(self.raw):
                    return
            assert time.monotonic() < deadline, "timed out waiting for the run"
            time.sleep(0.01)


Started = tuple[ProgramRuntime, Recorder, WorkerBudget]


def start(
    experiment: Experiment,
    params: BaseModel,
    *,
    cap: int = 64,
    time_limit_s: float = 60.0,
    recorder: Recorder | None = None,
) -> Started:
    budget = WorkerBudget(cap)
    assert budget.acquire(experiment.worker_count(params))
    recorder = recorder if recorder is not None else Recorder()
    assert experiment.runtime is not None
    rt = experiment.runtime(experiment, params, recorder, budget, time_limit_s=time_limit_s)
    rt.start()
    return rt, recorder, budget


class Runs:
    """Starts runs for a test and stops any it left going."""

    def __init__(self, experiment: Experiment) -> None:
        self.experiment = experiment
        self.started: list[ProgramRuntime] = []

    def __call__(self, **params: Any) -> Started:
        assert self.experiment.params is not None
        rt, recorder, budget = start(self.experiment, self.experiment.params(**params))
        self.started.append(rt)
        return rt, recorder, budget

    def stop_all(self) -> None:
        for rt in self.started:
            if not rt.done:
                rt.stop("test teardown")
                rt.join(10.0)


def runs_fixture(experiment: Experiment) -> Callable[[], Iterator[Runs]]:
    """A pytest fixture giving a `Runs` for `experiment`."""

    @pytest.fixture
    def fixture() -> Iterator[Runs]:
        runs = Runs(experiment)
        yield runs
        runs.stop_all()

    return fixture


def run_alone(
    path: Path, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the program at `path` as a student would, with plain Python and
    no concviz, in its own folder (`env`: more environment, such as the
    broker lesson's REDIS_URL); its output is captured as text."""
    return subprocess.run(
        [sys.executable, "-I", str(path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=path.parent,
        env={**os.environ, **env} if env else None,
    )
