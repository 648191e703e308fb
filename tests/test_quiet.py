"""A program that sends nothing for a while is said to be quiet, and said so
again while it stays quiet: its page's clock and timeline go on."""

from __future__ import annotations

import pytest
from harness import Runs

from app.experiments.program import EXPERIMENT, ProgramParams
from app.programs import lookout
from app.programs.state import QUIET

STUCK = """\
import threading

threading.Event().wait()  # nobody sets it
"""


def test_a_quiet_program_is_said_quiet_again_while_it_stays_quiet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lookout, "QUIET_S", 0.05)
    monkeypatch.setattr(lookout, "QUIET_AGAIN_S", 0.05)
    runs = Runs(EXPERIMENT)
    try:
        rt, recorder, _budget = runs(source=STUCK)

        def quiets(raw: list) -> list:
            return [r for r in raw if r[4] == QUIET]

        recorder.wait_for(lambda raw: len(quiets(raw)) >= 3)
        evs = recorder.events(rt.started_ns)
        said = [e for e in evs if e.kind == QUIET]
        last_traced = max(e.t for e in evs if e.kind != QUIET)
        assert said[0].t < said[1].t < said[2].t
        assert said[2].t > last_traced  # the run's time went on past its last event
        assert said[2].data["s"] > said[0].data["s"]  # quiet for longer each time
        state = EXPERIMENT.fold_all(evs, ProgramParams(source=STUCK).model_dump())
        assert state.quiet
        assert state.last_t == said[-1].t
    finally:
        runs.stop_all()
