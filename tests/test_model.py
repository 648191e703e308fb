"""What every run's state folds the same way (app/model.py): the run's
lifecycle and its log."""

from __future__ import annotations

from typing import Any

from app import events, model
from app.events import Event


def ev(seq: int, kind: str, data: dict[str, Any] | None = None, t: float = 0.0) -> Event:
    return Event(seq, t, "main", 100, 100, kind, None, data)


def fold_all(evs: list[Event]) -> model.RunState:
    state = model.RunState()
    for e in evs:
        model.fold(state, e)
    return state


def test_run_start_and_run_end_set_status_reason_and_backend() -> None:
    start = ev(1, events.RUN_START, {"backend": "thread", "params": {"speed": 2}})
    state = fold_all([start])
    assert (state.status, state.backend, state.params) == ("running", "thread", {"speed": 2})
    model.fold(state, ev(2, events.RUN_END, {"outcome": "failed", "reason": "C1 crashed"}))
    assert (state.status, state.reason) == ("failed", "C1 crashed")


def test_pause_and_step_mode_follow_their_events_and_the_end_clears_both() -> None:
    state = fold_all([ev(1, events.RUN_START), ev(2, events.PAUSE), ev(3, events.STEP_ON)])
    assert (state.paused, state.stepping) == (True, True)
    model.fold(state, ev(4, events.RESUME))
    model.fold(state, ev(5, events.STEP_OFF))
    assert (state.paused, state.stepping) == (False, False)
    model.fold(state, ev(6, events.PAUSE))
    model.fold(state, ev(7, events.STEP_ON))
    model.fold(state, ev(8, events.RUN_END, {"outcome": "stopped", "reason": "stopped"}))
    assert (state.paused, state.stepping, state.status) == (False, False, "stopped")


def test_the_log_keeps_the_newest_events_and_the_run_its_newest_number_and_time() -> None:
    evs = [ev(n, "out", t=n / 10) for n in range(1, model.LOG_LENGTH + 6)]
    state = fold_all(evs)
    assert [e.seq for e in state.log] == [e.seq for e in evs[-model.LOG_LENGTH :]]
    assert (state.last_seq, state.last_t) == (len(evs), evs[-1].t)
    model.fold(state, ev(3, "out", t=0.3))  # a late one changes neither
    assert (state.last_seq, state.last_t) == (len(evs), evs[-1].t)


def test_a_late_event_goes_in_its_place_in_the_log_after_those_of_its_time() -> None:
    state = fold_all([ev(n, "out", t=n / 10) for n in (1, 2, 4, 5)])
    model.fold(state, ev(6, "out", t=0.2))  # late, at the time of seq 2
    model.fold(state, ev(7, "out", t=0.3))  # late, between 2 and 4
    assert [e.seq for e in state.log] == [1, 2, 6, 7, 4, 5]


def test_a_full_log_leaves_out_a_late_event_older_than_all_it_keeps() -> None:
    evs = [ev(n, "out", t=n / 10) for n in range(1, model.LOG_LENGTH + 3)]
    state = fold_all(evs)
    kept = [e.seq for e in state.log]
    model.fold(state, ev(900, "out", t=0.0))  # older than the oldest kept
    assert [e.seq for e in state.log] == kept
    model.fold(state, ev(901, "out", t=evs[5].t))  # in the middle: the oldest goes
    assert [e.seq for e in state.log] == [*kept[1:4], 901, *kept[4:]]
