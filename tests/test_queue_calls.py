"""The queue playground (app/experiments/queue_calls.py): the call model, the
pure fold, real runs through app.runtime.Runtime (real processes for FIFO,
real threads for LIFO), the HTTP contract, and the page in a browser."""

from __future__ import annotations

import gc
import os
import random
import re
import subprocess
import sys
import time
import weakref
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
from app.budget import WorkerBudget
from app.codeview import locate
from app.events import Event
from app.experiments import queue_calls as qc
from app.params import ParamsError, validate
from app.runtime import STOP_GRACE_S, Runtime

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


def test_call_text_is_written_as_in_python() -> None:
    assert qc.call_text("put", 4) == "put(4)"
    assert qc.call_text("get", timeout=2.0) == "get(timeout=2)"
    assert qc.call_text("put", 5, 0.5) == "put(5, timeout=0.5)"
    assert qc.call_text("get_nowait") == "get_nowait()"


# The fold: pure, from events alone.

MAIN_PID = 100


def ev(worker: str, kind: str, item: str | None = None, t: float = 0.0, **data: Any) -> Event:
    pid = MAIN_PID if worker == "main" else 1000 + int(worker[1:])
    return Event(0, t, worker, pid, pid * 10, kind, item, data or None)


def put_events(name: str, value: int, t: float, wait: bool = False) -> list[Event]:
    text = f"put({value})"
    out = [ev(name, qc.CALL, text, t, op="put", value=value, timeout=None)]
    if wait:
        out.append(ev(name, qc.CALL_WAIT, text, t, why="full", timeout=None))
    out.append(ev(name, qc.CALL_RETURN, text, t + 0.01, op="put", value=value))
    return out


def get_events(name: str, value: int, t: float) -> list[Event]:
    return [
        ev(name, qc.CALL, "get()", t, op="get", value=None, timeout=None),
        ev(name, qc.CALL_RETURN, "get()", t + 0.01, op="get", value=value),
    ]


def fold_all(evs: list[Event], kind: str = "fifo", capacity: int = 3) -> qc.QueueState:
    state = qc.QueueState()
    state.params = qc.Params(kind=kind, capacity=capacity).model_dump()
    for seq, e in enumerate(evs, 1):
        qc.fold(state, Event(seq, e.t, e.worker, e.pid, e.tid, e.kind, e.item, e.data))
    return state


def test_fold_draws_the_queue_and_who_waits_at_it() -> None:
    evs = [*put_events("P1", 1, 1.0), *put_events("P2", 2, 2.0), *put_events("P3", 3, 3.0)]
    evs += [
        ev("P4", qc.CALL, "put(4)", 4.0, op="put", value=4, timeout=None),
        ev("P4", qc.CALL_WAIT, "put(4)", 4.0, why="full", timeout=None),
    ]
    state = fold_all(evs)
    assert [c.value for c in state.items()] == [1, 2, 3]
    assert [c.name for c in state.waiting()] == ["P4"]
    shown = qc.view(state, state.params)
    assert shown["full"] is True
    assert [c.name for c in shown["wait_put"]] == ["P4"]
    assert shown["wait_get"] == []
    assert state.counters() == {
        "in_queue": 3,
        "puts": 3,
        "gets": 0,
        "waiting": 1,
        "full_raised": 0,
        "empty_raised": 0,
    }
    # A get frees the slot: 1 leaves from the head, and put(4) goes in.
    state = fold_all(
        [
            *evs,
            *get_events("P5", 1, 5.0),
            ev("P4", qc.CALL_RETURN, "put(4)", 5.02, op="put", value=4),
        ]
    )
    assert [c.value for c in state.items()] == [2, 3, 4]
    assert state.waiting() == []
    assert (state.callers["P5"].phase, state.callers["P5"].result) == (qc.RETURNED, 1)


def test_fold_takes_from_the_top_of_a_lifo() -> None:
    evs = [*put_events("T1", 7, 1.0), *put_events("T2", 7, 2.0), *put_events("T3", 8, 3.0)]
    evs += get_events("T4", 7, 4.0)  # 8 is on top; say another caller had taken it
    state = fold_all(evs, kind="lifo")
    assert [(c.key, c.value) for c in state.items()] == [("T1", 7), ("T3", 8)]
    state = fold_all(evs, kind="fifo")
    assert [(c.key, c.value) for c in state.items()] == [("T2", 7), ("T3", 8)]


def test_fold_shows_exceptions_and_a_countdown() -> None:
    evs = [
        ev("P1", qc.CALL, "get(timeout=2)", 1.0, op="get", value=None, timeout=2.0),
        ev("P1", qc.CALL_WAIT, "get(timeout=2)", 1.0, why="empty", timeout=2.0),
        ev("main", qc.TICK, t=1.5),
    ]
    state = fold_all(evs)
    shown = qc.view(state, state.params)
    assert shown["countdown"]["P1"] == {"left": 1.5, "tenths": 8}
    assert [c.name for c in shown["wait_get"]] == ["P1"]
    assert not any(entry.kind == qc.TICK for entry in state.log)  # ticks stay out of the log
    evs.append(ev("P1", qc.CALL_RAISE, "get(timeout=2)", 3.0, exception="queue.Empty", after_s=2.0))
    evs.append(ev("main", qc.REAPED, "P1", 3.1, pid=1001, exitcode=0, thread=False))
    state = fold_all(evs)
    c = state.callers["P1"]
    assert (c.phase, c.exception, c.after_s, c.alive, c.exitcode) == (
        qc.RAISED,
        "queue.Empty",
        2.0,
        False,
        0,
    )
    assert state.counters()["empty_raised"] == 1
    assert state.workers["P1"].alive is False


def test_fold_gives_the_same_queue_for_any_arrival_order() -> None:
    # Each caller's own events keep their order; callers interleave freely,
    # so a get may arrive before the put of the item it took.
    per_caller = [
        put_events("P1", 1, 1.0),
        put_events("P2", 2, 2.0),
        put_events("P3", 3, 3.0),
        get_events("P4", 1, 4.0),
        put_events("P5", 4, 5.0, wait=True),
        get_events("P6", 2, 6.0),
        put_events("P7", 2, 7.0),
    ]
    expected = fold_all([e for evs in per_caller for e in evs])
    assert [c.value for c in expected.items()] == [3, 4, 2]
    rng = random.Random(5)
    for _ in range(200):
        queues = [list(evs) for evs in per_caller]
        shuffled = []
        while any(queues):
            pick = rng.choice([q for q in queues if q])
            shuffled.append(pick.pop(0))
        state = fold_all(shuffled)
        assert [c.value for c in state.items()] == [3, 4, 2]
        assert state.early == {}
        assert state.counters() == expected.counters()


# Real runs: processes for FIFO, threads for LIFO, through the runtime.


class Recorder(harness.Recorder):
    """The shared recorder, with lookups for this experiment's callers."""

    def snapshot(self) -> list[events.RawEvent]:
        with self._lock:
            return list(self.raw)

    def of(self, worker: str, *kinds: str) -> list[events.RawEvent]:
        return [r for r in self.snapshot() if r[1] == worker and (not kinds or r[4] in kinds)]

    def until(self, what: Callable[[], Any], timeout: float = 10.0) -> Any:
        """What `what` finds, once it finds something."""
        deadline = time.monotonic() + timeout
        while True:
            found = what()
            if found:
                return found
            if time.monotonic() > deadline:
                last = [(r[1], r[4], r[5], r[6]) for r in self.snapshot()[-12:]]
                pytest.fail(f"timed out waiting; last events: {last}")
            time.sleep(0.01)


OUTCOMES = (qc.CALL_RETURN, qc.CALL_RAISE, qc.CALL_RELEASED, qc.CALL_SKIPPED)


class Playground:
    """A run of the experiment and the calls made on it, one caller each."""

    def __init__(self, rt: Runtime, recorder: Recorder, kind: str, budget: WorkerBudget) -> None:
        self.rt = rt
        self.recorder = recorder
        self.budget = budget
        self.prefix = "P" if kind == "fifo" else "T"
        self.calls = 0

    def call(self, op: str, value: int | None = None, timeout: float | None = None) -> str:
        assert self.rt.send(qc.Call(op=op, value=value, timeout=timeout).model_dump())
        self.calls += 1
        return f"{self.prefix}{self.calls}"

    def outcome(self, name: str, timeout: float = 10.0) -> events.RawEvent:
        found: list[events.RawEvent] = self.recorder.until(
            lambda: self.recorder.of(name, *OUTCOMES), timeout
        )
        return found[0]

    def got(self, name: str) -> Any:
        raw = self.outcome(name)
        assert raw[4] == qc.CALL_RETURN, raw
        return (raw[6] or {})["value"]

    def waits(self, name: str) -> events.RawEvent:
        found: list[events.RawEvent] = self.recorder.until(
            lambda: self.recorder.of(name, qc.CALL_WAIT)
        )
        return found[0]

    def state(self) -> qc.QueueState:
        return fold_all(
            [
                events.from_raw(r, i, self.rt.started_ns)
                for i, r in enumerate(self.recorder.snapshot(), 1)
            ],
            kind=self.rt.params.kind,
            capacity=self.rt.params.capacity,
        )


def descendants() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def dev_shm() -> set[str]:
    path = Path("/dev/shm")
    return {p.name for p in path.iterdir()} if path.is_dir() else set()


@pytest.fixture
def playground() -> Iterator[Callable[..., Playground]]:
    # Weak: a test that drops its playgrounds frees their runtimes' queues.
    runtimes: weakref.WeakSet[Runtime] = weakref.WeakSet()

    def start(**params: Any) -> Playground:
        p = qc.Params(**params)
        recorder = Recorder()
        rt, _recorder, budget = harness.start(qc.EXPERIMENT, p, recorder=recorder)
        runtimes.add(rt)
        recorder.until(lambda: recorder.of("main", qc.QUEUE_MADE))
        return Playground(rt, recorder, p.kind, budget)

    yield start
    for rt in list(runtimes):
        if not rt.done:
            rt.stop("test teardown")
            rt.join(10.0)


def test_fifo_put_on_a_full_queue_waits_until_a_get_frees_a_slot(playground: Any) -> None:
    before = descendants()
    pg = playground(kind="fifo", capacity=3)
    for value in (1, 2, 3):
        assert pg.got(pg.call("put", value)) == value
    blocked = pg.call("put", 4)
    waited = pg.waits(blocked)
    assert (waited[6] or {})["why"] == "full"
    time.sleep(0.3)  # it really stays blocked: nothing frees a slot meanwhile
    assert pg.recorder.of(blocked, *OUTCOMES) == []
    assert pg.got(pg.call("get")) == 1  # the head: first in, first out
    freed = pg.outcome(blocked)
    assert freed[4] == qc.CALL_RETURN
    assert (freed[0] - waited[0]) / 1e9 >= 0.3
    assert [pg.got(pg.call("get")) for _ in range(3)] == [2, 3, 4]

    state = pg.state()
    pids = {state.callers[f"P{i}"].pid for i in range(1, 9)}
    main_pid = state.owner_pid
    assert len(pids) == 8  # each call in a real process of its own...
    assert main_pid not in pids
    assert os.getpid() not in pids
    pg.recorder.until(lambda: len(pg.recorder.of("main", qc.REAPED)) == 8)
    assert not any(psutil.pid_exists(pid) for pid in pids)  # ...joined by main
    assert pg.state().items() == []
    pg.rt.stop("test")
    assert pg.rt.join(10.0)
    assert descendants() - before <= {p for p in descendants() if _is_helper(p)}


def _is_helper(pid: int) -> bool:
    """The fork server and the resource tracker outlive a run by design."""
    try:
        line = " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return True
    return "forkserver" in line or "resource_tracker" in line


def test_nowait_calls_raise_at_once_and_timeouts_raise_after_waiting(playground: Any) -> None:
    pg = playground(kind="fifo", capacity=1)
    assert pg.got(pg.call("put", 1)) == 1
    full = pg.outcome(pg.call("put_nowait", 2))
    assert (full[4], full[6]["exception"]) == (qc.CALL_RAISE, "queue.Full")
    assert full[6]["after_s"] < 0.5
    assert pg.recorder.of(full[1], qc.CALL_WAIT) == []  # it never waited
    timed_put = pg.outcome(pg.call("put", 3, timeout=0.3))
    assert (timed_put[6]["exception"], timed_put[6]["after_s"] >= 0.29) == ("queue.Full", True)
    assert pg.got(pg.call("get")) == 1
    empty_now = pg.outcome(pg.call("get_nowait"))
    assert (empty_now[6]["exception"], empty_now[6]["after_s"] < 0.5) == ("queue.Empty", True)
    name = pg.call("get", timeout=0.4)
    assert (pg.waits(name)[6] or {})["why"] == "empty"
    empty = pg.outcome(name)
    assert (empty[4], empty[6]["exception"]) == (qc.CALL_RAISE, "queue.Empty")
    assert 0.39 <= empty[6]["after_s"] < 3.0
    state = pg.state()
    assert (state.counters()["full_raised"], state.counters()["empty_raised"]) == (2, 2)
    assert state.callers[name].text == "get(timeout=0.4)"


def test_lifo_gives_the_last_in_first_and_its_callers_are_threads(playground: Any) -> None:
    pg = playground(kind="lifo", capacity=3)
    for value in (1, 2, 3):
        pg.got(pg.call("put", value))
    assert [pg.got(pg.call("get")) for _ in range(3)] == [3, 2, 1]
    state = pg.state()
    callers = [state.callers[f"T{i}"] for i in range(1, 7)]
    assert {c.pid for c in callers} == {state.owner_pid}  # threads of main...
    assert len({c.tid for c in callers}) == 6  # ...each a real thread of its own
    assert state.owner_pid != os.getpid()


def test_callers_blocked_at_stop_are_released_and_nothing_remains(playground: Any) -> None:
    before, shm_before = descendants(), dev_shm()
    puts = playground(kind="fifo", capacity=1)
    gets = playground(kind="lifo", capacity=2)
    puts.got(puts.call("put", 1))
    blocked_puts = [puts.call("put", 2), puts.call("put", 3, timeout=20)]
    blocked_gets = [gets.call("get"), gets.call("get"), gets.call("get", timeout=20)]
    for pg, names in ((puts, blocked_puts), (gets, blocked_gets)):
        for name in names:
            pg.waits(name)
    main_pids = {puts.state().owner_pid, gets.state().owner_pid}
    caller_pids = {puts.state().callers[n].pid for n in blocked_puts}
    assert all(psutil.pid_exists(pid) for pid in main_pids | caller_pids)

    started = time.monotonic()
    for pg in (puts, gets):
        pg.rt.stop("test")
    assert puts.rt.join(10.0)
    assert gets.rt.join(10.0)
    assert time.monotonic() - started < STOP_GRACE_S + 1.0

    for pg, names, kind in (
        (puts, blocked_puts, qc.CALL_RETURN),  # main took items out: the puts went in
        (gets, blocked_gets, qc.CALL_RELEASED),  # main put None for each waiting get
    ):
        state = pg.state()
        assert (state.status, state.reason) == ("stopped", "test")
        assert [pg.outcome(n)[4] for n in names] == [kind] * len(names)
        assert all(not state.callers[n].alive for n in names)
        main = state.workers["main"]
        assert (main.reason, main.exitcode) == ("stopped", 0)  # left by itself, not killed
        assert pg.budget.held == 0  # main's slot and its callers' all given back
    assert not any(psutil.pid_exists(pid) for pid in main_pids | caller_pids)
    assert {p for p in descendants() - before if not _is_helper(p)} == set()
    del puts, gets, state, pg
    gc.collect()  # the runtimes' own queues go with their last reference
    deadline = time.monotonic() + 5  # what other processes on the machine made comes and goes
    while dev_shm() - shm_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert dev_shm() - shm_before == set()


def test_a_call_past_the_limit_of_callers_is_refused_but_one_that_frees_them_is_not(
    playground: Any,
) -> None:
    pg = playground(kind="lifo", capacity=1)
    waiting = [pg.call("get") for _ in range(qc.MAX_CALLERS)]
    for name in waiting:
        pg.waits(name)
    assert pg.rt.send(qc.Call(op="get").model_dump())
    refused = pg.recorder.until(lambda: pg.recorder.of("main", qc.CALL_REFUSED))
    assert refused[0][5] == "get()"
    assert f"{qc.MAX_CALLERS} get callers are still there" in refused[0][6]["reason"]
    assert "a put would free one" in pg.state().refusal
    assert pg.budget.held == 1 + qc.MAX_ALIVE  # main and every caller it may have
    assert pg.got(pg.call("put", 6)) == 6
    freed = pg.recorder.until(lambda: [n for n in waiting if pg.recorder.of(n, qc.CALL_RETURN)])
    assert [pg.got(n) for n in freed] == [6]


@pytest.mark.parametrize(("kind", "gets"), [("fifo", [1, 2, 3, 4, 5]), ("lifo", [3, 4, 2, 1, 5])])
def test_the_lecture_example_plays_to_its_end(playground: Any, kind: str, gets: list[int]) -> None:
    pg = playground(kind=kind, mode="script", speed=20.0)
    assert pg.rt.join(20.0)
    state = pg.state()
    assert (state.status, state.reason) == ("finished", "the lecture's example played to its end")
    assert state.step_n == state.step_of == len(qc.STEPS)
    by_step = {c.step: c for c in state.callers.values()}
    assert [by_step[n].result for n in (4, 6, 7, 8, 9)] == gets
    assert by_step[9].why == "empty"  # the fifth get waited, until step 10's put
    assert (by_step[11].exception, by_step[11].text) == ("queue.Empty", "get(timeout=0.1)")
    assert (by_step[15].exception, by_step[15].text) == ("queue.Full", "put_nowait(9)")
    assert [c.value for c in state.items()] == [6, 7, 8]
    assert all(not c.alive for c in state.callers.values())


# The plain program: shown with who is where, and it runs on its own.


def test_code_view_puts_a_waiting_caller_on_its_put_or_get_line() -> None:
    started = [ev(f"P{n}", events.START, role="caller") for n in (1, 2, 3)]
    state = fold_all(
        [
            *started,
            *put_events("P1", 1, 1.0),
            ev("P2", qc.CALL, "put(2)", 2.0, op="put", value=2, timeout=None),
            ev("P2", qc.CALL_WAIT, "put(2)", 2.0, why="full", timeout=None),
            ev("P3", qc.CALL, "get()", 3.0, op="get", value=None, timeout=None),
        ],
        capacity=1,
    )
    lines = locate(qc.script(state.params), qc.CODE_LINES, state.workers.values())
    where = {name: line.text for line in lines for name in line.workers}
    assert "q.put(value, timeout=timeout)" in where["P2"]
    assert "calls {call}" in where["P3"]
    assert "P1" not in where  # it returned: on no line


def test_the_script_plays_the_lecture_example_on_its_own(tmp_path: Path) -> None:
    path = tmp_path / "queue_calls.py"
    path.write_text(qc.script({"kind": "lifo", "speed": 20}))
    done = subprocess.run(
        [sys.executable, "-I", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    gets = [line.split()[-1] for line in out if re.match(r"T\d+: get\(\) returned", line)]
    assert gets == ["3", "4", "2", "1", "5"]  # last in, first out
    assert "T11: get(timeout=0.1) raised queue.Empty" in out
    assert "T15: put_nowait(9) raised queue.Full" in out
    assert out[-1] == "accounting: 15 calls, 13 returned, 2 raised, no caller left waiting"


# The HTTP contract, against a real server.


def phases(run: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["phase"] for c in run["callers"]}


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
    assert now["queue"] == [7, 8]  # the empty put took the next number
    assert now["counters"]["waiting"] == 1
    assert [c["call"] for c in now["callers"]] == ["put(7)", "put(8)", "put(9)"]
    assert client.post(url, json={"op": "get_nowait"}).status_code == 202
    now = wait_for(client, run["id"], lambda r: phases(r).get("P3") == "returned")
    assert now["queue"] == [8, 9]
    assert next(c for c in now["callers"] if c["name"] == "P4")["result"] == 7
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
    wait_for(client, run["id"], lambda r: r["queue"] == [1])
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
    assert "值 必须是0 到 999 之间的整数，或 null" in r.text
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
            wait_for(c, run["id"], lambda r: r["queue"] == [1])
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
