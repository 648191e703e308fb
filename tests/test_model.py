"""The pure fold of events into view state (app/model.py)."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app import events, model
from app.events import Event
from app.model import ViewState, fold, fold_all

PIDS = {"main": 100, "P1": 101, "P2": 102, "P3": 103, "C1": 201, "C2": 202, "C3": 203}


def ev(
    worker: str,
    kind: str,
    item: str | None = None,
    data: dict[str, Any] | None = None,
    *,
    t: float = 0.0,
    seq: int = 0,
    tid: int | None = None,
) -> Event:
    pid = PIDS.get(worker, 999)
    return Event(seq, t, worker, pid, pid * 10 if tid is None else tid, kind, item, data)


def numbered(evs: Iterable[Event]) -> list[Event]:
    """Number events in the given (arrival) order, as the server does."""
    return [e._replace(seq=i) for i, e in enumerate(evs, start=1)]


def exit_ev(worker: str, code: int | None, t: float = 0.0) -> Event:
    return ev(worker, events.EXIT, data={"exitcode": code}, t=t, tid=0)


# Counters and the queue.


def test_counters_follow_a_simple_run() -> None:
    state = fold_all(
        numbered(
            [
                ev(
                    "main",
                    events.RUN_START,
                    data={"backend": "process", "params": {"capacity": 2}},
                ),
                ev("P1", events.START, data={"role": "producer"}),
                ev("C1", events.START, data={"role": "consumer"}),
                ev("C1", events.GET_WAIT),
                ev("P1", events.PRODUCE, "P1#1"),
                ev("P1", events.PUT, "P1#1"),
                ev("P1", events.PRODUCE, "P1#2"),
                ev("P1", events.PUT, "P1#2"),
                ev("P1", events.PRODUCE, "P1#3"),
                ev("P1", events.PUT_WAIT, "P1#3"),
            ]
        )
    )
    assert state.status == "running"
    assert state.backend == "process"
    assert state.params == {"capacity": 2}
    counters = state.counters()
    assert counters == {
        "produced": 2,
        "consumed": 0,
        "in_queue": 2,
        "producers_blocked": 1,
        "consumers_waiting": 1,
        "throughput": 0.0,
        "duplicates": 0,
    }
    assert state.queue_items() == ["P1#1", "P1#2"]

    fold_all(
        numbered(
            [
                ev("C1", events.GET, "P1#1"),
                ev("P1", events.PUT, "P1#3"),
                ev("C1", events.DONE, "P1#1"),
            ]
        ),
        state,
    )
    counters = state.counters()
    assert counters["produced"] == 3
    assert counters["consumed"] == 1
    assert counters["in_queue"] == 2
    assert counters["producers_blocked"] == 0
    assert counters["consumers_waiting"] == 0
    assert set(state.queue) == {"P1#2", "P1#3"}


def test_sentinels_sit_in_the_queue_but_are_not_counted_as_items() -> None:
    state = fold_all(
        numbered(
            [
                ev("P1", events.PUT, "P1#1"),
                ev("main", events.SENTINEL_PUT, "stop#1"),
            ]
        )
    )
    assert set(state.queue) == {"P1#1", "stop#1"}
    assert state.in_queue == 1
    assert state.sentinels_put == 1


def test_a_get_that_arrives_before_its_put_leaves_the_queue_empty() -> None:
    state = fold_all(numbered([ev("C1", events.GET, "P1#1", t=0.2)]))
    assert state.queue == {}
    assert state.in_queue == 0
    assert state.early_gets == {"P1#1"}

    fold_all(
        numbered([ev("P1", events.PUT, "P1#1", t=0.1), ev("C1", events.DONE, "P1#1", t=0.3)]),
        state,
    )
    assert state.queue == {}
    assert state.early_gets == set()
    counters = state.counters()
    assert counters["produced"] == 1
    assert counters["consumed"] == 1
    assert counters["in_queue"] == 0
    assert counters["duplicates"] == 0


def test_puts_reported_ahead_of_gets_never_fill_a_queue_past_its_capacity() -> None:
    start = ev("main", events.RUN_START, data={"params": {"capacity": 2}})
    puts = [ev("P1", events.PUT, f"P1#{n}", t=0.1 * n) for n in (1, 2, 3)]
    state = fold_all(numbered([start, *puts]))  # the consumer's gets are late
    assert state.queue_items() == ["P1#2", "P1#3"]  # P1#1 was taken: it made room
    assert state.counters()["in_queue"] == 2
    assert state.taken_unreported == {"P1#1"}

    gets = [ev("C1", events.GET, f"P1#{n}", t=0.1 * n + 0.05) for n in (1, 2)]
    fold_all(numbered(gets), state)
    assert state.queue_items() == ["P1#3"]
    assert state.taken_unreported == set()
    assert state.early_gets == set()


def test_an_unbounded_queue_shows_every_item_whose_get_has_not_come() -> None:
    start = ev("main", events.RUN_START, data={"params": {"capacity": 0}})
    puts = [ev("P1", events.PUT, f"P1#{n}", t=0.1 * n) for n in (1, 2, 3)]
    state = fold_all(numbered([start, *puts]))
    assert state.queue_items() == ["P1#1", "P1#2", "P1#3"]
    assert state.taken_unreported == set()


def test_an_item_put_again_after_its_early_get_is_matched_goes_into_the_queue() -> None:
    state = fold_all(
        numbered(
            [
                ev("C1", events.GET, "P1#1"),
                ev("P1", events.PUT, "P1#1"),
                ev("P1", events.PUT, "P1#2"),
            ]
        )
    )
    assert set(state.queue) == {"P1#2"}


# Worker states.


def test_producer_states() -> None:
    state = ViewState()
    fold(state, ev("P1", events.START, data={"role": "producer"}, t=0.1))
    w = state.workers["P1"]
    assert (w.role, w.pid, w.tid, w.state, w.alive) == ("producer", 101, 1010, model.STARTING, True)

    fold(state, ev("P1", events.PRODUCE, "P1#1", t=0.2))
    assert (w.state, w.item, w.since) == (model.PRODUCING, "P1#1", 0.2)

    fold(state, ev("P1", events.PUT_WAIT, "P1#1", t=0.3))
    assert (w.state, w.item, w.since) == (model.PUT_WAIT, "P1#1", 0.3)
    assert state.counters()["producers_blocked"] == 1

    fold(state, ev("P1", events.PUT, "P1#1", t=0.4))
    assert (w.state, w.item, w.items) == (model.READY, None, 1)
    assert state.counters()["producers_blocked"] == 0


def test_consumer_states() -> None:
    state = ViewState()
    fold(state, ev("C1", events.START, data={"role": "consumer"}))
    w = state.workers["C1"]
    fold(state, ev("C1", events.GET_WAIT, t=0.1))
    assert (w.state, w.item) == (model.GET_WAIT, None)
    assert state.counters()["consumers_waiting"] == 1

    fold(state, ev("C1", events.GET, "P2#4", t=0.2))
    assert (w.state, w.item) == (model.CONSUMING, "P2#4")
    assert state.counters()["consumers_waiting"] == 0

    fold(state, ev("C1", events.DONE, "P2#4", t=0.3))
    assert (w.state, w.item, w.items) == (model.READY, None, 1)


def test_a_consumer_that_takes_a_sentinel_finishes_with_reason_sentinel() -> None:
    state = fold_all(
        numbered(
            [
                ev("C1", events.START, data={"role": "consumer"}),
                ev("main", events.SENTINEL_PUT, "stop#1"),
                ev("C1", events.SENTINEL_GET, "stop#1"),
            ]
        )
    )
    w = state.workers["C1"]
    assert (w.state, w.item, w.reason) == (model.LEAVING, "stop#1", "sentinel")
    assert state.queue == {}

    fold_all(numbered([ev("C1", events.FINISH, data={"reason": "done"}), exit_ev("C1", 0)]), state)
    assert (w.state, w.reason, w.alive, w.exitcode) == (model.FINISHED, "sentinel", False, 0)


def test_a_retired_producer_finishes_with_reason_retired() -> None:
    state = fold_all(
        numbered(
            [
                ev("P2", events.START, data={"role": "producer"}),
                ev("P2", events.RETIRE),
            ]
        )
    )
    w = state.workers["P2"]
    assert (w.state, w.reason) == (model.LEAVING, "retired")
    # A producer leaves by returning, so its own finish says "done".
    fold_all(numbered([ev("P2", events.FINISH, data={"reason": "done"})]), state)
    assert (w.state, w.reason) == (model.FINISHED, "retired")


@pytest.mark.parametrize("reason", ["retired", "stopped", "done"])
def test_finish_reports_its_reason(reason: str) -> None:
    state = fold_all(
        numbered(
            [
                ev("C2", events.START, data={"role": "consumer"}),
                ev("C2", events.GET_WAIT),
                ev("C2", events.FINISH, data={"reason": reason}),
                exit_ev("C2", 0),
            ]
        )
    )
    w = state.workers["C2"]
    assert (w.state, w.reason, w.alive, w.exitcode) == (model.FINISHED, reason, False, 0)
    assert state.counters()["consumers_waiting"] == 0


def test_a_crash_event_then_exit_code_1_leaves_the_worker_crashed() -> None:
    state = fold_all(
        numbered(
            [
                ev("C1", events.START, data={"role": "consumer"}),
                ev("C1", events.GET, "P1#1"),
                ev(
                    "C1",
                    events.CRASH,
                    data={"error": "ValueError: bad item", "traceback": "Traceback ..."},
                    t=0.5,
                ),
                exit_ev("C1", 1, t=0.6),
            ]
        )
    )
    w = state.workers["C1"]
    assert w.state == model.CRASHED
    assert w.error == "ValueError: bad item"
    assert w.exitcode == 1
    assert w.alive is False
    assert w.item == "P1#1"  # what it was holding when it crashed
    assert w.since == 0.5  # the crash, not the exit, changed its state


def test_a_nonzero_exit_without_a_crash_event_counts_as_crashed() -> None:
    state = fold_all(
        numbered([ev("P1", events.START, data={"role": "producer"}), exit_ev("P1", 70, t=1.0)])
    )
    w = state.workers["P1"]
    assert (w.state, w.exitcode, w.alive, w.since) == (model.CRASHED, 70, False, 1.0)


@pytest.mark.parametrize("code", [-9, -15])
def test_a_negative_exit_code_means_killed(code: int) -> None:
    state = fold_all(
        numbered(
            [
                ev("P1", events.START, data={"role": "producer"}),
                ev("P1", events.PUT_WAIT, "P1#4"),
                exit_ev("P1", code),
            ]
        )
    )
    w = state.workers["P1"]
    assert (w.state, w.exitcode, w.alive) == (model.KILLED, code, False)
    assert state.counters()["producers_blocked"] == 0


def test_exit_code_0_ends_a_worker_that_sent_no_finish() -> None:
    state = fold_all(
        numbered([ev("C1", events.START, data={"role": "consumer"}), exit_ev("C1", 0)])
    )
    assert state.workers["C1"].state == model.FINISHED


@pytest.mark.parametrize(
    "late",
    [
        ev("P1", events.PRODUCE, "P1#9"),
        ev("P1", events.PUT_WAIT, "P1#9"),
        ev("P1", events.PUT, "P1#9"),
        ev("P1", events.GET_WAIT),
        ev("P1", events.GET, "P1#9"),
        ev("P1", events.RETIRE),
    ],
    ids=lambda e: e.kind,
)
@pytest.mark.parametrize("ending", ["finish", "crash", "killed"])
def test_an_ended_worker_does_not_come_back_to_life(late: Event, ending: str) -> None:
    end = {
        "finish": [ev("P1", events.FINISH, data={"reason": "stopped"})],
        "crash": [ev("P1", events.CRASH, data={"error": "E: x"}), exit_ev("P1", 1)],
        "killed": [exit_ev("P1", -9)],
    }[ending]
    state = fold_all(numbered([ev("P1", events.START, data={"role": "producer"}), *end]))
    w = state.workers["P1"]
    before = (w.state, w.item, w.since)
    assert w.state in model.ENDED
    fold(state, late._replace(t=9.0))
    assert (w.state, w.item, w.since) == before


def test_an_item_done_twice_counts_a_duplicate_and_is_consumed_once() -> None:
    state = fold_all(
        numbered(
            [
                ev("C1", events.DONE, "P1#1", t=0.1),
                ev("C2", events.DONE, "P1#1", t=0.2),
                ev("C2", events.DONE, "P1#2", t=0.3),
            ]
        )
    )
    assert state.duplicates == 1
    assert state.consumed == 2
    assert state.counters()["duplicates"] == 1
    assert state.consumed_items() == {"P1#1", "P1#2"}


def test_consumed_items_lists_each_item_across_producers() -> None:
    items = ["P1#1", "P2#3", "P1#10", "P3#8", "P12#1000"]
    state = fold_all(numbered(ev("C1", events.DONE, i) for i in items))
    assert state.consumed_items() == set(items)
    assert state.consumed == len(items)
    assert ViewState().consumed_items() == set()


def test_throughput_is_zero_before_any_event() -> None:
    state = ViewState()
    assert state.throughput == 0.0
    assert state.counters()["throughput"] == 0.0


def test_throughput_counts_done_items_per_second() -> None:
    state = fold_all(numbered(ev("C1", events.DONE, f"P1#{n}", t=n / 4) for n in range(1, 5)))
    # 4 items in the first second of the run.
    assert state.throughput == pytest.approx(4.0)
    assert state.counters()["throughput"] == 4.0


def test_throughput_forgets_items_done_long_ago() -> None:
    state = fold_all(numbered([ev("C1", events.DONE, "P1#1", t=0.1)]))
    assert state.throughput > 0
    fold(state, ev("P1", events.PRODUCE, "P1#2", t=30.0))
    assert state.throughput == 0.0


def test_the_log_keeps_the_newest_events_but_not_produce() -> None:
    evs = numbered(
        [ev("P1", events.PRODUCE, "P1#0")]
        + [ev("P1", events.PUT, f"P1#{n}") for n in range(model.LOG_LENGTH + 5)]
    )
    state = fold_all(evs)
    assert len(state.log) == model.LOG_LENGTH
    assert [entry.seq for entry in state.log] == [e.seq for e in evs[-model.LOG_LENGTH :]]
    assert all(entry.kind == events.PUT for entry in state.log)
    assert state.last_seq == len(evs)


def test_run_end_sets_status_and_reason() -> None:
    state = fold_all(
        numbered(
            [
                ev("main", events.RUN_START, data={"backend": "thread", "params": {}}),
                ev("main", events.RUN_END, data={"outcome": "failed", "reason": "C1 crashed"}),
            ]
        )
    )
    assert (state.status, state.reason, state.backend) == ("failed", "C1 crashed", "thread")


# Order tolerance, as a property.


@dataclasses.dataclass
class Sim:
    """Ground truth of a simulated run, cut off at some step."""

    per_worker: dict[str, list[Event]]
    in_order: list[Event]
    queue: list[str]
    consumed: set[str]
    produced: int
    blocked: set[str]
    waiting: set[str]


def simulate(
    rng: random.Random, n_producers: int, n_consumers: int, items: int, capacity: int, steps: int
) -> Sim:
    """A producer/consumer run around one bounded FIFO queue, one action per step,
    the acting worker chosen at random; stops after `steps` actions."""
    per_worker: dict[str, list[Event]] = {"main": []}
    in_order: list[Event] = []
    clock = iter(range(1, 10**6))

    def emit(worker: str, kind: str, item: str | None = None, data: Any = None) -> None:
        t = next(clock) * 0.01
        e = exit_ev(worker, data, t) if kind == events.EXIT else ev(worker, kind, item, data, t=t)
        per_worker[worker].append(e)
        in_order.append(e)

    producers = [f"P{i}" for i in range(1, n_producers + 1)]
    consumers = [f"C{i}" for i in range(1, n_consumers + 1)]
    made = dict.fromkeys(producers, 0)
    blocked: dict[str, str] = {}  # producer -> item it waits to put
    holding: dict[str, str] = {}  # consumer -> item it is consuming
    waiting: set[str] = set()
    ended: set[str] = set()
    queue: list[str] = []
    consumed: set[str] = set()
    produced = 0
    sentinels = 0

    params = {"capacity": capacity}  # the fold bounds its queue by it
    emit("main", events.RUN_START, data={"backend": "process", "params": params})
    roles = {**dict.fromkeys(producers, "producer"), **dict.fromkeys(consumers, "consumer")}
    for name, role in roles.items():
        per_worker[name] = []
        emit(name, events.START, data={"role": role})

    def take(c: str) -> None:
        item = queue.pop(0)
        waiting.discard(c)
        if events.is_sentinel(item):
            emit(c, events.SENTINEL_GET, item)
            emit(c, events.FINISH, data={"reason": "done"})
            emit(c, events.EXIT, data=0)
            ended.add(c)
        else:
            emit(c, events.GET, item)
            holding[c] = item

    for _ in range(steps):
        actions: list[tuple[str, str]] = []
        for p in producers:
            if p in ended:
                continue
            if p in blocked:
                if len(queue) < capacity:
                    actions.append((p, "unblock"))
            else:
                actions.append((p, "make" if made[p] < items else "end"))
        for c in consumers:
            if c in ended:
                continue
            if c in holding:
                actions.append((c, "done"))
            elif queue:
                actions.append((c, "take"))
            elif c not in waiting:
                actions.append((c, "wait"))
        if all(p in ended for p in producers) and sentinels < n_consumers and len(queue) < capacity:
            actions.append(("main", "sentinel"))
        if not actions:
            break
        who, what = rng.choice(actions)
        if what == "make":
            made[who] += 1
            item = f"{who}#{made[who]}"
            emit(who, events.PRODUCE, item)
            if len(queue) < capacity:
                emit(who, events.PUT, item)
                queue.append(item)
                produced += 1
            else:
                emit(who, events.PUT_WAIT, item)
                blocked[who] = item
        elif what == "unblock":
            item = blocked.pop(who)
            emit(who, events.PUT, item)
            queue.append(item)
            produced += 1
        elif what == "end":
            emit(who, events.FINISH, data={"reason": "done"})
            emit(who, events.EXIT, data=0)
            ended.add(who)
        elif what == "take":
            take(who)
        elif what == "wait":
            emit(who, events.GET_WAIT)
            waiting.add(who)
        elif what == "done":
            item = holding.pop(who)
            emit(who, events.DONE, item)
            consumed.add(item)
        elif what == "sentinel":
            sentinels += 1
            label = f"{events.SENTINEL_PREFIX}{sentinels}"
            emit("main", events.SENTINEL_PUT, label)
            queue.append(label)
    return Sim(per_worker, in_order, queue, consumed, produced, set(blocked), waiting - ended)


def interleave(rng: random.Random, per_worker: dict[str, list[Event]]) -> list[Event]:
    """Any merge of the workers' own lists that keeps each list's order."""
    cursors = {w: 0 for w, evs in per_worker.items() if evs}
    out: list[Event] = []
    while cursors:
        w = rng.choice(sorted(cursors))
        out.append(per_worker[w][cursors[w]])
        cursors[w] += 1
        if cursors[w] == len(per_worker[w]):
            del cursors[w]
    return out


def picture(state: ViewState) -> dict[str, Any]:
    return {
        "status": state.status,
        "counters": state.counters(),
        "consumed_items": state.consumed_items(),
        "queue": set(state.queue),
        "early_gets": state.early_gets,
        "taken_unreported": state.taken_unreported,
        "workers": {name: dataclasses.asdict(w) for name, w in state.workers.items()},
    }


def test_simulation_sanity() -> None:
    """The simulation really produces runs worth testing on: out-of-order
    arrivals, blocked producers and sentinels."""
    sim = simulate(random.Random(3), 3, 2, 5, 2, 10_000)
    kinds = {e.kind for e in sim.in_order}
    assert {events.PUT_WAIT, events.GET_WAIT, events.SENTINEL_GET, events.EXIT} <= kinds
    assert sim.consumed == {f"P{p}#{n}" for p in (1, 2, 3) for n in range(1, 6)}
    assert fold_all(numbered(sim.in_order)).status == "running"


@settings(max_examples=200, deadline=None)
@given(
    n_producers=st.integers(1, 3),
    n_consumers=st.integers(1, 3),
    items=st.integers(0, 6),
    capacity=st.integers(1, 4),
    steps=st.integers(0, 150) | st.just(10_000),
    sim_rng=st.randoms(use_true_random=False),
    merge_rng=st.randoms(use_true_random=False),
)
def test_fold_gives_the_same_picture_for_any_interleaving_of_workers(
    n_producers: int,
    n_consumers: int,
    items: int,
    capacity: int,
    steps: int,
    sim_rng: random.Random,
    merge_rng: random.Random,
) -> None:
    sim = simulate(sim_rng, n_producers, n_consumers, items, capacity, steps)
    reference = fold_all(numbered(sim.in_order))

    # The in-order fold agrees with the simulation's ground truth.
    assert set(reference.queue) == set(sim.queue)
    assert reference.consumed_items() == sim.consumed
    assert reference.produced == sim.produced
    assert reference.duplicates == 0
    assert reference.early_gets == set()
    counters = reference.counters()
    assert counters["producers_blocked"] == len(sim.blocked)
    assert counters["consumers_waiting"] == len(sim.waiting)
    assert counters["in_queue"] == sum(1 for i in sim.queue if not events.is_sentinel(i))

    arrived = numbered(interleave(merge_rng, sim.per_worker))
    assert sorted(e.t for e in arrived) == [e.t for e in sim.in_order]
    assert picture(fold_all(arrived)) == picture(reference)


def _is_order_preserving(merged: Sequence[Event], per_worker: dict[str, list[Event]]) -> bool:
    return all([e for e in merged if e.worker == w] == evs for w, evs in per_worker.items())


def test_interleave_keeps_each_workers_order_and_mixes_workers() -> None:
    sim = simulate(random.Random(1), 2, 2, 4, 1, 10_000)
    merges = [interleave(random.Random(seed), sim.per_worker) for seed in range(20)]
    assert all(_is_order_preserving(m, sim.per_worker) for m in merges)
    assert any([e.t for e in m] != [e.t for e in sim.in_order] for m in merges)
