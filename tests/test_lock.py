"""The lock race (app/experiments/lock.py): the pure fold, real runs through
app.runtime.Runtime (threads and processes), and the HTTP contract.

Fast params: the hold is scaled by speed (hold 2000 ms at speed 20 is 100 ms
of real time), so no test sleeps for seconds."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import harness
import httpx
import psutil
import pytest
from ssereader import messages, read_events

from app import events
from app.codeview import locate
from app.events import Event
from app.experiments import EXPERIMENTS
from app.experiments.lock import (
    ACQUIRED,
    CODE_LINES,
    READ,
    RELEASED,
    ROUND_END,
    ROUND_START,
    WANT,
    WRITE,
    LockState,
    Params,
    fold,
    script,
    view,
)
from app.model import WorkerView
from app.params import ParamsError, validate

EXPERIMENT = EXPERIMENTS["lock"]
ENDED = ("finished", "stopped", "failed")


# The fold, on events written by hand.


def ev(worker: str, kind: str, data: dict[str, Any] | None = None, **kw: Any) -> Event:
    pid = kw.pop("pid", 100)
    tid = kw.pop("tid", 1000 + (int(worker[1:]) if worker[1:].isdigit() else 0))
    return Event(0, kw.pop("t", 0.0), worker, pid, tid, kind, None, data)


def fold_all(evs: list[Event]) -> LockState:
    state = LockState()
    state.params = Params(threads=3, initial=10).model_dump()
    for seq, e in enumerate(evs, start=1):
        fold(state, e._replace(seq=seq))
    return state


def step(worker: str, kind: str, value: int | None = None, rnd: int = 1, **kw: Any) -> Event:
    data: dict[str, Any] = {"round": rnd}
    if value is not None:
        data["value"] = value
    return ev(worker, kind, data, **kw)


def round_start(rnd: int = 1, t: float = 0.0) -> Event:
    return ev("main", ROUND_START, {"round": rnd, "initial": 10, "expected": 7}, t=t)


def test_fold_follows_a_hand_over_and_keeps_the_line_in_arrival_order() -> None:
    evs = [
        round_start(),
        step("T1", WANT),
        step("T1", ACQUIRED),
        step("T2", WANT),
        step("T3", WANT),
        step("T1", READ, 10),
    ]
    state = fold_all(evs)
    assert state.owner == "T1"
    assert state.waiting == ["T2", "T3"]
    assert state.workers["T1"].state == "holding"
    assert state.workers["T2"].state == "lock_wait"

    # The lock is no queue: T3 may get it before T2, who asked first.
    state = fold_all([*evs, step("T1", WRITE, 9), step("T1", RELEASED), step("T3", ACQUIRED)])
    assert state.owner == "T3"
    assert state.waiting == ["T2"]
    assert state.counter == 9
    assert state.handovers == 2
    assert state.two_owners == 0
    assert state.most_inside == 1


def test_fold_counts_an_acquire_while_another_worker_holds_the_lock() -> None:
    # What a broken lock (or a broken event order) would look like.
    state = fold_all([round_start(), step("T1", ACQUIRED), step("T2", ACQUIRED)])
    assert state.two_owners == 1
    assert state.counters()["two_owners"] == 1


def test_fold_without_the_lock_counts_who_is_inside_and_the_lost_updates() -> None:
    reads = [step(f"T{i}", READ, 10, t=0.01 * i) for i in (1, 2, 3)]
    writes = [step(f"T{i}", WRITE, 9, t=0.2 + 0.01 * i) for i in (1, 2, 3)]
    state = fold_all([round_start(), *reads])
    assert state.inside == {"T1", "T2", "T3"}
    assert state.result() == {"expected": 7, "actual": None, "lost_updates": None}
    end = ev("main", ROUND_END, {"round": 1, "final": 9, "expected": 7}, t=0.3)
    state = fold_all([round_start(), *reads, *writes, end])
    assert state.inside == set()
    assert state.most_inside == 3
    assert [v for _, v in state.history] == [10, 9, 9, 9]
    assert [t for t, _ in state.history] == pytest.approx([0.0, 0.21, 0.22, 0.23])
    assert state.result() == {"expected": 7, "actual": 9, "lost_updates": 2}
    assert state.extras()["rounds"]["finals"] == [9]


def test_fold_keeps_rounds_apart_when_a_late_exit_arrives() -> None:
    """A process of round 2 can report its start before main's `exit` for
    round 1's process of the same name arrives: that exit must not end the
    new one."""
    old = {"pid": 201, "tid": 201}
    new = {"pid": 301, "tid": 301}
    evs = [
        round_start(1),
        ev("P1", events.START, {"role": "worker"}, **old),
        step("P1", READ, 10, 1, **old),
        step("P1", WRITE, 9, 1, **old),
        ev("P1", events.FINISH, {"reason": "done"}, **old),
        ev("main", ROUND_END, {"round": 1, "final": 9, "expected": 9}),
        round_start(2),
        ev("P1", events.START, {"role": "worker"}, **new),
        ev("P1", events.EXIT, {"exitcode": 0, "round": 1}, **old),  # late
        step("P1", READ, 10, 2, **new),
    ]
    state = fold_all(evs)
    w = state.workers["P1"]
    assert (w.pid, w.alive, w.state, w.exitcode) == (301, True, "holding", None)
    assert state.cards["P1"].round == 2
    assert state.cards["P1"].read == 10
    assert state.finals == {1: 9}


def test_fold_ignores_steps_of_an_older_round() -> None:
    state = fold_all([round_start(1), round_start(2), step("T1", ACQUIRED, rnd=1)])
    assert state.owner is None
    assert state.round == 2


def test_view_draws_the_histogram_of_every_possible_final_value() -> None:
    evs = [round_start(1)]
    for rnd, final in enumerate([7, 7, 9], start=1):
        evs.append(ev("main", ROUND_END, {"round": rnd, "final": final, "expected": 7}))
    state = fold_all(evs)
    v = view(state, Params(threads=3, initial=10).model_dump())
    bars = {b["value"]: b["count"] for b in v["hist"]["bars"]}
    assert bars == {7: 2, 8: 0, 9: 1}
    assert [b["value"] for b in v["hist"]["bars"] if b["expected"]] == [7]
    assert v["exact"] == 2
    assert "3 threads" in v["runbar_facts"]
    assert (
        "1 process"
        in view(state, Params(threads=1, backend="process").model_dump())["runbar_facts"]
    )


# Parameters.


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"threads": 0}, "threads", "from 1 to 50"),
        ({"threads": 51}, "threads", "from 1 to 50"),
        ({"repeats": 0}, "repeats", "from 1 to 200"),
        ({"repeats": 201}, "repeats", "from 1 to 200"),
        ({"hold_ms": -1}, "hold_ms", "from 0 to 5000"),
        ({"initial": 1001}, "initial", "from 0 to 1000"),
        ({"speed": 0}, "speed", "from 0.1 to 20"),
        ({"use_lock": "maybe"}, "use_lock", "one of True, False"),
        ({"backend": "gpu"}, "backend", "'thread', 'process'"),
        ({"colour": "red"}, "colour", "unknown field"),
    ],
)
def test_bad_params_name_the_field_and_its_bounds(
    params: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ParamsError) as err:
        validate(Params, params)
    assert any(e.field == field and words in e.message for e in err.value.errors), err.value


def test_params_schema_has_bounds_titles_and_descriptions() -> None:
    props = Params.model_json_schema()["properties"]
    for name, prop in props.items():
        assert prop.get("title"), name
        assert prop.get("description"), name
    # A class can watch the default race: a hold of seconds, not a blink.
    assert (props["threads"]["default"], props["initial"]["default"]) == (5, 10)
    assert props["hold_ms"]["default"] == 3000
    assert props["repeats"]["maximum"] == 200
    assert EXPERIMENT.live_params() == {"speed"}


# The plain program, and where each worker is in it.


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_code_view_puts_waiters_on_the_with_line_and_the_owner_on_the_hold(backend: str) -> None:
    text = script({"backend": backend, "use_lock": True, "threads": 3})
    assert "USE_LOCK = True" in text
    assert "WORKERS = 3" in text
    workers = [
        WorkerView("T1", role="worker", state="holding"),
        WorkerView("T2", role="worker", state="lock_wait"),
        WorkerView("T3", role="worker", state="lock_wait"),
        WorkerView("main", role="main", state="starting"),
    ]
    where = {name: line.text for line in locate(text, CODE_LINES, workers) for name in line.workers}
    assert where["T1"].strip().startswith("time.sleep(HOLD_MS")
    assert where["T2"].strip() == where["T3"].strip() == "with guard:"
    assert where["main"].strip() == "w.join()"


# Real runs: threads and processes started by a real main process.


@pytest.fixture
def start_run() -> Iterator[Callable[..., harness.Started]]:
    runs = harness.Runs(EXPERIMENT)
    yield runs
    runs.stop_all()


def folded(evs: list[Event]) -> LockState:
    """Folds the events one by one, checking after each that the page never
    shows two owners at once."""
    state = LockState()
    for e in evs:
        fold(state, e)
        assert state.two_owners == 0, f"two owners at once after event {e}"
    return state


def assert_one_owner_at_a_time(evs: list[Event]) -> int:
    """In arrival order, the lock goes from free to one owner and back;
    and by the workers' own clocks, no two holding times overlap. Returns
    the number of hand-overs."""
    holder: str | None = None
    released_at = -1.0
    handovers = 0
    for e in evs:
        if e.kind == ROUND_START:
            assert holder is None
        elif e.kind == ACQUIRED:
            assert holder is None, f"{e.worker} acquired while {holder} held the lock"
            assert e.t >= released_at
            holder, handovers = e.worker, handovers + 1
        elif e.kind == RELEASED:
            assert holder == e.worker, f"{e.worker} released a lock held by {holder}"
            holder, released_at = None, e.t
    assert holder is None
    return handovers


def gone(pids: set[int]) -> bool:
    deadline = time.monotonic() + 5.0
    while any(psutil.pid_exists(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_with_the_lock_nothing_is_lost_and_the_lock_has_one_owner_at_a_time(
    start_run: Callable[..., harness.Started], backend: str
) -> None:
    rt, recorder, budget = start_run(
        threads=6, initial=10, hold_ms=100, use_lock=True, repeats=3, backend=backend, speed=20
    )
    assert rt.join(30.0)
    evs = recorder.events(rt.started_ns)
    state = folded(evs)
    assert (state.status, state.reason) == ("finished", "every round ended")
    assert state.finals == {1: 4, 2: 4, 3: 4}  # every round: 10 - 6
    assert state.result() == {"expected": 4, "actual": 4, "lost_updates": 0}
    assert assert_one_owner_at_a_time(evs) == 18
    assert [e.data for e in evs if e.kind == ROUND_END][0] == {
        "round": 1,
        "final": 4,
        "expected": 4,
    }
    writes = [e.data["value"] for e in evs if e.kind == WRITE and e.data]
    assert writes == [9, 8, 7, 6, 5, 4] * 3  # each worker read what the last one wrote
    assert [e.data["value"] for e in evs if e.kind == READ and e.data] == [v + 1 for v in writes]
    assert state.most_inside == 1

    # Real workers: threads share main's pid with a tid each; processes have
    # a pid each. Every one of them is gone now.
    main_pid = state.workers["main"].pid
    starts = [e for e in evs if e.kind == events.START and e.worker != "main"]
    assert len(starts) == 18
    if backend == "thread":
        assert {e.pid for e in starts} == {main_pid}
        assert len({e.tid for e in starts if e.worker == "T1"}) == 3
        assert len({e.tid for e in starts[:6]}) == 6
    else:
        assert len({e.pid for e in starts}) == 18
        assert main_pid not in {e.pid for e in starts}
    assert main_pid != os.getpid()
    assert gone({main_pid, *(e.pid for e in starts)})
    assert all(not w.alive for w in state.workers.values())
    assert budget.held == 0


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_without_the_lock_a_long_hold_loses_updates(
    start_run: Callable[..., harness.Started], backend: str
) -> None:
    # 200 ms of real hold, long against starting ten threads or processes.
    rt, recorder, budget = start_run(
        threads=10, initial=10, hold_ms=4000, use_lock=False, backend=backend, speed=20
    )
    assert rt.join(30.0)
    evs = recorder.events(rt.started_ns)
    state = folded(evs)
    assert state.status == "finished"
    result = state.result()
    assert result["expected"] == 0
    assert result["actual"] is not None
    assert result["lost_updates"] is not None
    assert result["lost_updates"] > 0
    assert state.most_inside > 1
    assert [e for e in evs if e.kind in (WANT, ACQUIRED, RELEASED)] == []
    # The final value is the one main read: the last value written.
    assert state.counter == result["actual"]
    assert budget.held == 0


def test_stop_ends_a_run_with_workers_waiting_in_line(
    start_run: Callable[..., harness.Started],
) -> None:
    rt, recorder, budget = start_run(
        threads=8, hold_ms=5000, use_lock=True, backend="process", repeats=5, speed=1
    )

    def line_formed(raws: list[events.RawEvent]) -> bool:
        return sum(1 for r in raws if r[4] == WANT) == 8 and any(r[4] == READ for r in raws)

    recorder.wait_for(line_formed, timeout=15.0)
    state = folded(recorder.events(rt.started_ns))
    assert state.owner is not None
    assert len(state.waiting) == 7
    started = time.monotonic()
    rt.stop("test")
    assert rt.join(10.0)
    assert time.monotonic() - started < 3.0  # no terminate() was needed
    evs = recorder.events(rt.started_ns)
    state = folded(evs)
    assert (state.status, state.reason) == ("stopped", "test")
    assert state.finals == {}  # the round did not end: no result for it
    assert_one_owner_at_a_time(evs)
    assert state.workers["main"].exitcode == 0
    assert gone({e.pid for e in evs if e.kind == events.START and e.worker != "main"})
    assert budget.held == 0


# The HTTP contract, against a real server.


@pytest.mark.live
def test_api_run_carries_the_result_and_bad_params_get_422(client: httpx.Client) -> None:
    exps = {e["slug"]: e for e in client.get("/api/experiments").json()}
    assert exps["lock"]["built"] is True
    assert exps["lock"]["defaults"]["threads"] == 5

    r = client.post("/api/runs", json={"experiment": "lock", "params": {"threads": 99}})
    assert r.status_code == 422
    assert any(
        e["field"] == "threads" and "from 1 to 50" in e["message"] for e in r.json()["errors"]
    )

    params = {"threads": 4, "initial": 10, "hold_ms": 100, "use_lock": True, "repeats": 2}
    r = client.post("/api/runs", json={"experiment": "lock", "params": {**params, "speed": 20}})
    assert r.status_code == 201, r.text
    run_id = r.json()["id"]
    deadline = time.monotonic() + 20
    while (run := client.get(f"/api/runs/{run_id}").json())["status"] not in ENDED:
        assert time.monotonic() < deadline, run
        time.sleep(0.05)
    assert run["status"] == "finished"
    assert run["result"] == {"expected": 6, "actual": 6, "lost_updates": 0}
    assert run["rounds"]["finals"] == [6, 6]
    assert run["counters"]["two_owners"] == 0
    workers = {w["name"]: w for w in run["workers"]}
    assert set(workers) == {"main", "T1", "T2", "T3", "T4"}
    assert {w["pid"] for w in workers.values()} == {workers["main"]["pid"]}
    assert not psutil.pid_exists(workers["main"]["pid"])


@pytest.mark.live
def test_the_page_and_a_frame_speak_chinese(client: httpx.Client) -> None:
    zh = {"accept-language": "zh-CN,zh;q=0.9"}
    page = client.get("/experiments/lock", headers=zh).text
    for words in ("锁与竞争", "使用锁", "线程还是进程", "停顿（毫秒）", "运行 20 次"):
        assert words in page
    assert "Run it 20 times" not in page
    assert "Run it 20 times" in client.get("/experiments/lock").text
    params = {"threads": 2, "hold_ms": 40, "use_lock": True, "repeats": 1, "speed": 20}
    run = client.post("/api/runs", json={"experiment": "lock", "params": params}).json()
    read_events(client, run["id"])
    with client.stream("GET", f"/runs/{run['id']}/stream", headers=zh) as s:
        frame = next(messages(s)).data
    for words in ("丢失的更新", "计数器", "本轮交接 2 次", "每一轮都已结束", "停顿 40 毫秒"):
        assert words in frame
