"""A lesson's program hears the presenter while it runs: its live settings
(sliders), its calls (buttons) and the run's speed, which scales its sleeps.
Run with plain python, the same program keeps its constants."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import harness
import pytest
from pydantic import BaseModel, ConfigDict, Field

from app.experiments import Experiment
from app.experiments.lesson import program_lesson
from app.programs.boot.concviz_tracer import kinds as K

PROGRAM = """\
import time

try:
    from concviz_live import live, next_call
except ImportError:
    def live(name, value):
        return value

    def next_call(timeout=None):
        return {"op": "none"}

COUNT = 1

print("count", live("COUNT", COUNT))
while live("COUNT", COUNT) == 1 and __import__("os").environ.get("CONCVIZ_TRACE_LIVE"):
    time.sleep(0.01)
print("count", live("COUNT", COUNT))
print("call", next_call(timeout=10)["op"])
time.sleep(30)  # program time: at speed 20, a second and a half
print("slept")
"""


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(1, ge=1, le=9, json_schema_extra={"live": True})
    speed: float = Field(1.0, ge=0.1, le=20.0, json_schema_extra={"live": True})


@pytest.fixture
def lesson(tmp_path: Path) -> Experiment:
    (tmp_path / "program.py").write_text(PROGRAM)
    return program_lesson(
        slug="live-check",
        title="live",
        summary="live",
        lecture_part="-",
        folder=tmp_path,
        params=Params,
        frame_template="partials/program/_frame.html",
    )


@pytest.fixture
def started(lesson: Experiment) -> Iterator[harness.Started]:
    run = harness.start(lesson, Params(), cap=4, time_limit_s=30.0)
    yield run
    rt = run[0]
    if not rt.done:
        rt.stop("test teardown")
        rt.join(10.0)


def printed(rec: harness.Recorder) -> list[str]:
    return [
        str((raw[6] or {}).get("text", "")).strip()
        for raw in list(rec.raw)
        if raw[4] == K.OUT and raw[6]
    ]


def wait_printed(rec: harness.Recorder, line: str) -> None:
    rec.wait_for(lambda raws: line in printed(rec), timeout=15)


def test_a_slider_a_button_and_the_speed_reach_the_running_program(
    lesson: Experiment, started: harness.Started
) -> None:
    rt: Any
    rt, rec, budget = started
    assert lesson.live_settings(Params(count=3, speed=2.0)) == {"COUNT": 3}
    wait_printed(rec, "count 1")
    rt.set_live({"COUNT": 2})  # the slider
    wait_printed(rec, "count 2")
    assert rt.send({"op": "put"})  # the button
    wait_printed(rec, "call put")
    rt.set_speed(20.0)  # within a sleep already begun
    wait_printed(rec, "slept")
    assert rt.join(10.0)
    assert budget.held == 0
    sleeps = [raw[6]["s"] for raw in rec.raw if raw[4] == K.SLEEP and raw[6]]
    assert 30 in sleeps  # the program's own time is what the page says


def test_calls_the_program_does_not_take_are_refused_past_a_bound(
    started: harness.Started,
) -> None:
    rt: Any = started[0]
    sent = [rt.send({"op": str(n)}) for n in range(40)]
    assert sent[:32] == [True] * 32
    assert not any(sent[32:])


def test_run_on_its_own_the_program_keeps_its_constants(lesson: Experiment, tmp_path: Path) -> None:
    assert lesson.script is not None
    path = tmp_path / "alone.py"
    path.write_text(lesson.script({"count": 5, "speed": 1.0}).replace("time.sleep(30)", "pass"))
    done = harness.run_alone(path, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == ["count 5", "count 5", "call none"]
