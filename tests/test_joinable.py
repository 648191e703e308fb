"""The termination lesson (app/experiments/joinable/): its program on its
own, the overlay folded from the tracer's events, real runs of each ending
under the tracer, and the run object over HTTP.

Real runs use speed 20 and delays of at most a few hundred ms at speed 1, so
that every sleep of the program is a few ms."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import harness
import httpx
import psutil
import pytest
from conftest import LiveServer

from app import events
from app.events import Event
from app.experiments import EXPERIMENTS
from app.experiments import joinable as jq
from app.experiments.constants import constants
from app.experiments.crew import role_of
from app.experiments.joinable.view import steps
from app.params import ParamsError, validate
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.state import CUT_OFF, FINISHED, GET_WAIT, KILLED, QUIET

EXPERIMENT = EXPERIMENTS[jq.SLUG]
assert EXPERIMENT.fold is not None
fold = EXPERIMENT.fold
FAST: dict[str, Any] = {
    "produce_min_ms": 0,
    "produce_max_ms": 100,
    "consume_min_ms": 0,
    "consume_max_ms": 200,
    "speed": 20.0,
}

# The fold, from the tracer's events.

PIDS = {"main": 100, "P1": 101, "P2": 102, "C1": 201, "C2": 202}
Q = "100.1"


def ev(
    worker: str, kind: str, item: str | None = None, data: dict[str, Any] | None = None
) -> Event:
    return Event(0, 0.0, worker, PIDS.get(worker, 999), PIDS.get(worker, 999), kind, item, data)


def numbered(evs: list[Event]) -> list[Event]:
    return [
        Event(i, i / 100, e.worker, e.pid, e.tid, e.kind, e.item, e.data)
        for i, e in enumerate(evs, 1)
    ]


def started(mode: str, producers: int = 1, consumers: int = 2) -> list[Event]:
    """main makes q and starts its children, each of which shows itself."""
    params = {"mode": mode, "producers": producers, "consumers": consumers}
    daemon = mode in jq.overlay.JOINABLE_MODES
    out = [
        ev("main", events.RUN_START, data={"backend": "", "params": params}),
        ev("main", K.PROC, data={"name": "MainProcess", "main": True}),
        ev("main", K.THREAD, data={"name": "MainThread", "main": True}),
        ev("main", K.NEW, Q, {"type": "JoinableQueue" if daemon else "Queue", "name": "q"}),
    ]
    names = [f"P{i}" for i in range(1, producers + 1)] + [f"C{i}" for i in range(1, consumers + 1)]
    for name in names:
        d = daemon and name.startswith("C")
        out.append(ev("main", K.SPAWN, name, {"pid": PIDS[name], "daemon": d}))
        out.append(ev(name, K.PROC, data={"name": name, "ppid": 100, "daemon": d}))
        out.append(ev(name, K.THREAD, data={"name": "MainThread", "main": True}))
    return out


def put(who: str, item: str | None) -> Event:
    return ev(who, K.PUT, Q, {"v": repr(item)})


def get(who: str, item: str | None) -> Event:
    return ev(who, K.GET, Q, {"v": repr(item)})


def ate(who: str, item: str) -> Event:
    return ev(who, K.OUT, data={"text": f"{who} ate {item}\n", "stream": "stdout"})


def reaped(name: str, code: int, cut_off: bool = False) -> Event:
    signal = "SIGTERM" if code == -15 else None
    data = {"pid": PIDS[name], "exitcode": code, "signal": signal, "cut_off": cut_off}
    return ev("main", K.REAPED, name, data)


def test_unfinished_tasks_rise_with_each_put_and_fall_with_each_task_done() -> None:
    state = jq.fold_all(
        numbered(
            [*started(jq.JOINABLE), put("P1", "P1 #1"), put("P1", "P1 #2"), get("C1", "P1 #1")]
        )
    )
    assert state.counters()["unfinished_tasks"] == 2
    assert state.counters()["in_queue"] == 1
    for e in [ate("C1", "P1 #1"), ev("C1", K.TASK_DONE, Q, {"unfinished": 1})]:
        fold(state, e)
    assert state.counters()["unfinished_tasks"] == 1
    for e in [get("C2", "P1 #2"), ate("C2", "P1 #2"), ev("C2", K.TASK_DONE, Q)]:
        fold(state, e)
    assert state.counters()["unfinished_tasks"] == 0
    assert (state.produced, state.consumed) == (2, 2)


def test_a_plain_queue_has_no_unfinished_task_count() -> None:
    state = jq.fold_all(numbered([*started(jq.SENTINEL), put("P1", "P1 #1")]))
    assert state.counters()["unfinished_tasks"] is None


def test_main_shows_what_it_is_blocked_in_and_its_steps() -> None:
    state = jq.fold_all(
        numbered([*started(jq.JOINABLE), ev("main", K.JOIN, "P1", {"what": "process"})])
    )
    assert state.extras()["lesson"]["main"] == {
        "waits_in": "join()",
        "target": "P1",
        "ended": False,
    }
    fold(state, ev("main", K.JOINED, "P1", {"alive": False, "exitcode": 0}))
    fold(state, ev("main", K.QJOIN, Q, {"unfinished": 3}))
    assert state.extras()["lesson"]["main"] == {
        "waits_in": "q.join()",
        "target": None,
        "ended": False,
    }
    shown = steps(state, {"mode": jq.JOINABLE, "producers": 1, "consumers": 2})
    assert [(s["label"], s["status"]) for s in shown] == [
        ("start P1 and C1–C2 (daemons)", "done"),
        ("P1.join()", "done"),
        ("q.join()", "now"),
        ("end of main: daemons terminated", "todo"),
    ]


def no_join_end() -> list[Event]:
    """P1 put three hot dogs; C1 ate one and holds one; one is still queued;
    main's code ends and Python terminates the daemon."""
    return [
        *started(jq.NO_JOIN, consumers=1),
        put("P1", "P1 #1"),
        put("P1", "P1 #2"),
        put("P1", "P1 #3"),
        get("C1", "P1 #1"),
        ate("C1", "P1 #1"),
        ev("C1", K.TASK_DONE, Q, {"unfinished": 2}),
        get("C1", "P1 #2"),
        ev("C1", K.SLEEP, data={"s": 0.5}),
        reaped("P1", 0),
        ev("main", K.END, data={"daemon_threads": []}),
        reaped("C1", -15, cut_off=True),
    ]


def test_lost_items_are_the_ones_put_and_never_eaten_once_the_eaters_are_gone() -> None:
    evs = numbered(no_join_end())
    before_end = jq.fold_all(evs[:-1])
    assert before_end.counters()["lost_items"] == 0  # C1 could still eat them
    state = jq.fold_all(evs)
    assert state.counters()["lost_items"] == 2 == state.produced - state.consumed
    assert state.extras()["lesson"]["lost"] == [
        {"item": "P1 #3", "where": "in the queue"},
        {"item": "P1 #2", "where": "held by C1"},
    ]
    c1 = state.workers["C1"]
    assert (c1.state, c1.alive, c1.exitcode) == (CUT_OFF, False, -15)
    assert state.main_ended


def hang(mode: str = jq.NAIVE, then: list[Event] | None = None) -> list[Event]:
    """Both eaters have eaten everything and wait in get(); P1 has ended."""
    return [
        *started(mode),
        put("P1", "P1 #1"),
        get("C1", "P1 #1"),
        ate("C1", "P1 #1"),
        reaped("P1", 0),
        ev("C1", K.GET_WAIT, Q, {"timeout": None}),
        ev("C2", K.GET_WAIT, Q, {"timeout": None}),
        *(then or []),
    ]


def test_the_hang_is_said_once_main_waits_for_an_eater_that_can_never_get_an_item() -> None:
    join_c1 = ev("main", K.JOIN, "C1", {"what": "process", "timeout": 3.0})
    state = jq.fold_all(numbered(hang(then=[join_c1])))
    assert state.diagnosis is None  # not yet: the batches may be one behind
    fold(state, Event(99, 1.5, "main", 100, 100, QUIET, None, {"s": 0.5}))
    assert state.diagnosis is not None
    assert state.diagnosis["consumers_in_get"] == ["C1", "C2"]
    assert state.diagnosis["producers_finished"] == ["P1"]
    assert state.diagnosis["main_waits_in"] == "join() of C1"
    assert state.extras()["lesson"]["diagnosis"]["kind"] == "hang"
    assert state.counters()["consumers_waiting"] == 2


def test_main_giving_up_on_its_join_also_tells_the_hang() -> None:
    gave_up = [
        ev("main", K.JOIN, "C1", {"what": "process", "timeout": 0.2}),
        ev("main", K.JOINED, "C1", {"alive": True, "exitcode": None}),
    ]
    assert jq.fold_all(numbered(hang(then=gave_up))).diagnosis is not None


@pytest.mark.parametrize(
    "then",
    [
        # main is about to put the STOPs, not in join(): it can still put.
        [ev("main", K.PUT_WAIT, Q, {"timeout": None})],
        # an eater still eats: it may be done soon.
        [ev("main", K.JOIN, "C1", {"timeout": 3.0}), get("C2", "P1 #9")],
    ],
    ids=["main-can-put", "one-still-eats"],
)
def test_no_hang_while_something_can_still_move(then: list[Event]) -> None:
    quiet = Event(99, 9.0, "main", 100, 100, QUIET, None, {"s": 0.5})
    state = jq.fold_all(numbered(hang(then=[*then, quiet])))
    assert state.diagnosis is None


def test_no_hang_while_a_stand_still_runs() -> None:
    evs = [e for e in hang() if e.kind != K.REAPED]
    evs += [ev("main", K.JOIN, "C1", {"timeout": 3.0}), ev("main", QUIET)]
    assert jq.fold_all(numbered(evs)).diagnosis is None


def test_a_sentinel_is_shown_as_stop_and_its_taker_leaves() -> None:
    state = jq.fold_all(
        numbered(
            [
                *started(jq.SENTINEL),
                put("main", None),
                get("C1", None),
                ev("C1", K.END, None, {"daemon_threads": []}),  # its code ran to its end
                reaped("C1", 0),
            ]
        )
    )
    assert state.sentinels_put == 1
    assert state.sentinels_taken == {"C1": 1}
    assert state.produced == 0  # a STOP is no hot dog
    assert state.workers["C1"].state == FINISHED


WORDS = {
    "spawn": (
        ev("main", K.SPAWN, "C1", {"pid": 201, "daemon": True}),
        "main started C1 (pid 201) as a daemon",
    ),
    "join": (ev("main", K.JOIN, "P2"), "main blocks in join() of P2"),
    "joined": (
        ev("main", K.JOINED, "P2", {"alive": False, "exitcode": 0}),
        "join() of P2 returned: exit code 0",
    ),
    "joined-gave-up": (
        ev("main", K.JOINED, "C1", {"alive": True}),
        "join() of C1 gave up: C1 still runs",
    ),
    "qjoin": (ev("main", K.QJOIN, Q, {"unfinished": 2}), "main blocks in q.join()"),
    "qjoined": (ev("main", K.QJOINED, Q), "q.join() returned: no unfinished task left"),
    "task_done": (
        ev("C1", K.TASK_DONE, Q, {"unfinished": 4}),
        "C1 (pid 201) called task_done(): 4 unfinished",
    ),
    "put": (put("P1", "P1 #3"), "P1 (pid 101) put P1 #3 into the queue"),
    "put-stop": (put("main", None), "main put STOP (a sentinel) into the queue"),
    "get": (get("C2", "P1 #3"), "C2 (pid 202) took P1 #3"),
    "get-stop": (get("C2", None), "C2 (pid 202) took STOP and leaves"),
    "get_wait": (ev("C1", K.GET_WAIT, Q), "C1 (pid 201) waits in get(): the queue is empty"),
    "put_wait": (ev("P1", K.PUT_WAIT, Q), "P1 (pid 101) waits in put(): the queue is full"),
    "sleep-stand": (ev("P1", K.SLEEP, data={"s": 0.1}), "P1 (pid 101) makes a hot dog"),
    "sleep-eater": (ev("C1", K.SLEEP, data={"s": 0.1}), "C1 (pid 201) eats a hot dog"),
    "end": (ev("main", K.END, data={"daemon_threads": []}), "main's code ended"),
    "reaped-cut-off": (
        reaped("C2", -15, cut_off=True),
        "C2 (pid 202) was terminated as a daemon: its parent ended",
    ),
    "reaped-killed": (reaped("C1", -15), "C1 (pid 201) was killed by SIGTERM"),
    "reaped": (reaped("P1", 0), "P1 (pid 101) ended: exit code 0"),
}


@pytest.mark.parametrize("case", sorted(WORDS))
def test_the_lessons_events_have_its_own_words_in_the_log(case: str) -> None:
    from app.web.render import env

    e, expected = WORDS[case]
    words = env.get_template("partials/joinable/_event_words.html").render(e=e)
    assert words.strip() == expected


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


# The program: one file, the form's values in its constants.


def test_every_setting_is_a_constant_of_the_program_with_the_forms_default() -> None:
    assert EXPERIMENT.script is not None
    defaults = jq.Params().model_dump()
    program = constants(EXPERIMENT.program)
    for name, value in defaults.items():
        if name != "speed":  # the run's live slider: it scales the program's sleeps
            assert program[name.upper()] == value, name
    assert "SPEED" not in program
    chosen = constants(EXPERIMENT.script({"mode": jq.SENTINEL, "capacity": 4}))
    assert (chosen["MODE"], chosen["CAPACITY"]) == ("sentinel", 4)


SCRIPT_ENDINGS = {
    jq.NAIVE: ("That is the hang.", "15 eaten, each exactly once; then the hang: C1, C2"),
    jq.JOINABLE: ("C2 ate", "15 eaten and task_done(), each exactly once"),
    jq.NO_JOIN: ("", "the daemons C1, C2 were terminated as main exited, and what they had not"),
    jq.SENTINEL: ("took STOP and leaves", "2 STOP put, one taken by each eater"),
}
# Runs the program, then waits a moment between the end of main's code and
# Python's exit hooks (as a loaded machine may): daemons still alive then
# go on eating.
SLOW_EXIT = """\
import runpy, sys, time
runpy.run_path("joinable.py", run_name="__main__")
sys.stdout.flush()
time.sleep(0.3)
"""


@pytest.mark.parametrize("mode", sorted(SCRIPT_ENDINGS))
def test_the_program_of_every_ending_runs_on_its_own_and_ends_with_its_accounting(
    mode: str, tmp_path: Path
) -> None:
    assert EXPERIMENT.script is not None
    (tmp_path / "joinable.py").write_text(
        EXPERIMENT.script({**EXPERIMENT.quick_params, "mode": mode})
    )
    path = tmp_path / "slow_exit.py"
    path.write_text(SLOW_EXIT)
    done = harness.run_alone(path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    story, accounting = SCRIPT_ENDINGS[mode]
    assert lines[-1].startswith("accounting: 15 put,"), done.stdout
    assert accounting in lines[-1]
    assert any(story in line for line in lines), done.stdout
    assert sum(line.startswith("accounting:") for line in lines) == 1, done.stdout
    if mode == jq.NO_JOIN:
        # Counted once the daemons were terminated: every hot dog said eaten
        # (and one an eater was killed between eating it and saying so).
        counted = re.search(r"(\d+) eaten by the time main exited", lines[-1])
        assert counted is not None
        said = sum(bool(re.match(r"C\d ate P\d #\d$", line)) for line in lines)
        assert said <= int(counted.group(1)) <= said + 2, done.stdout


# Real runs: the program under the tracer, as the server runs it.


def wait_state(
    recorder: harness.Recorder, rt: Any, check: Callable[[jq.JoinableState], bool]
) -> jq.JoinableState:
    deadline = time.monotonic() + 20.0
    while True:
        state = jq.fold_all(recorder.events(rt.started_ns))
        if check(state):
            return state
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


def finished(start_run: Callable[..., harness.Started], **params: Any) -> jq.JoinableState:
    rt, recorder, budget = start_run(**params)
    assert rt.join(30.0)
    state = jq.fold_all(recorder.events(rt.started_ns))
    assert (state.status, state.reason) == ("finished", "main's program ended")
    assert budget.held == 0
    assert_all_gone(set(state.procs))
    return state


def assert_all_gone(pids: set[int]) -> None:
    deadline = time.monotonic() + 5.0
    while any(psutil.pid_exists(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [p for p in pids if psutil.pid_exists(p)] == []


def test_naive_hangs_the_lesson_says_so_and_stop_ends_every_process(start_run: Any) -> None:
    # main would give up after a minute: the Stop comes first.
    rt, recorder, budget = start_run(mode=jq.NAIVE, hang_after_ms=60000)
    state = wait_state(recorder, rt, lambda s: s.diagnosis is not None)
    assert state.status == "running"
    assert state.diagnosis is not None
    assert state.diagnosis["consumers_in_get"] == ["C1", "C2"]
    assert state.diagnosis["producers_finished"] == ["P1", "P2", "P3"]
    assert state.diagnosis["main_waits_in"] == "join() of C1"
    assert {w.name: w.state for w in state.of_role("consumer")} == {
        "C1": GET_WAIT,
        "C2": GET_WAIT,
    }
    assert state.extras()["lesson"]["main"]["waits_in"] == "join()"
    assert state.counters()["in_queue"] == 0
    assert state.consumed == state.produced == 15
    pids = set(state.procs)
    assert len(pids) == 6  # main, three stands, two eaters: real processes
    stuck = {state.workers[n].pid for n in ("main", "C1", "C2")}
    assert all(psutil.pid_exists(p) for p in stuck)  # hung, not gone
    assert {w.name: w.exitcode for w in state.of_role("producer")} == {"P1": 0, "P2": 0, "P3": 0}

    rt.stop("stopped by the teacher")
    assert rt.join(10.0)
    state = jq.fold_all(recorder.events(rt.started_ns))
    assert (state.status, state.reason) == ("stopped", "stopped by the teacher")
    assert all(not w.alive for w in state.workers.values())
    assert state.diagnosis is not None  # what happened stays said
    assert budget.held == 0
    assert_all_gone(pids)


def test_naive_on_its_own_gives_up_after_the_hang_and_ends(start_run: Any) -> None:
    state = finished(start_run, mode=jq.NAIVE, hang_after_ms=200)
    assert state.diagnosis is not None
    for c in state.of_role("consumer"):
        assert (c.state, c.exitcode) == (KILLED, -15), c.name  # main terminated them
    assert any("That is the hang." in line.text for line in state.console)


def test_joinable_counts_down_to_zero_then_q_join_returns_then_daemons_end(
    start_run: Any,
) -> None:
    rt, recorder, budget = start_run(mode=jq.JOINABLE, capacity=4, consume_min_ms=20)
    assert rt.join(30.0)
    evs = recorder.events(rt.started_ns)
    state = jq.fold_all(evs)
    assert (state.status, state.reason) == ("finished", "main's program ended")
    assert state.consumed == state.produced == 15
    assert state.counters()["unfinished_tasks"] == 0
    assert state.counters()["lost_items"] == 0
    assert state.diagnosis is None

    # Unfinished tasks in time order, as the queue counted them: up from 0,
    # back to exactly 0, and q.join() returns after the last task_done().
    q = state.queue_key
    ordered = [e for e in evs if e.item == q and e.kind in (K.PUT, K.TASK_DONE, K.QJOINED)]
    ordered.sort(key=lambda e: e.t)
    path = [int((e.data or {})["unfinished"]) for e in ordered if e.kind == K.TASK_DONE]
    assert path[-1] == 0
    assert min(path) >= 0
    assert ordered[-1].kind == K.QJOINED
    assert max(e.t for e in evs if e.kind == K.TASK_DONE) < ordered[-1].t

    main_pid = state.workers["main"].pid
    end = next(e for e in evs if e.kind == K.END and e.pid == main_pid)
    for name in ("C1", "C2"):
        c = state.workers[name]
        assert (c.state, c.alive, c.exitcode) == (CUT_OFF, False, -15), name
        assert state.procs[c.pid].ppid == main_pid
        cut = next(e for e in evs if e.kind == K.REAPED and e.item == name)
        assert (cut.data or {})["signal"] == "SIGTERM"
        assert cut.t > end.t  # terminated only once main's code ended
    assert budget.held == 0
    assert_all_gone(set(state.procs))


def test_no_join_loses_exactly_the_items_never_eaten(start_run: Any) -> None:
    # Stands are instant and eating takes 100-150 ms (at the quick speed):
    # main's code ends long before the eaters are through, even on a busy
    # machine (with 10-15 ms they once ate all 15 before main's exit).
    state = finished(
        start_run, mode=jq.NO_JOIN, produce_max_ms=0, consume_min_ms=2000, consume_max_ms=3000
    )
    assert len(state.put_items) == 15
    lost = state.extras()["lesson"]["lost"]
    never = set(state.put_items) - set(state.eaten)
    assert state.counters()["lost_items"] == len(never) > 0
    assert {x["item"] for x in lost} == never
    assert len(lost) == len(never)  # each listed once
    held = {f"held by {who}": item for who, item in state.held.items()}
    assert {x["where"]: x["item"] for x in lost if x["where"].startswith("held by")} == held
    # Both eaters were cut off; on a loaded machine one may be cut off before
    # it ran a line of its own, and so never showed a thread.
    eaters = [p for p in state.procs.values() if role_of(p.name) == "consumer"]
    assert len(eaters) == 2
    assert all(p.cut_off and not p.alive for p in eaters)
    assert {w.state for w in state.of_role("consumer")} <= {CUT_OFF}
    assert ("q.join()", "") not in state.returned
    # (a daemon may say it ate one after main's last line, before it is cut off)
    said = [c.text for c in state.console if c.text.startswith("accounting: 15 put,")]
    assert len(said) == 1


def test_sentinel_every_consumer_leaves_with_code_0_after_one_sentinel(start_run: Any) -> None:
    state = finished(start_run, mode=jq.SENTINEL, consumers=3, capacity=2)
    assert state.consumed == state.produced == 15
    assert state.sentinels_put == 3
    assert state.sentinels_taken == {"C1": 1, "C2": 1, "C3": 1}
    for c in state.of_role("consumer"):
        assert (c.state, c.exitcode, c.alive) == (FINISHED, 0, False), c.name
    assert state.diagnosis is None


# The run object over HTTP.


def wait_hang(c: httpx.Client, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        run = c.get(f"/api/runs/{run_id}").json()
        if run["lesson"]["diagnosis"] is not None:
            return dict(run)
        assert time.monotonic() < deadline, run
        time.sleep(0.05)


def test_the_run_object_carries_the_hang_and_stop_ends_it(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=15) as c:
        params = {**FAST, "mode": "naive", "hang_after_ms": 60000}
        r = c.post("/api/runs", json={"experiment": "joinable", "params": params})
        assert r.status_code == 201, r.text
        run_id = r.json()["id"]
        try:
            run = wait_hang(c, run_id)
            lesson = run["lesson"]
            assert lesson["mode"] == "naive"
            assert lesson["diagnosis"]["kind"] == "hang"
            assert lesson["diagnosis"]["consumers_in_get"] == ["C1", "C2"]
            assert lesson["main"]["waits_in"] == "join()"
            assert run["counters"]["unfinished_tasks"] is None
            assert run["counters"]["lost_items"] == 0
            pids = {p["pid"] for p in run["processes"]}
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
        params = {**FAST, "mode": "naive", "hang_after_ms": 60000}
        r = c.post("/api/runs", json={"experiment": "joinable", "params": params})
        assert r.status_code == 201, r.text
        run_id = r.json()["id"]
        try:
            wait_hang(c, run_id)
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
