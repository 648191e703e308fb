"""`threads`: two ways to start a thread, the start-order race, and a global
that a thread changes for main but a child process changes only for itself.

The fold is tested on its own; the rest runs the real program (a process
with real threads and a forked child) at fast speed.
"""

from __future__ import annotations

import re
import time
from typing import Any

import harness
import httpx
import psutil
import pytest
from conftest import ARTIFACTS, LiveServer
from pages import set_slider, started_run

from app import events
from app.budget import WorkerBudget
from app.codeview import locate
from app.events import Event
from app.experiments import EXPERIMENTS
from app.experiments.threads import (
    ACT,
    ROUND,
    SAY,
    X_READ,
    X_SEEN,
    X_SET,
    X_WROTE,
    Params,
    fold_all,
    script,
)
from app.model import WorkerView
from app.web.render import render_frame
from app.web.replays import ReplayView

EXPERIMENT = EXPERIMENTS["threads"]
FAST = {"speed": 20.0, "pause_ms": 0, "step_ms": 0}
ENDED = ("finished", "stopped", "failed")


def ev(seq: int, worker: str, kind: str, item: str | None = None, **data: Any) -> Event:
    pid, tid = {"main": (100, 100), "T3": (100, 103), "P1": (200, 200)}.get(worker, (100, 0))
    return Event(seq, seq / 10, worker, pid, tid, kind, item, data or None)


# The fold, pure.


def test_tally_counts_each_round_once_whatever_the_arrival_order() -> None:
    rounds = [
        ev(i, "main", ROUND, str(i), first=f, child_tid=500 + i)
        for i, f in enumerate(["child", "main", "child", "child"], 1)
    ]
    for order in (rounds, list(reversed(rounds)), rounds + rounds[:2]):
        state = fold_all(order)
        assert state.counters() == {"rounds": 4, "child_first": 3, "main_first": 1}
        assert state.extras()["tally"] == {"rounds": 4, "child_first": 3, "main_first": 1}


def test_memory_sides_record_who_changed_what_and_what_main_read() -> None:
    state = fold_all(
        [
            ev(1, "main", X_SET, "thread", value=100),
            ev(2, "T3", X_SEEN, "thread", value=100),
            ev(3, "T3", X_WROTE, "thread", value=10),
            ev(4, "main", X_READ, "thread", value=10),
            ev(5, "main", X_SET, "process", value=100),
            ev(6, "P1", X_SEEN, "process", value=100),
            ev(7, "P1", X_WROTE, "process", value=10),
            ev(8, "main", X_READ, "process", value=100),
        ]
    )
    memory = state.extras()["memory"]
    assert memory["thread"] == {
        "set_to": 100,
        "changer": "T3",
        "changer_pid": 100,
        "changer_tid": 103,
        "child_saw": 100,
        "child_wrote": 10,
        "main_read": 10,
    }
    assert memory["process"]["changer_pid"] == 200
    assert (memory["process"]["child_wrote"], memory["process"]["main_read"]) == (10, 100)


def test_the_log_and_the_console_are_in_the_order_things_happened() -> None:
    # main said "I started T1" at 0.381 s, but its batch came only after T1
    # had ended (0.58 s): main held it back while it waited in join().
    def at(seq: int, t: float, worker: str, kind: str, item: str | None = None) -> Event:
        return Event(seq, t, worker, 100, 0, kind, item, {"role": "main", "backend": "process"})

    arrived = [
        at(1, 0.0, "main", events.RUN_START),
        at(2, 0.380, "main", events.START),
        at(3, 0.381, "main", ACT, "ways"),
        at(4, 0.382, "T1", events.START),
        at(5, 0.383, "T1", SAY, "T1: hello"),
        at(6, 0.580, "T1", events.FINISH),
        at(7, 0.382, "main", SAY, "main: I started T1 and carry on"),
        at(8, 0.600, "main", ACT, "race"),
    ]
    state = fold_all(arrived)
    assert [e.seq for e in state.log] == [1, 2, 3, 4, 7, 5, 6, 8]
    assert [line.text for line in state.console] == ["main: I started T1 and carry on", "T1: hello"]


def test_the_lesson_runs_threads_and_a_child_process_not_a_backend() -> None:
    state = fold_all([ev(1, "main", events.RUN_START, backend="process", params={})])
    assert state.status == "running"
    assert state.backend == ""  # main's own process is no choice of the lesson's


# The plain program: shown, downloadable, and where each worker is in it.


def test_the_script_carries_the_params_and_is_the_program_shown() -> None:
    assert EXPERIMENT.program == script({})
    text = script({"repeat": 7, "pause_ms": 0, "step_ms": 30, "speed": 2})
    for line in ("REPEAT = 7 ", "PAUSE_MS = 0 ", "STEP_MS = 30 ", "SPEED = 2 "):
        assert line in text
    compile(text, "threads.py", "exec")
    with pytest.raises(ValueError, match="repeat"):
        script({"repeat": 0})


def test_each_state_the_fold_gives_has_one_line_and_workers_sit_on_it() -> None:
    text = script(EXPERIMENT.quick_params)
    for needle in EXPERIMENT.code_lines.values():
        assert sum(needle in line for line in text.splitlines()) == 1, needle
    # The fold's own states: a worker is "starting" while it lives (no
    # event of this experiment changes it), "finished" once it ended.
    state = fold_all(
        [
            ev(1, "main", events.START, role="main"),
            ev(2, "T1", events.START, role="target"),
            ev(3, "T2", events.START, role="subclass"),
            ev(4, "T3", events.START, role="changer"),
            ev(5, "T3", X_SEEN, "thread", value=100),
        ]
    )
    assert {w.state for w in state.workers.values()} == {"starting"}
    state.workers["P1"] = WorkerView("P1", role="changer", state="finished")
    where = {
        name: line.text
        for line in locate(text, EXPERIMENT.code_lines, state.workers.values())
        for name in line.workers
    }
    assert where["main"].startswith("if __name__ ==")
    assert "pause(STEP_MS)" in where["T1"]
    assert "greet(self.name)" in where["T2"]
    assert "x = 10" in where["T3"]
    assert "P1" not in where  # an ended worker is on no line


# The real program.


def run_program(**params: Any) -> tuple[list[Event], WorkerBudget]:
    rt, recorder, budget = harness.start(EXPERIMENT, Params(**params), cap=8, time_limit_s=30.0)
    try:
        assert rt.join(20.0), "the run did not end"
    finally:
        if not rt.done:
            rt.stop("test teardown")
            rt.join(10.0)
    return recorder.events(rt.started_ns), budget


def test_the_program_shows_one_pid_many_threads_and_a_child_with_its_own_memory() -> None:
    evs, budget = run_program(repeat=20, **FAST)
    state = fold_all(evs)
    assert state.status == "finished", state.reason
    workers = state.workers
    main = workers["main"]

    # Two ways to start a thread: same pid as main, a native thread id each.
    threads = [workers[name] for name in ("main", "T1", "T2", "T3")]
    assert {w.pid for w in threads} == {main.pid}
    assert len({w.tid for w in threads}) == 4
    assert main.tid == main.pid  # main's thread is the process's first thread
    assert (workers["T1"].role, workers["T2"].role) == ("target", "subclass")

    # The race: every round counted once, by real threads of main's process.
    tally = state.extras()["tally"]
    assert tally["rounds"] == 20
    assert tally["child_first"] + tally["main_first"] == 20
    assert sorted(state.rounds) == list(range(1, 21))
    tids = set(state.round_tids.values())
    assert 0 not in tids
    assert main.tid not in tids

    # Memory: the thread's write is main's; the child's is its own copy.
    memory = state.extras()["memory"]
    assert memory["thread"]["changer"] == "T3"
    assert memory["thread"]["changer_pid"] == main.pid
    assert (memory["thread"]["child_wrote"], memory["thread"]["main_read"]) == (10, 10)
    child = workers["P1"]
    assert child.pid not in (0, main.pid)
    assert memory["process"]["changer_pid"] == child.pid
    assert memory["process"]["child_saw"] == 100
    assert memory["process"]["child_wrote"] == 10
    assert memory["process"]["main_read"] == 100
    assert child.exitcode == 0

    assert budget.held == 0
    for pid in (main.pid, child.pid):
        assert not psutil.pid_exists(pid)


def test_the_stage_says_what_runs_and_its_log_reads_newest_first() -> None:
    evs, _budget = run_program(repeat=3, **FAST)
    state = fold_all(evs)
    page = render_frame(ReplayView("r1", EXPERIMENT, Params(repeat=3, **FAST), state))  # type: ignore[arg-type]
    runbar = page[page.index('id="runbar"') : page.index("</div>")]
    assert "threads of one process, and one child process" in runbar
    assert "backend" not in page
    times = [float(t) for t in re.findall(r'id="ev-\d+"><span class="t">([\d.]+) s', page)]
    assert len(times) > 10
    assert times == sorted(times, reverse=True)


def test_stop_ends_the_program_and_its_threads_promptly() -> None:
    params = Params(repeat=100, pause_ms=5000, step_ms=0, speed=1.0)
    rt, recorder, budget = harness.start(EXPERIMENT, params, cap=8, time_limit_s=30.0)
    deadline = time.monotonic() + 10
    while not any(e.kind == ROUND for e in recorder.events(rt.started_ns)):
        assert time.monotonic() < deadline, "no round was run"
        time.sleep(0.02)
    started = time.monotonic()
    rt.stop("test")
    assert rt.join(10.0)
    assert time.monotonic() - started < 2.0  # main noticed, no terminate() needed
    state = fold_all(recorder.events(rt.started_ns))
    assert (state.status, state.reason) == ("stopped", "test")
    assert state.workers["main"].reason == "stopped"
    assert state.workers["main"].exitcode == 0
    assert 0 < len(state.rounds) < 100
    assert not psutil.pid_exists(state.workers["main"].pid)
    assert budget.held == 0


# Through the server.


def wait_ended(client: httpx.Client, run_id: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = client.get(f"/api/runs/{run_id}").json()
        if run["status"] in ENDED:
            return run
        assert time.monotonic() < deadline, f"gave up waiting; last state: {run}"
        time.sleep(0.05)


@pytest.mark.live
def test_run_object_carries_tally_memory_and_real_ids(client: httpx.Client) -> None:
    r = client.post("/api/runs", json={"experiment": "threads", "params": {"repeat": 7, **FAST}})
    assert r.status_code == 201, r.text
    run = wait_ended(client, r.json()["id"])
    assert run["status"] == "finished", run["reason"]
    assert run["counters"]["rounds"] == 7
    assert run["tally"]["child_first"] + run["tally"]["main_first"] == 7
    assert run["memory"]["thread"]["main_read"] == 10
    assert run["memory"]["process"]["main_read"] == 100
    by_name = {w["name"]: w for w in run["workers"]}
    assert by_name["T1"]["pid"] == by_name["T2"]["pid"] == by_name["main"]["pid"]
    assert by_name["P1"]["pid"] != by_name["main"]["pid"]
    assert len({by_name[n]["tid"] for n in ("main", "T1", "T2")}) == 3


@pytest.mark.live
def test_the_page_and_its_run_speak_chinese(client: httpx.Client) -> None:
    r = client.post("/api/runs", json={"experiment": "threads", "params": {"repeat": 3, **FAST}})
    assert r.status_code == 201, r.text
    assert wait_ended(client, r.json()["id"])["status"] == "finished"
    page = client.get("/experiments/threads", headers={"accept-language": "zh-CN,zh;q=0.9"}).text
    for words in (
        "用 20 轮开始",  # the controls
        "启动线程的两种方式",  # act 1
        "main 先打印",  # act 2
        "同一个进程，同一份内存",  # act 3, once main has read x back
        "3 轮",  # the runbar
        "main 的程序运行到了结尾",  # why the run ended
    ):
        assert words in page, words
    assert "Two ways to start a thread" not in page
    assert "Two ways to start a thread" in client.get("/experiments/threads").text


@pytest.mark.live
@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"repeat": 0}, "repeat", "from 1 to 100"),
        ({"repeat": 101}, "repeat", "from 1 to 100"),
        ({"pause_ms": -1}, "pause_ms", "from 0 to 5000"),
        ({"step_ms": 10001}, "step_ms", "from 0 to 10000"),
        ({"speed": 0}, "speed", "from 0.1 to 20"),
        ({"threads": 2}, "threads", "unknown field"),
    ],
)
def test_bad_params_are_refused_naming_the_field_and_its_bounds(
    client: httpx.Client, params: dict[str, Any], field: str, words: str
) -> None:
    r = client.post("/api/runs", json={"experiment": "threads", "params": params})
    assert r.status_code == 422
    assert any(e["field"] == field and words in e["message"] for e in r.json()["errors"])


@pytest.mark.browser
def test_the_twenty_rounds_button_runs_a_real_tally(browser: Any, live_server: LiveServer) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + "/experiments/threads")
    page.fill("#f-pause_ms", "100")
    page.fill("#f-step_ms", "400")
    set_slider(page, "speed", "2")
    page.click("#th-repeat-20")
    run_id = started_run(page)
    assert "20 rounds" in page.locator("#runbar").inner_text()

    # Act 1: the cards show main's pid on every thread, and distinct ids.
    page.wait_for_function(
        "() => /\\d/.test(document.querySelector('#th-card-T2 .th-tid')?.textContent || '')",
        timeout=10000,
    )
    pids = {page.locator(f"#th-card-{n} .th-pid").inner_text() for n in ("main", "T1", "T2")}
    tids = {page.locator(f"#th-card-{n} .th-tid").inner_text() for n in ("main", "T1", "T2")}
    assert len(pids) == 1
    assert len(tids) == 3
    assert psutil.pid_exists(int(pids.pop()))

    # Act 2: the strip fills while the rounds go on, and the tally adds up.
    page.wait_for_function(
        "() => document.querySelectorAll('#th-strip .r').length >= 3", timeout=10000
    )
    page.screenshot(path=str(ARTIFACTS / "threads-race.png"), full_page=True)
    page.wait_for_function(
        "() => document.querySelector('#run-status').textContent.trim() === 'finished'",
        timeout=30000,
    )
    child = int(page.locator("#th-child-first").inner_text())
    main = int(page.locator("#th-main-first").inner_text())
    assert child + main == 20
    assert page.locator("#th-strip .r").count() == 20
    assert page.locator("#th-strip .r-child").count() == child

    # Act 3: main read 10 after its thread, 100 after its child process.
    assert page.locator("#th-read-thread .num").inner_text() == "10"
    assert page.locator("#th-read-process .num").inner_text() == "100"
    assert "copy" in page.locator("#th-mem-process .why").inner_text()
    page.screenshot(path=str(ARTIFACTS / "threads-finished.png"), full_page=True)
    with httpx.Client(base_url=live_server.url) as c:
        assert c.get(f"/api/runs/{run_id}").json()["tally"]["rounds"] == 20
    assert errors == []
    page.close()
