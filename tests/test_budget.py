"""The cap on live workers across runs (app/budget.py)."""

from __future__ import annotations

import threading

import pytest

from app.budget import Share, WorkerBudget


def test_acquire_takes_all_or_nothing() -> None:
    budget = WorkerBudget(5)
    assert budget.acquire(3)
    assert budget.held == 3
    assert not budget.acquire(3)
    assert budget.held == 3  # nothing taken by the failed request
    assert budget.acquire(2)
    assert budget.held == 5
    assert not budget.acquire(1)


def test_release_frees_slots_for_others() -> None:
    budget = WorkerBudget(2)
    assert budget.acquire(2)
    budget.release()
    assert budget.held == 1
    assert budget.acquire(1)
    budget.release(2)
    assert budget.held == 0


def test_releasing_more_than_was_given_raises() -> None:
    budget = WorkerBudget(4)
    assert budget.acquire(1)
    with pytest.raises(RuntimeError, match="released more slots than it gave"):
        budget.release(2)


def test_a_cap_of_zero_gives_nothing() -> None:
    budget = WorkerBudget(0)
    assert not budget.acquire(1)
    assert budget.acquire(0)
    assert budget.held == 0


def test_concurrent_acquires_never_pass_the_cap() -> None:
    budget = WorkerBudget(50)
    granted: list[bool] = []
    barrier = threading.Barrier(8)

    def grab() -> None:
        barrier.wait()
        for _ in range(100):
            granted.append(budget.acquire(1))

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert granted.count(True) == 50
    assert budget.held == 50


def test_a_refused_release_changes_nothing() -> None:
    budget = WorkerBudget(4)
    assert budget.acquire(1)
    with pytest.raises(RuntimeError):
        budget.release(2)
    assert budget.held == 1
    assert budget.acquire(3)
    assert not budget.acquire(1)


def test_a_run_says_it_ended_only_after_giving_its_slots_back() -> None:
    """A Start pressed the moment the last run shows ended finds its slots
    free: the run's end is said after the budget has them back."""
    from app import events
    from app.experiments import EXPERIMENTS

    exp = EXPERIMENTS["threads"]
    assert exp.params is not None
    assert exp.runtime is not None
    params = exp.params(repeat=1, speed=20.0, pause_ms=0, step_ms=0)
    budget = WorkerBudget(8)
    assert budget.acquire(exp.worker_count(params))
    held_at_end: list[int] = []

    def hand_over(batch: list[events.RawEvent]) -> None:
        held_at_end.extend(budget.held for raw in batch if raw[4] == events.RUN_END)

    rt = exp.runtime(exp, params, hand_over, budget, time_limit_s=30.0)
    rt.start()
    try:
        assert rt.join(20.0), "the run did not end"
    finally:
        if not rt.done:
            rt.stop("test teardown")
            rt.join(10.0)
    assert held_at_end == [0]


def test_a_runs_share_grows_within_the_cap_and_gives_everything_back_once() -> None:
    budget = WorkerBudget(cap=5)
    assert budget.acquire(2)
    share = Share(budget, 2)
    assert share.grow(4)
    assert (share.held, budget.held) == (4, 4)
    assert not share.grow(6)  # one past the cap: nothing more taken
    assert (share.held, budget.held) == (4, 4)
    assert share.grow(3)
    assert share.held == 4  # fewer: kept until the release
    share.release()
    share.release()
    assert (share.held, budget.held) == (0, 0)
    assert share.grow(5)  # released: it takes nothing again
    assert budget.held == 0
