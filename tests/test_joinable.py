"""The termination lesson (app/experiments/joinable.py): the pure fold, real
runs of each mode through app.runtime.Runtime, and the run object over HTTP.

Real runs use speed 20 and delays of at most a few hundred ms at speed 1, so
that every simulated wait is a few ms."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import harness
import httpx
import psutil
import pytest
from conftest import LiveServer

from app import events, model
from app.codeview import locate
from app.events import Event
from app.experiments import EXPERIMENTS
from app.experiments import joinable as jq
from app.params import ParamsError, validate
from app.runtime import Runtime

EXPERIMENT = EXPERIMENTS[jq.SLUG]
FAST: dict[str, Any] = {
    "produce_min_ms": 0,
    "produce_max_ms": 100,
    "consume_min_ms": 0,
    "consume_max_ms": 200,
    "speed": 20.0,
}


# The fold, event by event.

PIDS = {"main": 100, "P1": 101, "P2": 102, "C1": 201, "C2": 202}


def ev(
    worker: str, kind: str, item: str | None = None, data: dict[str, Any] | None = None
) -> Event:
    return Event(0, 0.0, worker, PIDS.get(worker, 999), 0, kind, item, data)


def numbered(evs: list[Event]) -> list[Event]:
    return [
        Event(i, i / 100, e.worker, e.pid, e.tid, e.kind, e.item, e.data)
        for i, e in enumerate(evs, 1)
    ]


def run_start(mode: str) -> Event:
    return ev("main", events.RUN_START, data={"backend": "process", "params": {"mode": mode}})


def spawned(daemon: bool, producers: int = 1, consumers: int = 2) -> list[Event]:
    out = [ev("main", events.START, data={"role": "main"})]
    for name, role in [(f"P{i}", "producer") for i in range(1, producers + 1)] + [
        (f"C{i}", "consumer") for i in range(1, consumers + 1)
    ]:
        d = daemon and role == "consumer"
        out.append(ev("main", jq.SPAWN, name, {"pid": PIDS[name], "role": role, "daemon": d}))
        out.append(ev(name, events.START, data={"role": role}))
    return out


def test_unfinished_tasks_rise_with_each_put_and_fall_with_each_task_done() -> None:
    state = jq.fold_all(
        numbered(
            [
                run_start(jq.JOINABLE),
                *spawned(daemon=True),
                ev("P1", events.PUT, "P1#1"),
                ev("P1", events.PUT, "P1#2"),
                ev("C1", events.GET, "P1#1"),
            ]
        )
    )
    assert state.counters()["unfinished_tasks"] == 2
    assert state.counters()["in_queue"] == 1
    for e in [ev("C1", jq.TASK_DONE, "P1#1"), ev("C2", events.GET, "P1#2")]:
        jq.fold(state, e)
    assert state.counters()["unfinished_tasks"] == 1
    jq.fold(state, ev("C2", jq.TASK_DONE, "P1#2"))
    assert state.counters()["unfinished_tasks"] == 0
    assert (state.produced, state.consumed) == (2, 2)


def test_a_plain_queue_has_no_unfinished_task_count() -> None:
    state = jq.fold_all(numbered([run_start(jq.SENTINEL), ev("P1", events.PUT, "P1#1")]))
    assert state.counters()["unfinished_tasks"] is None


def test_main_shows_what_it_is_blocked_in() -> None:
    state = jq.fold_all(
        numbered(
            [
                run_start(jq.JOINABLE),
                *spawned(daemon=True),
                ev("main", jq.MAIN_WAIT, "P1", {"call": "join()"}),
            ]
        )
    )
    assert (state.workers["main"].state, state.main_call, state.main_target) == (
        jq.MAIN_WAITING,
        "join()",
        "P1",
    )
    jq.fold(state, ev("main", jq.MAIN_RESUME, "P1", {"call": "join()", "exitcode": 0}))
    jq.fold(state, ev("main", jq.MAIN_WAIT, None, {"call": "q.join()"}))
    assert state.extras()["main"] == {"waits_in": "q.join()", "target": None, "ended": False}
    steps = jq.view(state, {"mode": jq.JOINABLE, "producers": 1, "consumers": 2})["steps"]
    assert [(s["label"], s["status"]) for s in steps] == [
        ("start P1 and C1–C2 (daemons)", "done"),
        ("P1.join()", "done"),
        ("q.join()", "now"),
        ("end of main: daemons terminated", "todo"),
    ]


def no_join_end() -> list[Event]:
    """P1 put three items; C1 finished one, holds one; one is still queued;
    main ends and Python terminates the daemons."""
    return [
        run_start(jq.NO_JOIN),
        *spawned(daemon=True, consumers=1),
        ev("P1", events.PUT, "P1#1"),
        ev("P1", events.PUT, "P1#2"),
        ev("P1", events.PUT, "P1#3"),
        ev("C1", events.GET, "P1#1"),
        ev("C1", jq.TASK_DONE, "P1#1"),
        ev("C1", events.GET, "P1#2"),
        ev("main", jq.MAIN_END, data={"daemons": ["C1"]}),
        ev("main", events.FINISH, data={"reason": "done"}),
        ev("C1", jq.SIGTERM, "P1#2", {"signal": "SIGTERM", "parent_pid": 100}),
        ev("main", events.EXIT, data={"exitcode": 0}),
    ]


def test_a_daemon_terminated_at_the_end_of_main_is_stopped_not_crashed() -> None:
    state = jq.fold_all(numbered(no_join_end()))
    c1 = state.workers["C1"]
    assert (c1.state, c1.reason, c1.alive) == (jq.DAEMON_STOPPED, "daemon", False)
    assert c1.state not in (model.CRASHED, model.KILLED)
    assert state.status == "running"  # run_end has not arrived yet


def test_a_daemon_terminated_before_it_could_speak_still_has_its_card_and_end() -> None:
    evs = [
        run_start(jq.NO_JOIN),
        ev("main", jq.SPAWN, "C1", {"pid": 201, "role": "consumer", "daemon": True}),
        ev("main", jq.MAIN_END, data={"daemons": ["C1"]}),
    ]
    state = jq.fold_all(numbered(evs))
    c1 = state.workers["C1"]
    assert (c1.role, c1.pid, c1.state, c1.alive) == ("consumer", 201, model.STARTING, True)
    jq.fold(state, ev("main", events.EXIT, data={"exitcode": 0}))
    assert (c1.state, c1.reason, c1.alive) == (jq.DAEMON_STOPPED, "daemon", False)


def test_lost_items_are_the_ones_put_and_never_done_once_the_consumers_are_gone() -> None:
    evs = numbered(no_join_end())
    before_end = jq.fold_all(evs[:-4])
    assert before_end.counters()["lost_items"] == 0  # C1 could still finish them
    state = jq.fold_all(evs)
    assert state.counters()["lost_items"] == 2 == state.produced - state.consumed
    assert state.extras()["lost"] == [
        {"item": "P1#3", "where": "in the queue"},
        {"item": "P1#2", "where": "held by C1"},
    ]


def test_a_sigterm_to_a_consumer_that_is_not_a_daemon_of_an_ended_main_is_a_kill() -> None:
    state = jq.fold_all(
        numbered(
            [
                run_start(jq.NAIVE),
                *spawned(daemon=False),
                ev("C1", jq.SIGTERM, None, {"signal": "SIGTERM"}),
            ]
        )
    )
    assert state.workers["C1"].state == jq.TERMINATED
    jq.fold(state, ev("main", events.EXIT, data={"exitcode": -15}))
    assert (state.workers["C1"].state, state.workers["C1"].alive) == (model.KILLED, False)


def test_the_diagnosis_is_what_main_observed_and_lands_in_the_run_object() -> None:
    message = "Hang: all 1 producers have finished ..."
    state = jq.fold_all(
        numbered(
            [
                run_start(jq.NAIVE),
                *spawned(daemon=False),
                ev("C1", events.GET_WAIT),
                ev("C2", events.GET_WAIT),
                ev("main", jq.MAIN_WAIT, "C1", {"call": "join()"}),
                ev(
                    "main",
                    jq.DIAGNOSIS,
                    data={"kind": "hang", "message": message, "consumers_in_get": ["C1", "C2"]},
                ),
            ]
        )
    )
    assert state.extras()["diagnosis"] == {"kind": "hang", "message": message}
    assert state.counters()["consumers_waiting"] == 2
    assert jq.fold_all(numbered([run_start(jq.NAIVE)])).extras()["diagnosis"] is None


def interleave(evs: list[Event], seed: int) -> list[Event]:
    """A random interleaving that keeps each worker's own order."""
    rng = random.Random(seed)
    lanes: dict[str, list[Event]] = {}
    for e in evs:
        lanes.setdefault(e.worker, []).append(e)
    out: list[Event] = []
    while lanes:
        worker = rng.choice(sorted(lanes))
        out.append(lanes[worker].pop(0))
        if not lanes[worker]:
            del lanes[worker]
    return numbered(out)


def test_the_picture_does_not_depend_on_arrival_order() -> None:
    """Each process sends its own batches: a daemon's SIGTERM report can
    arrive before main's end, a child's start before main's spawn."""
    evs = no_join_end()
    # run_start and main's exit are the supervisor's: first and last.
    head, rest, tail = evs[:1], evs[1:-1], evs[-1:]
    expected = jq.fold_all(numbered(evs))

    def picture(s: jq.JoinableState) -> dict[str, Any]:
        workers = {w.name: (w.state, w.reason, w.alive) for w in s.workers.values()}
        return {"counters": s.counters(), "lost": s.extras()["lost"], "workers": workers}

    for seed in range(40):
        state = jq.fold_all(numbered(head + interleave(rest, seed) + tail))
        assert picture(state) == picture(expected), seed


def test_a_sigterm_report_before_main_end_still_means_daemon_stopped() -> None:
    evs = no_join_end()
    sigterm = next(e for e in evs if e.kind == jq.SIGTERM)
    evs.remove(sigterm)
    evs.insert(evs.index(next(e for e in evs if e.kind == jq.MAIN_END)), sigterm)
    state = jq.fold_all(numbered(evs[:-1]))
    assert state.workers["C1"].state == jq.DAEMON_STOPPED


SAMPLES = {
    jq.SPAWN: ev("main", jq.SPAWN, "C1", {"pid": 201, "role": "consumer", "daemon": True}),
    jq.MAIN_WAIT: ev("main", jq.MAIN_WAIT, "P2", {"call": "join()"}),
    jq.MAIN_RESUME: ev("main", jq.MAIN_RESUME, None, {"call": "q.join()"}),
    jq.TASK_DONE: ev("C1", jq.TASK_DONE, "P1#3"),
    jq.MAIN_END: ev("main", jq.MAIN_END, data={"daemons": ["C1", "C2"]}),
    jq.SIGTERM: ev("C2", jq.SIGTERM, "P2#1", {"signal": "SIGTERM", "parent_pid": 100}),
    jq.DIAGNOSIS: ev("main", jq.DIAGNOSIS, data={"kind": "hang", "consumers_in_get": ["C1", "C2"]}),
}


@pytest.mark.parametrize("kind", sorted(jq.KINDS))
def test_every_event_kind_has_its_own_words_in_the_log(kind: str) -> None:
    from app.web.render import env

    words = env.get_template("partials/joinable/_event_words.html").render(e=SAMPLES[kind])
    assert words.strip()
    assert f": {kind}" not in words  # not the catch-all line
    assert {
        jq.SPAWN: "main started C1 (pid 201) as a daemon",
        jq.MAIN_WAIT: "main blocks in join() of P2",
        jq.MAIN_RESUME: "q.join() returned: no unfinished task left",
        jq.TASK_DONE: "C1 (pid 201) ate P1 #3 and called task_done()",
        jq.MAIN_END: "main's code ended; daemons C1, C2 are terminated now",
        jq.SIGTERM: "C2 (pid 202) got SIGTERM from its parent while eating P2 #1",
        jq.DIAGNOSIS: "main sees a hang: C1 and C2 in get(), queue empty, every producer finished",
    }[kind] == words


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"mode": "polite"}, "mode", "'naive', 'joinable', 'no-join', 'sentinel'"),
        ({"producers": 7}, "producers", "from 1 to 6"),
        ({"consumers": 0}, "consumers", "from 1 to 6"),
        ({"hang_after_ms": 50}, "hang_after_ms", "from 100 to 60000"),
        ({"consume_min_ms": 900, "consume_max_ms": 100}, "consume_min_ms", "Eating time max (ms)"),
        ({"daemon": True}, "daemon", "unknown field"),
    ],
)
def test_bad_params_name_the_field_and_its_bounds(
    params: dict[str, Any], field: str, words: str
) -> None:
    assert EXPERIMENT.params is not None
    with pytest.raises(ParamsError) as info:
        validate(EXPERIMENT.params, params)
    assert any(e.field == field and words in e.message for e in info.value.errors)


def test_defaults_follow_the_lecture() -> None:
    p = jq.Params()
    assert (p.producers, p.items_per_producer, p.consumers) == (3, 5, 2)
    assert (p.produce_min_ms, p.produce_max_ms) == (1000, 3000)
    assert (p.consume_min_ms, p.consume_max_ms) == (1000, 3000)
    assert p.hang_after_ms == 3000
    assert EXPERIMENT.live_params() == frozenset({"speed"})


# Real runs: main is a real process that forks the producers and consumers.


def wait_state(
    recorder: harness.Recorder, rt: Runtime, check: Callable[[jq.JoinableState], bool]
) -> None:
    deadline = time.monotonic() + 15.0
    while True:
        state = jq.fold_all(recorder.events(rt.started_ns))
        if check(state):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting; counters {state.counters()}")
        time.sleep(0.02)


@pytest.fixture
def start_run() -> Iterator[Callable[..., harness.Started]]:
    runs = harness.Runs(EXPERIMENT)

    def start(**params: Any) -> harness.Started:
        return runs(**{**FAST, **params})

    yield start
    runs.stop_all()


def all_pids(evs: list[Event]) -> set[int]:
    """main's pid and every child's, as main reported them when it started them."""
    pids = {e.pid for e in evs if e.worker == "main" and e.kind == events.START}
    pids |= {int((e.data or {})["pid"]) for e in evs if e.kind == jq.SPAWN}
    return pids


def assert_all_gone(pids: set[int]) -> None:
    deadline = time.monotonic() + 5.0
    while any(psutil.pid_exists(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [p for p in pids if psutil.pid_exists(p)] == []


def test_naive_hangs_main_says_so_and_stop_ends_every_process(start_run: Any) -> None:
    rt, recorder, budget = start_run(mode=jq.NAIVE, hang_after_ms=1000)
    wait_state(recorder, rt, lambda s: s.diagnosis is not None)
    state = jq.fold_all(recorder.events(rt.started_ns))
    assert state.status == "running"
    diagnosis = state.extras()["diagnosis"]
    assert diagnosis["kind"] == "hang"
    assert "main waits in join() of C1" in diagnosis["message"]
    assert state.diagnosis is not None
    assert state.diagnosis["consumers_in_get"] == ["C1", "C2"]
    assert state.diagnosis["producers_finished"] == ["P1", "P2", "P3"]
    assert state.diagnosis["quiet_ms"] >= 1000
    assert {w.name: w.state for w in state.role("consumer")} == {
        "C1": model.GET_WAIT,
        "C2": model.GET_WAIT,
    }
    assert (state.workers["main"].state, state.main_call, state.main_target) == (
        jq.MAIN_WAITING,
        "join()",
        "C1",
    )
    assert state.counters()["in_queue"] == 0
    assert state.consumed == state.produced == 15
    evs = recorder.events(rt.started_ns)
    pids = all_pids(evs)
    assert len(pids) == 6
    stuck = {state.workers[n].pid for n in ("main", "C1", "C2")}
    assert all(psutil.pid_exists(p) for p in stuck)  # hung, not gone
    exits = {e.worker: (e.data or {}).get("exitcode") for e in evs if e.kind == events.EXIT}
    assert exits == {"P1": 0, "P2": 0, "P3": 0}  # main joined the producers

    rt.stop("stopped by the teacher")
    assert rt.join(10.0)
    state = jq.fold_all(recorder.events(rt.started_ns))
    assert (state.status, state.reason) == ("stopped", "stopped by the teacher")
    assert all(not w.alive for w in state.workers.values())
    assert budget.held == 0
    assert_all_gone(pids)


def test_joinable_counts_down_to_zero_then_q_join_returns_then_daemons_end(
    start_run: Any,
) -> None:
    rt, recorder, budget = start_run(mode=jq.JOINABLE, capacity=4, consume_min_ms=20)
    assert rt.join(15.0)
    evs = recorder.events(rt.started_ns)
    state = jq.fold_all(evs)
    assert (state.status, state.reason) == ("finished", "main's program ended")
    assert state.consumed == state.produced == 15
    assert state.counters()["unfinished_tasks"] == 0
    assert state.counters()["lost_items"] == 0
    assert state.diagnosis is None

    # Unfinished tasks in time order: up from 0, back to exactly 0.
    ordered = sorted(
        (e for e in evs if e.kind in (events.PUT, jq.TASK_DONE, jq.MAIN_RESUME)),
        key=lambda e: e.t,
    )
    unfinished, path, q_join_returned = 0, [], None
    for e in ordered:
        if e.kind == jq.MAIN_RESUME:
            if (e.data or {}).get("call") == jq.Q_JOIN:
                assert unfinished == 0, "q.join() returned with tasks unfinished"
                q_join_returned = e.t
            continue
        unfinished += 1 if e.kind == events.PUT else -1
        path.append(unfinished)
    assert max(path) > 0
    assert path[-1] == 0
    assert min(path) >= 0
    last_task_done = max(e.t for e in evs if e.kind == jq.TASK_DONE)
    assert q_join_returned is not None
    assert q_join_returned > last_task_done

    for name in ("C1", "C2"):
        c = state.workers[name]
        assert (c.state, c.reason, c.alive) == (jq.DAEMON_STOPPED, "daemon", False), name
    kills = [e for e in evs if e.kind == jq.SIGTERM]
    main_pid = next(e.pid for e in evs if e.worker == "main" and e.kind == events.START)
    assert sorted(e.worker for e in kills) == ["C1", "C2"]
    assert {(e.data or {})["parent_pid"] for e in kills} == {main_pid}
    end = next(e for e in evs if e.kind == jq.MAIN_END)
    assert end.data == {"daemons": ["C1", "C2"]}
    assert all(e.t > end.t for e in kills)  # terminated only once main's code ended
    assert budget.held == 0
    assert_all_gone(all_pids(evs))


def test_stop_ends_main_waiting_in_q_join_and_every_child(start_run: Any) -> None:
    # q.join() takes no timeout: main must still see the Stop and leave on
    # its own (exit code 0, not terminated), taking every child with it.
    rt, recorder, budget = start_run(
        mode=jq.JOINABLE, produce_max_ms=0, consume_min_ms=2000, consume_max_ms=2000
    )
    wait_state(recorder, rt, lambda s: s.main_call == jq.Q_JOIN)
    started = time.monotonic()
    rt.stop("stopped by the teacher")
    assert rt.join(10.0)
    assert time.monotonic() - started < 2.0  # runtime.STOP_GRACE_S: nobody was terminated
    evs = recorder.events(rt.started_ns)
    state = jq.fold_all(evs)
    assert state.status == "stopped"
    main = state.workers["main"]
    assert (main.state, main.reason, main.exitcode) == (model.FINISHED, "stopped", 0)
    for name in ("C1", "C2"):
        c = state.workers[name]
        assert (c.state, c.reason, c.exitcode) == (model.FINISHED, "stopped", 0), name
    assert budget.held == 0
    assert_all_gone(all_pids(evs))


def test_no_join_loses_exactly_the_items_never_done(start_run: Any) -> None:
    # Producers are instant and eating takes 10-15 ms: main's code ends long
    # before the eaters are through.
    rt, recorder, _ = start_run(
        mode=jq.NO_JOIN, produce_max_ms=0, consume_min_ms=200, consume_max_ms=300
    )
    assert rt.join(15.0)
    evs = recorder.events(rt.started_ns)
    state = jq.fold_all(evs)
    assert state.status == "finished"
    put = {e.item for e in evs if e.kind == events.PUT}
    done = {e.item for e in evs if e.kind == jq.TASK_DONE}
    assert len(put) == 15
    lost = state.extras()["lost"]
    assert state.counters()["lost_items"] == len(put) - len(done) > 0
    assert {x["item"] for x in lost} == put - done
    assert len(lost) == len(put - done)  # each listed once
    held = {e.item for e in evs if e.kind == jq.SIGTERM and e.item}
    assert {x["item"] for x in lost if x["where"].startswith("held by")} == held
    assert {w.state for w in state.role("consumer")} == {jq.DAEMON_STOPPED}
    assert not any(e.kind == jq.MAIN_WAIT and (e.data or {}).get("call") == jq.Q_JOIN for e in evs)
    assert_all_gone(all_pids(evs))


def test_sentinel_every_consumer_leaves_with_code_0_after_one_sentinel(start_run: Any) -> None:
    rt, recorder, budget = start_run(mode=jq.SENTINEL, consumers=3, capacity=2)
    assert rt.join(15.0)
    evs = recorder.events(rt.started_ns)
    state = jq.fold_all(evs)
    assert (state.status, state.reason) == ("finished", "main's program ended")
    assert state.consumed == state.produced == 15
    assert state.sentinels_put == 3
    assert state.sentinels_taken == {"C1": 1, "C2": 1, "C3": 1}
    for name in ("C1", "C2", "C3"):
        c = state.workers[name]
        assert (c.state, c.reason, c.exitcode, c.alive) == (
            model.FINISHED,
            "sentinel",
            0,
            False,
        ), name
        own = [e for e in evs if e.worker == name]
        assert own[-1].kind == events.EXIT  # reported by main, after the child's last event
        assert [e.kind for e in own].count(events.SENTINEL_GET) == 1
    assert state.diagnosis is None
    assert budget.held == 0
    assert_all_gone(all_pids(evs))


# The run object over HTTP.


def test_the_run_object_carries_the_hang_and_stop_ends_it(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=15) as c:
        r = c.post(
            "/api/runs",
            json={"experiment": "joinable", "params": {**FAST, "mode": "naive"}},
        )
        assert r.status_code == 201, r.text
        run_id = r.json()["id"]
        try:
            deadline = time.monotonic() + 15
            while True:
                run = c.get(f"/api/runs/{run_id}").json()
                if run["diagnosis"] is not None:
                    break
                assert time.monotonic() < deadline, run
                time.sleep(0.05)
            assert run["diagnosis"]["kind"] == "hang"
            assert "get()" in run["diagnosis"]["message"]
            assert run["counters"]["unfinished_tasks"] is None
            assert run["counters"]["lost_items"] == 0
            consumers = {w["name"]: w["state"] for w in run["workers"] if w["role"] == "consumer"}
            assert consumers == {"C1": "get_wait", "C2": "get_wait"}
            pids = {w["pid"] for w in run["workers"]}
            assert len(pids) == 6
            page = c.get("/experiments/joinable")
            assert 'id="diagnosis"' in page.text
        finally:
            stopped = c.post(f"/api/runs/{run_id}/stop").json()
        assert stopped["status"] == "stopped"
        assert_all_gone(pids)


def test_the_page_and_the_hang_speak_chinese(live_server: LiveServer) -> None:
    zh = {"accept-language": "zh-CN,zh;q=0.9"}
    with httpx.Client(base_url=live_server.url, timeout=15) as c:
        page = c.get("/experiments/joinable", headers=zh).text
        for words in (
            "四种结束方式",
            "结束方式",
            "摊位（生产者）",
            "朴素写法",
            "判定卡死的时间（毫秒）",
        ):
            assert words in page, words
        r = c.post(
            "/api/runs", json={"experiment": "joinable", "params": {**FAST, "mode": "naive"}}
        )
        assert r.status_code == 201, r.text
        run_id = r.json()["id"]
        try:
            deadline = time.monotonic() + 15
            while c.get(f"/api/runs/{run_id}").json()["diagnosis"] is None:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            page = c.get("/experiments/joinable", headers=zh).text
            english = c.get("/experiments/joinable").text
        finally:
            c.post(f"/api/runs/{run_id}/stop")
    assert 'id="diagnosis"' in page
    for words in (
        "卡死：全部 3 个生产者都已结束",
        "C1 和 C2 仍在 get() 中等待",
        "main 在 C1 的 join() 中等待",
        "阻塞在 C1 的 <code>join()</code> 中",
        "在 get() 中的消费者",
        "Jerry 的热狗摊",
        "结束方式：朴素写法",
    ):
        assert words in page, words
    assert "Hang: all 3 producers have finished" in english
    assert "卡死" not in english


# The plain program: one text per mode, each runs on its own and ends.

SCRIPT_ENDINGS = {
    jq.NAIVE: ("That is the hang.", "15 eaten, each exactly once; then the hang: C1, C2"),
    jq.JOINABLE: ("q.join() returned", "15 eaten and task_done(), each exactly once"),
    jq.NO_JOIN: ("Python terminates the daemons", "lost:"),
    jq.SENTINEL: ("took STOP and leaves", "2 STOP put, one taken by each consumer"),
}


@pytest.mark.parametrize("mode", sorted(SCRIPT_ENDINGS))
def test_the_script_of_every_mode_runs_on_its_own_and_ends(mode: str, tmp_path: Path) -> None:
    assert EXPERIMENT.script is not None
    path = tmp_path / "joinable.py"
    path.write_text(EXPERIMENT.script({**EXPERIMENT.quick_params, "mode": mode}))
    done = subprocess.run(
        [sys.executable, "-I", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    story, accounting = SCRIPT_ENDINGS[mode]
    assert lines[-1].startswith("accounting: 15 put,"), done.stdout
    assert accounting in lines[-1]
    assert any(story in line for line in lines), done.stdout
    assert "main waits in P1.join()" in lines


def test_the_program_is_the_default_script_and_follows_the_mode() -> None:
    assert EXPERIMENT.script is not None
    assert EXPERIMENT.program == EXPERIMENT.script({})
    texts = {m: EXPERIMENT.script({"mode": m}) for m in SCRIPT_ENDINGS}
    assert "q = Queue(CAPACITY)" in texts[jq.NAIVE]
    assert "q.task_done()" not in texts[jq.NAIVE]
    assert "HANG_AFTER_MS = 3000" in texts[jq.NAIVE]
    assert "STOP" not in texts[jq.NAIVE]
    for m in (jq.JOINABLE, jq.NO_JOIN):
        assert "q = JoinableQueue(CAPACITY)" in texts[m]
        assert "daemon=True" in texts[m]
        assert "q.task_done()" in texts[m]
    assert 'wait_in("q.join()", q.join)' in texts[jq.JOINABLE]
    assert 'wait_in("q.join()"' not in texts[jq.NO_JOIN]
    assert "q.put(STOP)" in texts[jq.SENTINEL]
    with pytest.raises(ValueError, match="produce_min_ms"):
        EXPERIMENT.script({"produce_min_ms": 500, "produce_max_ms": 100})


@pytest.mark.parametrize("mode", sorted(SCRIPT_ENDINGS))
def test_the_code_view_puts_each_worker_on_its_line(mode: str) -> None:
    assert EXPERIMENT.script is not None
    workers = [
        model.WorkerView("main", role="main", state=jq.MAIN_WAITING),
        model.WorkerView("P1", role="producer", state=model.PRODUCING),
        model.WorkerView("P2", role="producer", state=model.PUT_WAIT),
        model.WorkerView("P3", role="producer", state=model.READY),
        model.WorkerView("C1", role="consumer", state=model.GET_WAIT),
        model.WorkerView("C2", role="consumer", state=model.CONSUMING),
        model.WorkerView("C3", role="consumer", state=model.READY),
        model.WorkerView("C4", role="consumer", state=jq.DAEMON_STOPPED),
        model.WorkerView("C5", role="consumer", state=model.FINISHED),
    ]
    lines = locate(EXPERIMENT.script({"mode": mode}), EXPERIMENT.code_lines, workers)
    where = {name: line.text.strip() for line in lines for name in line.workers}
    assert where["main"].startswith("call(*args)")
    assert where["P1"].startswith("pause(PRODUCE_MS)")
    assert where["P2"].startswith("q.put(item)")
    assert where["P3"].startswith('print(f"{name} (pid {os.getpid()}) put {item}"')
    assert where["C1"].startswith("item = q.get()")
    assert where["C2"].startswith("pause(CONSUME_MS)")
    assert where["C3"].startswith('print(f"{name} (pid {os.getpid()}) ate {item}')
    assert "C4" not in where  # ended: on no line
    assert "C5" not in where
    ended = [model.WorkerView("main", role="main", state=jq.MAIN_ENDED)]
    if mode == jq.SENTINEL:
        ended.append(model.WorkerView("C1", role="consumer", state=model.LEAVING))
    lines = locate(EXPERIMENT.script({"mode": mode}), EXPERIMENT.code_lines, ended)
    where = {name: line.text.strip() for line in lines for name in line.workers}
    assert where["main"].startswith(("print(\"main's code ends", "print(f\"main's code ends"))
    if mode == jq.SENTINEL:
        assert "took STOP and leaves" in where["C1"]


def test_every_code_line_is_in_the_script_once() -> None:
    assert EXPERIMENT.script is not None
    for mode in SCRIPT_ENDINGS:
        text = EXPERIMENT.script({"mode": mode})
        for key, needle in EXPERIMENT.code_lines.items():
            found = [line for line in text.splitlines() if needle in line]
            if key.endswith(model.LEAVING) and mode != jq.SENTINEL:
                assert found == [], (mode, key)
            else:
                assert len(found) == 1, (mode, key, found)
