"""The queue playground (app/experiments/queue_calls/): the call model, the
overlay folded from the tracer's events and the program's printed lines,
real runs of its program (real processes for FIFO, real threads for LIFO)
driven by the presenter's calls, the HTTP contract, and the page in a
browser."""

from __future__ import annotations

import importlib
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import harness
import httpx
import psutil
import pytest
from conftest import ARTIFACTS, LiveServer
from pages import set_slider, started_run, wait_for_run
from probes import start, wait_for
from ssereader import messages

from app import events
from app.events import Event
from app.experiments import queue_calls as qc
from app.experiments.queue_calls.overlay import QueueState
from app.experiments.queue_calls.view import view
from app.params import ParamsError, validate
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.runtime import ProgramRuntime
from app.programs.state import KILLED

# The call model: what the API and the page's buttons may send.


@pytest.mark.parametrize(
    ("call", "field", "words"),
    [
        ({"op": "pop"}, "op", "one of 'put', 'put_nowait', 'get', 'get_nowait'"),
        ({}, "op", "one of 'put'"),
        ({"op": "put", "value": 1000}, "value", "an integer from 0 to 999, or null"),
        ({"op": "put", "value": -1}, "value", "from 0 to 999"),
        ({"op": "put", "value": 2.5}, "value", "an integer from 0 to 999"),
        ({"op": "put", "value": "four"}, "value", "an integer from 0 to 999"),
        ({"op": "put", "value": True}, "value", "an integer from 0 to 999"),
        ({"op": "get", "timeout": 0}, "timeout", "a number from 0.1 to 30, or null"),
        ({"op": "get", "timeout": 31}, "timeout", "from 0.1 to 30"),
        ({"op": "get", "value": 3}, "value", "get() takes no value"),
        ({"op": "get_nowait", "timeout": 2}, "timeout", "never waits"),
        ({"op": "put_nowait", "value": 1, "timeout": 2}, "timeout", "never waits"),
        ({"op": "put", "colour": "red"}, "colour", "unknown field"),
    ],
)
def test_bad_calls_are_refused_naming_the_field_and_its_bounds(
    call: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ParamsError) as err:
        validate(qc.Call, call)
    assert any(e.field == field and words in e.message for e in err.value.errors), err.value


def test_calls_accept_json_nulls_and_form_text() -> None:
    assert validate(qc.Call, {"op": "get", "value": None, "timeout": None}).model_dump() == {
        "op": "get",
        "value": None,
        "timeout": None,
    }
    call = validate(qc.Call, {"op": "put", "value": "4", "timeout": "2.5"})
    assert call.model_dump() == {"op": "put", "value": 4, "timeout": 2.5}
    assert validate(qc.Call, {"op": "put"}).model_dump()["value"] is None  # the next number


def test_the_lecture_example_needs_the_lecture_capacity() -> None:
    with pytest.raises(ParamsError) as err:
        validate(qc.Params, {"mode": "script", "capacity": 5})
    assert err.value.errors[0].field == "capacity"
    assert "Queue(3)" in err.value.errors[0].message
    assert validate(qc.Params, {"mode": "script", "kind": "lifo"}).model_dump()["capacity"] == 3


def test_the_form_goes_into_the_programs_constants() -> None:
    text = qc.EXPERIMENT.script(
        {"kind": "lifo", "capacity": 0, "mode": "script", "speed": 5, "script_timeout_s": 0.5}
    )
    for line in ('KIND = "lifo"', "CAPACITY = 0", 'MODE = "script"', "SCRIPT_TIMEOUT_S = 0.5"):
        assert line in text
    assert "speed" not in text.lower().split('"""')[2]  # the run's, not the program's
    assert qc.EXPERIMENT.script_name({}) == "queue_calls.py"  # queue.py: its own `import queue`


def test_call_text_is_written_as_in_python() -> None:
    program = importlib.import_module("app.experiments.queue_calls.program")
    assert program.call_text("put", 4) == "put(4)"
    assert program.call_text("get", timeout=2.0) == "get(timeout=2)"
    assert program.call_text("put", 5, 0.5) == "put(5, timeout=0.5)"
    assert program.call_text("get_nowait") == "get_nowait()"


# The overlay: pure, from the tracer's events and the printed lines alone.

MAIN_PID = 100
Q = "100.1"


def ev(worker: str, kind: str, item: str | None = None, t: float = 0.0, **data: Any) -> Event:
    threads = worker.startswith("T")
    pid = MAIN_PID if worker == "main" or threads else 1000 + int(worker[1:])
    tid = 5000 + int(worker[1:]) if threads else pid
    return Event(0, t, worker, pid, tid, kind, item, data or None)


def made(kind: str = "fifo", capacity: int = 3) -> list[Event]:
    lib, type_ = ("multiprocessing", "Queue") if kind == "fifo" else ("queue", "LifoQueue")
    return [
        ev("main", K.PROC, None, 0.0, name="MainProcess", main=True),
        ev("main", K.NEW, Q, 0.0, type=type_, lib=lib, name="q", maxsize=capacity, line=1),
    ]


def says(worker: str, text: str, t: float) -> Event:
    return ev(worker, K.OUT, None, t, text=text + "\n", stream="stdout")


def put_events(name: str, value: int, t: float, wait: bool = False) -> list[Event]:
    out = [says(name, f"{name} calls put({value})", t)]
    if wait:
        out.append(ev(name, K.PUT_WAIT, Q, t, timeout=None, size=3))
    out.append(ev(name, K.PUT, Q, t + 0.01, v=str(value), size=1))
    return out


def get_events(name: str, value: int, t: float) -> list[Event]:
    return [says(name, f"{name} calls get()", t), ev(name, K.GET, Q, t + 0.01, v=str(value))]


def fold_all(evs: list[Event], kind: str = "fifo", capacity: int = 3) -> QueueState:
    params = qc.Params(kind=kind, capacity=capacity).model_dump()
    numbered = [
        Event(seq, e.t, e.worker, e.pid, e.tid, e.kind, e.item, e.data)
        for seq, e in enumerate([*made(kind, capacity), *evs], 1)
    ]
    return qc.fold_all(numbered, params)


def values(state: QueueState) -> list[str]:
    return [c.value for c in state.items()]


def test_fold_draws_the_queue_and_who_waits_at_it() -> None:
    evs = [*put_events("P1", 1, 1.0), *put_events("P2", 2, 2.0), *put_events("P3", 3, 3.0)]
    evs += [says("P4", "P4 calls put(4)", 4.0), ev("P4", K.PUT_WAIT, Q, 4.0, timeout=None)]
    state = fold_all(evs)
    assert values(state) == ["1", "2", "3"]
    assert [c.name for c in state.waiting()] == ["P4"]
    assert state.expr == "multiprocessing.Queue(3)"
    shown = view(state, state.params)
    assert shown["full"] is True
    assert [c.name for c in shown["wait_put"]] == ["P4"]
    assert shown["wait_get"] == []
    assert state.lesson_counters() == {
        "in_queue": 3,
        "puts": 3,
        "gets": 0,
        "waiting": 1,
        "full_raised": 0,
        "empty_raised": 0,
    }
    # A get frees the slot: 1 leaves from the head, and put(4) goes in.
    state = fold_all([*evs, *get_events("P5", 1, 5.0), ev("P4", K.PUT, Q, 5.02, v="4")])
    assert values(state) == ["2", "3", "4"]
    assert state.waiting() == []
    assert (state.callers["P5"].phase, state.callers["P5"].result) == ("returned", "1")
    lesson = state.extras()["lesson"]
    assert lesson["queue"] == [2, 3, 4]
    assert [c["call"] for c in lesson["callers"]] == [
        "put(1)",
        "put(2)",
        "put(3)",
        "put(4)",
        "get()",
    ]


def test_fold_takes_from_the_top_of_a_lifo() -> None:
    evs = [*put_events("T1", 7, 1.0), *put_events("T2", 7, 2.0), *put_events("T3", 8, 3.0)]
    evs += get_events("T4", 7, 4.0)  # 8 is on top; say another caller had taken it
    state = fold_all(evs, kind="lifo")
    assert [(c.key, c.value) for c in state.items()] == [("T1", "7"), ("T3", "8")]
    state = fold_all(evs, kind="fifo")
    assert [(c.key, c.value) for c in state.items()] == [("T2", "7"), ("T3", "8")]


def test_fold_shows_how_a_timed_call_raised_and_when() -> None:
    evs = [
        says("P1", "P1 calls get(timeout=2)", 1.0),
        ev("P1", K.GET_WAIT, Q, 1.0, timeout=2.0, size=0),
    ]
    state = fold_all(evs)
    c = state.callers["P1"]
    assert (c.phase, c.why, c.timeout) == ("waiting", "empty", 2.0)
    assert [w.name for w in view(state, state.params)["wait_get"]] == ["P1"]
    evs += [
        ev("P1", K.EMPTY, Q, 3.0, timeout=2.0),
        ev("main", K.REAPED, "P1", 3.1, pid=1001, exitcode=0, signal=None),
    ]
    state = fold_all(evs)
    c = state.callers["P1"]
    assert (c.phase, c.exception, c.after_s) == ("raised", "queue.Empty", 2.0)
    assert state.lesson_counters()["empty_raised"] == 1
    row = state.extras()["lesson"]["callers"][0]
    assert (row["alive"], row["exitcode"], row["pid"]) == (False, 0, 1001)


def test_fold_says_a_refused_call_in_parts() -> None:
    line = "main refused get(): 8 get callers are still there (at most 8): a put would free one"
    state = fold_all([says("main", line, 1.0)])
    assert state.refused_call == "get()"
    assert state.refused == {"limit": "side", "alive": 8, "side": "get", "most": 8, "other": "put"}
    state = fold_all(
        [says("main", "main refused put(3): 10 callers are still there (at most 10)", 1)]
    )
    assert state.refused == {"limit": "all", "alive": 10, "most": 10}


def test_a_caller_killed_by_stop_while_it_waits_says_so() -> None:
    evs = [says("T1", "T1 calls get()", 1.0), ev("T1", K.GET_WAIT, Q, 1.0, timeout=None)]
    evs += [ev("main", events.RUN_END, None, 2.0, outcome="stopped", reason="stopped")]
    state = fold_all(evs, kind="lifo")
    assert state.phase(state.callers["T1"]) == KILLED
    assert state.waiting() == []


# Real runs of the program under the tracer: processes for FIFO, threads for
# LIFO, driven by the presenter's calls.


class Playground:
    """A run of the lesson's program and the calls made on it, one caller each."""

    def __init__(self, rt: ProgramRuntime, recorder: harness.Recorder, kind: str, budget: Any):
        self.rt = rt
        self.recorder = recorder
        self.budget = budget
        self.prefix = "P" if kind == "fifo" else "T"
        self.calls = 0

    def call(self, op: str, value: int | None = None, timeout: float | None = None) -> str:
        assert self.rt.send(qc.Call(op=op, value=value, timeout=timeout).model_dump())
        self.calls += 1
        return f"{self.prefix}{self.calls}"

    def state(self) -> QueueState:
        return qc.fold_all(self.recorder.events(self.rt.started_ns), self.rt.params.model_dump())

    def until(self, what: Callable[[QueueState], Any], timeout: float = 15.0) -> Any:
        """What `what` finds in the folded trace, once it finds something."""
        deadline = time.monotonic() + timeout
        while True:
            found = what(self.state())
            if found:
                return found
            if time.monotonic() > deadline:
                state = self.state()
                pytest.fail(f"timed out; callers: {state.extras()['lesson']['callers']}")
            time.sleep(0.02)

    def outcome(self, name: str) -> Any:
        def ended(s: QueueState) -> Any:
            c = s.callers.get(name)
            return c if c is not None and c.phase in ("returned", "raised") else None

        return self.until(ended)

    def got(self, name: str) -> str | None:
        c = self.outcome(name)
        assert c.phase == "returned", c
        return c.result

    def waits(self, name: str) -> Any:
        return self.until(lambda s: s.callers.get(name) in s.waiting() and s.callers[name])


@pytest.fixture
def playground() -> Iterator[Callable[..., Playground]]:
    started: list[ProgramRuntime] = []

    def begin(**params: Any) -> Playground:
        p = qc.Params(**params)
        rt, recorder, budget = harness.start(qc.EXPERIMENT, p)
        started.append(rt)
        pg = Playground(rt, recorder, p.kind, budget)
        pg.until(lambda s: s.queue_key)
        return pg

    yield begin
    for rt in started:
        if not rt.done:
            rt.stop("test teardown")
            rt.join(10.0)


def test_fifo_put_on_a_full_queue_waits_until_a_get_frees_a_slot(playground: Any) -> None:
    pg = playground(kind="fifo", capacity=3)
    for value in (1, 2, 3):
        assert pg.got(pg.call("put", value)) == str(value)
    blocked = pg.call("put", 4)
    assert pg.waits(blocked).why == "full"
    pid = pg.state().extras()["lesson"]["callers"][3]["pid"]
    assert psutil.pid_exists(pid)  # a real process, waiting in put()
    assert pg.got(pg.call("get")) == "1"  # the head: first in, first out
    assert pg.got(blocked) == "4"  # the get made room: put(4) went in
    assert [pg.got(pg.call("get")) for _ in range(3)] == ["2", "3", "4"]

    state = pg.state()
    callers = state.extras()["lesson"]["callers"]
    pids = {c["pid"] for c in callers}
    main_pid = state.main().pid  # type: ignore[union-attr]
    assert len(pids) == 8  # each call in a real process of its own...
    assert main_pid not in pids
    assert os.getpid() not in pids
    # ...which main reaps once it has ended (is_alive() waits for it), exit code 0.
    assert all(c["exitcode"] == 0 for c in pg.state().extras()["lesson"]["callers"])
    # Main's own reaps (the server may have said first that a caller died,
    # if main had not looked for a tick: `unreaped`).
    pg.recorder.wait_for(
        lambda raw: sum(1 for r in raw if r[4] == K.REAPED and not r[6].get("unreaped")) == 8
    )
    assert not any(psutil.pid_exists(p) for p in pids)
    assert values(pg.state()) == []


def test_nowait_calls_raise_at_once_and_timeouts_raise_after_waiting(playground: Any) -> None:
    pg = playground(kind="fifo", capacity=1)
    assert pg.got(pg.call("put", 1)) == "1"
    full = pg.outcome(pg.call("put_nowait", 2))
    assert (full.phase, full.exception, full.why) == ("raised", "queue.Full", "")  # never waited
    assert full.after_s < 0.5
    timed_put = pg.outcome(pg.call("put", 3, timeout=0.3))
    assert (timed_put.exception, timed_put.why, timed_put.after_s >= 0.29) == (
        "queue.Full",
        "full",
        True,
    )
    assert pg.got(pg.call("get")) == "1"
    empty_now = pg.outcome(pg.call("get_nowait"))
    assert (empty_now.exception, empty_now.after_s < 0.5) == ("queue.Empty", True)
    name = pg.call("get", timeout=0.4)
    assert pg.waits(name).why == "empty"
    empty = pg.outcome(name)
    assert (empty.phase, empty.exception) == ("raised", "queue.Empty")
    assert 0.39 <= empty.after_s < 3.0
    state = pg.state()
    assert (state.counters()["full_raised"], state.counters()["empty_raised"]) == (2, 2)
    assert state.callers[name].text == "get(timeout=0.4)"


def test_lifo_gives_the_last_in_first_and_its_callers_are_threads(playground: Any) -> None:
    pg = playground(kind="lifo", capacity=3)
    for value in (1, 2, 3):
        pg.got(pg.call("put", value))
    assert [pg.got(pg.call("get")) for _ in range(3)] == ["3", "2", "1"]
    state = pg.state()
    callers = state.extras()["lesson"]["callers"]
    owner = state.main()
    assert owner is not None
    assert {c["pid"] for c in callers} == {owner.pid}  # threads of main...
    assert len({c["tid"] for c in callers} | {owner.tid}) == 7  # ...each a real thread
    assert owner.pid != os.getpid()


def test_callers_blocked_at_stop_end_with_the_run_and_nothing_remains(playground: Any) -> None:
    puts = playground(kind="fifo", capacity=1)
    gets = playground(kind="lifo", capacity=2)
    puts.got(puts.call("put", 1))
    blocked_puts = [puts.call("put", 2), puts.call("put", 3, timeout=20)]
    blocked_gets = [gets.call("get"), gets.call("get"), gets.call("get", timeout=20)]
    for pg, names in ((puts, blocked_puts), (gets, blocked_gets)):
        for name in names:
            pg.waits(name)
    pids = {
        c["pid"]
        for pg, names in ((puts, blocked_puts), (gets, blocked_gets))
        for c in pg.state().extras()["lesson"]["callers"]
        if c["name"] in names
    }
    pids |= {pg.state().main().pid for pg in (puts, gets)}  # type: ignore[union-attr]
    assert all(psutil.pid_exists(pid) for pid in pids)
    for pg in (puts, gets):
        pg.rt.stop("test")
    assert puts.rt.join(10.0)
    assert gets.rt.join(10.0)
    for pg, names in ((puts, blocked_puts), (gets, blocked_gets)):
        state = pg.state()
        assert (state.status, state.reason) == ("stopped", "test")
        assert [state.phase(state.callers[n]) for n in names] == [KILLED] * len(names)
        assert pg.budget.held == 0  # main's slot and its callers' all given back
    assert not any(_running(pid) for pid in pids)  # (a zombie waits for its reaper)


def test_a_call_past_the_limit_of_callers_is_refused_but_one_that_frees_them_is_not(
    playground: Any,
) -> None:
    pg = playground(kind="lifo", capacity=1)
    waiting = [pg.call("get") for _ in range(qc.MAX_CALLERS)]
    for name in waiting:
        pg.waits(name)
    assert pg.rt.send(qc.Call(op="get").model_dump())
    pg.until(lambda s: s.refused_call == "get()")
    assert pg.state().refused == {
        "limit": "side",
        "alive": qc.MAX_CALLERS,
        "side": "get",
        "most": qc.MAX_CALLERS,
        "other": "put",
    }
    assert pg.budget.held == 1 + qc.MAX_ALIVE  # main and every caller it may have
    assert pg.got(pg.call("put", 6)) == "6"
    freed = pg.until(lambda s: [n for n in waiting if s.callers[n].phase == "returned"])
    assert [pg.got(n) for n in freed] == ["6"]


@pytest.mark.parametrize(
    ("kind", "gets"), [("fifo", ["1", "2", "3", "4", "5"]), ("lifo", ["3", "4", "2", "1", "5"])]
)
def test_the_lecture_example_plays_to_its_end(playground: Any, kind: str, gets: list[str]) -> None:
    pg = playground(kind=kind, **qc.QUICK_PARAMS)
    assert pg.rt.join(30.0)
    state = pg.state()
    assert (state.status, state.reason) == ("finished", "the lecture's example played to its end")
    assert state.step_n == state.step_of == 15
    by_step = {c.step: c for c in state.callers.values()}
    assert [by_step[n].result for n in (4, 6, 7, 8, 9)] == gets
    assert by_step[9].why == "empty"  # the fifth get waited, until step 10's put
    assert (by_step[11].exception, by_step[11].text) == ("queue.Empty", "get(timeout=0.1)")
    assert (by_step[15].exception, by_step[15].text) == ("queue.Full", "put_nowait(9)")
    assert values(state) == ["6", "7", "8"]
    assert not any(w.alive for w in state.threads())
    assert (
        state.console[-1].text
        == "accounting: 15 calls, 13 returned, 2 raised, no caller left waiting"
    )


# The program: shown with who is where, and it runs on its own.


def test_code_view_puts_a_waiting_caller_on_its_put_or_get_line(playground: Any) -> None:
    pg = playground(kind="fifo", capacity=1)
    pg.got(pg.call("put", 1))
    blocked = pg.call("put", 2)
    pg.waits(blocked)
    shown = qc.EXPERIMENT.view(pg.state(), pg.rt.params.model_dump())
    where = {name: line.text for line in shown["program_code"] for name in line.workers}
    assert "q.put(value, timeout=timeout)" in where[blocked]
    assert "P1" not in where  # it returned: on no line
    assert shown["filename"] == "queue_calls.py"


def test_the_script_plays_the_lecture_example_on_its_own(tmp_path: Path) -> None:
    path = tmp_path / "queue_calls.py"
    # Buttons, as the form starts: nobody presses any on its own, so it plays the example.
    path.write_text(qc.EXPERIMENT.script({"kind": "lifo", "mode": "buttons", **{"speed": 20}}))
    text = path.read_text().replace("PAUSE_S = 1.5", "PAUSE_S = 0.05")
    path.write_text(text.replace("SCRIPT_TIMEOUT_S = 2.0", "SCRIPT_TIMEOUT_S = 0.1"))
    done = harness.run_alone(path)
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    gets = [line.split()[-1] for line in out if re.match(r"T\d+: get\(\) returned", line)]
    assert gets == ["3", "4", "2", "1", "5"]  # last in, first out
    assert "T11: get(timeout=0.1) raised queue.Empty after 0.1 s" in out
    assert "T15: put_nowait(9) raised queue.Full after 0.0 s" in out
    assert out[-1] == "accounting: 15 calls, 13 returned, 2 raised, no caller left waiting"


# The HTTP contract, against a real server.


def phases(run: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["phase"] for c in run["lesson"]["callers"]}


@pytest.mark.live
def test_calls_api_answers_202_and_the_outcome_arrives_as_events(client: httpx.Client) -> None:
    run = start(client, "queue", capacity=2)
    url = f"/api/runs/{run['id']}/calls"
    bodies = ({"op": "put", "value": 7, "timeout": None}, {"op": "put"}, {"op": "put"})
    for n, (body, phase) in enumerate(
        zip(bodies, ("returned", "returned", "waiting"), strict=True), 1
    ):
        r = client.post(url, json=body)
        assert r.status_code == 202, r.text
        assert r.json() == {"accepted": True, "run": run["id"]}
        now = wait_for(client, run["id"], lambda r, n=n, p=phase: phases(r).get(f"P{n}") == p)
    assert now["lesson"]["queue"] == [7, 8]  # the empty put took the next number
    assert now["counters"]["waiting"] == 1
    assert [c["call"] for c in now["lesson"]["callers"]] == ["put(7)", "put(8)", "put(9)"]
    assert client.post(url, json={"op": "get_nowait"}).status_code == 202
    now = wait_for(client, run["id"], lambda r: phases(r).get("P3") == "returned")
    assert now["lesson"]["queue"] == [8, 9]
    assert next(c for c in now["lesson"]["callers"] if c["name"] == "P4")["result"] == 7
    workers = {w["name"]: w for w in now["workers"]}
    assert psutil.pid_exists(workers["main"]["pid"])  # main, real and running
    # Each caller was a process of its own (a returned one may be gone by now).
    assert len({w["pid"] for w in workers.values()}) == len(workers)

    for body, field, words in (
        ({"op": "pop"}, "op", "one of"),
        ({"op": "put", "value": 5000}, "value", "from 0 to 999"),
        ({"op": "get", "timeout": 99}, "timeout", "from 0.1 to 30"),
        ({"op": "get", "value": 1}, "value", "takes no value"),
        ({"op": "put", "x": 1}, "x", "unknown field"),
    ):
        r = client.post(url, json=body)
        assert r.status_code == 422, body
        assert any(e["field"] == field and words in e["message"] for e in r.json()["errors"])
    assert (
        client.post(url, content=b"[1", headers={"content-type": "application/json"}).status_code
        == 422
    )
    assert client.post("/api/runs/deadbeef/calls", json={"op": "get"}).status_code == 404
    client.post(f"/api/runs/{run['id']}/stop")
    r = client.post(url, json={"op": "get"})
    assert r.status_code == 409
    assert "ended" in r.json()["detail"]


@pytest.mark.live
def test_page_form_posts_a_call_and_explains_a_bad_one(client: httpx.Client) -> None:
    run = start(client, "queue", kind="lifo", capacity=0)
    r = client.post(
        "/experiments/queue/calls", data={"run_id": run["id"], "op": "put", "value": ""}
    )
    assert r.status_code == 202
    wait_for(client, run["id"], lambda r: r["lesson"]["queue"] == [1])
    r = client.post(
        "/experiments/queue/calls", data={"run_id": run["id"], "op": "put", "value": "1234"}
    )
    assert r.status_code == 422
    assert "Value must be an integer from 0 to 999, or null (got &#x27;1234&#x27;)" in r.text
    r = client.post("/experiments/queue/calls", data={"run_id": "", "op": "get"})
    assert (r.status_code, r.text) == (409, "Press Start first.")
    page = client.get("/experiments/queue").text
    for button in ("btn-put", "btn-get", "btn-put_nowait", "btn-get_nowait", "btn-play"):
        assert f'id="{button}"' in page
    assert "style=" not in page
    assert " onclick=" not in page
    r = client.post("/api/runs", json={"experiment": "queue", "params": {"capacity": 11}})
    assert r.status_code == 422
    assert "Capacity must be an integer from 0 to 10" in r.json()["detail"]


@pytest.mark.live
def test_the_page_a_frame_and_a_refused_call_speak_chinese(client: httpx.Client) -> None:
    zh = {"accept-language": "zh-CN,zh;q=0.9"}
    page = client.get("/experiments/queue", headers=zh).text
    for words in ("队列，一次一个调用", "由谁调用", "播放课上的例子", "队列类型", "脚本"):
        assert words in page
    assert "Play the lecture's example" in client.get("/experiments/queue").text
    run = start(client, "queue", kind="fifo", capacity=1)
    url = f"/api/runs/{run['id']}/calls"
    client.post(url, json={"op": "put", "value": 1})
    client.post(url, json={"op": "put", "value": 2})  # waits: full
    wait_for(client, run["id"], lambda r: r["counters"]["waiting"] == 1)
    r = client.post(
        "/experiments/queue/calls",
        data={"run_id": run["id"], "op": "put", "value": "1234"},
        headers=zh,
    )
    assert "值必须是 0 到 999 之间的整数，或 null" in r.text
    with client.stream("GET", f"/runs/{run['id']}/stream", headers=zh) as s:
        frame = next(messages(s)).data
    for words in ("每次调用新建一个子进程", "已返回的 put", "等待：队列已满", "队尾"):
        assert words in frame
    client.post(f"/api/runs/{run['id']}/stop")


@pytest.mark.live
def test_a_killed_server_takes_main_and_its_waiting_callers_with_it() -> None:
    server = LiveServer()
    try:
        with httpx.Client(base_url=server.url, timeout=15) as c:
            run = start(c, "queue", capacity=1)
            url = f"/api/runs/{run['id']}/calls"
            c.post(url, json={"op": "put", "value": 1})
            wait_for(c, run["id"], lambda r: r["lesson"]["queue"] == [1])
            c.post(url, json={"op": "put", "value": 2})  # waits: full
            running = wait_for(c, run["id"], lambda r: r["counters"]["waiting"] == 1)
        family = [p.pid for p in psutil.Process(server.proc.pid).children(recursive=True)]
        pids = {w["pid"] for w in running["workers"] if w["alive"]}
        assert len(pids) == 2  # main, and the caller waiting in put(2)
        assert pids <= set(family)
        server.proc.kill()  # no shutdown: only the watchdogs
        server.proc.wait()
    finally:
        server.stop()
    deadline = time.monotonic() + 5
    alive = family
    while alive and time.monotonic() < deadline:
        alive = [p for p in family if _running(p)]
        time.sleep(0.05)
    assert not alive, f"left behind: {alive}"


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# The page, in a real browser.


@pytest.mark.browser
def test_press_put_until_full_see_the_next_put_wait_then_get_frees_it(
    browser: Any, live_server: LiveServer
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + "/experiments/queue")
    # The form starts from the latest run's values: set the ones this needs.
    page.select_option("#f-kind", "fifo")
    page.select_option("#f-mode", "buttons")
    set_slider(page, "capacity", "3")
    page.click("button.start")
    run_id = started_run(page)
    wait_for_run(page, run_id)
    page.wait_for_selector("#qc-owner .pid", timeout=5000)
    for n in (1, 2, 3):
        page.click("#btn-put")
        page.wait_for_function(
            "n => document.querySelectorAll('#queue .chip').length === n", arg=n, timeout=5000
        )
    assert page.locator("#queue .chip").all_inner_texts() == ["1", "2", "3"]
    assert page.locator("#c-in-queue").text_content() == "3/3"

    page.click("#btn-put")
    waiter = page.locator("#wait-P4")
    waiter.wait_for(timeout=5000)
    assert "put(4)" in waiter.inner_text()
    assert "waiting: full" in waiter.inner_text()
    assert "waiting: full" in page.locator("#caller-P4 .qc-outcome").inner_text()
    pid = int(re.sub(r"\D", "", page.locator("#caller-P4 .pid").inner_text()))
    assert psutil.pid_exists(pid)  # a real process, waiting in put()
    page.screenshot(path=str(ARTIFACTS / "queue-put-waiting.png"))

    page.click("#btn-get")
    page.wait_for_selector("#wait-P4", state="detached", timeout=5000)
    page.wait_for_function(
        "() => /returned\\s*1/.test(document.querySelector('#caller-P5 .qc-outcome').textContent)",
        timeout=5000,
    )
    assert "returned" in page.locator("#caller-P4 .qc-outcome").inner_text()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#queue .chip')].map(c => c.textContent.trim())"
        ".join() === '2,3,4'",
        timeout=5000,
    )
    # An item tells its journey: the caller that put it, and the one that took it.
    page.click("#queue .chip >> text=2")
    page.wait_for_selector("#journey .journey-card")
    assert "P2 puts it in the queue" in page.inner_text("#journey")
    assert "still in the queue" in page.inner_text("#journey")
    page.click("#btn-put_nowait")
    page.wait_for_function(
        "() => /queue\\.Full/.test(document.querySelector('#caller-P6 .qc-outcome')?.textContent)",
        timeout=5000,
    )
    page.screenshot(path=str(ARTIFACTS / "queue-after-get.png"), full_page=True)

    page.fill("#call-value", "5000")
    page.click("#btn-put")
    page.wait_for_function(
        "() => /from 0 to 999/.test(document.querySelector('#call-message').textContent)",
        timeout=5000,
    )
    page.click("button.stop")
    page.wait_for_function(
        "() => document.querySelector('#run-status').textContent.trim() === 'stopped'",
        timeout=10000,
    )
    assert not psutil.pid_exists(pid)
    assert errors == []
    page.close()
