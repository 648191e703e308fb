"""Honest words and order: the log reads in the order things happened."""

from __future__ import annotations

from collections import deque

from app import events, model
from app.events import Event


def at(seq: int, t: float) -> Event:
    return Event(seq, t, "P1", 1, 1, events.PUT, f"P1#{seq}", None)


def test_a_late_event_takes_its_place_in_the_log() -> None:
    log: deque[Event] = deque(maxlen=5)
    for seq, t in ((1, 0.1), (2, 0.3), (3, 0.2), (4, 0.3), (5, 0.25)):
        model.log_in_time_order(log, at(seq, t))
    assert [e.seq for e in log] == [1, 3, 5, 2, 4]  # equal times keep their arrival order


def test_a_full_log_keeps_the_newest_events_by_time() -> None:
    log: deque[Event] = deque(maxlen=3)
    for seq, t in ((1, 1.0), (2, 2.0), (3, 3.0)):
        model.log_in_time_order(log, at(seq, t))
    model.log_in_time_order(log, at(4, 0.5))  # older than all it keeps: left out
    assert [e.seq for e in log] == [1, 2, 3]
    model.log_in_time_order(log, at(5, 1.5))  # in its place; the oldest goes
    assert [e.seq for e in log] == [5, 2, 3]
    model.log_in_time_order(log, at(6, 4.0))
    assert [e.seq for e in log] == [2, 3, 6]


def test_the_fold_logs_in_time_order_whatever_the_batches_arrival() -> None:
    late_batch = [at(1, 0.1), at(2, 0.2)]
    on_time = [at(3, 0.15), at(4, 0.3)]
    state = model.fold_all(on_time + late_batch)
    assert [e.t for e in state.log] == [0.1, 0.15, 0.2, 0.3]
