"""`threads`: two ways to start a thread, the start-order race, and a global
that a thread changes for main but a child process changes only for itself.

The lesson is one program (`app/experiments/threads/program.py`) run under
the tracer; its overlay reads the trace. The overlay is tested on its own;
the rest runs the real program (a process with real threads and a child
process) at fast speed.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import harness
import httpx
import psutil
import pytest
from conftest import ARTIFACTS, LiveServer
from pages import set_slider, started_run

from app.budget import WorkerBudget
from app.events import Event
from app.experiments import EXPERIMENTS
from app.experiments.threads import Params
from app.experiments.threads.overlay import ThreadsState
from app.programs.boot.concviz_tracer import kinds as K
from app.web.render import render_frame
from app.web.replays import ReplayView

EXPERIMENT = EXPERIMENTS["threads"]
FAST = {"speed": 20.0, "pause_ms": 0, "step_ms": 0}
ENDED = ("finished", "stopped", "failed")
PIDS = {"main": (100, 100), "T3": (100, 103), "R1": (100, 104), "R2": (100, 105), "P1": (200, 200)}


def fold_all(evs: list[Event]) -> ThreadsState:
    state = EXPERIMENT.new_state()
    assert isinstance(state, ThreadsState)
    assert EXPERIMENT.fold is not None
    for e in evs:
        EXPERIMENT.fold(state, e)
    return state


def said(seq: int, worker: str, text: str) -> Event:
    pid, tid = PIDS[worker]
    return Event(seq, seq / 10, worker, pid, tid, K.OUT, None, {"text": text + "\n"})


def named(seq: int, worker: str, name: str) -> Event:
    pid, tid = PIDS[worker]
    return Event(seq, seq / 10, worker, pid, tid, K.THREAD, None, {"name": name})


# The overlay, pure.


def test_tally_counts_each_round_once_from_the_printed_lines() -> None:
    state = fold_all(
        [
            named(1, "R1", "R1"),
            named(2, "R2", "R2"),
            said(3, "main", "act 2: who prints first?"),
            said(4, "main", "round 1: child printed first, then main"),
            said(5, "main", "round 2: main printed first, then child"),
            said(6, "main", "round 2: main printed first, then child"),  # once per round
        ]
    )
    assert state.act == "race"
    assert state.counters()["rounds"] == 2
    assert state.extras()["lesson"]["tally"] == {"rounds": 2, "child_first": 1, "main_first": 1}
    assert state.round_tids == {1: 104, 2: 105}  # the tracer's ids of the racing threads


def test_memory_sides_record_who_changed_what_and_what_main_read() -> None:
    state = fold_all(
        [
            said(1, "main", "act 3: memory"),
            said(2, "main", "main sets x = 100"),
            said(3, "T3", "T3 reads x = 100"),
            said(4, "T3", "T3 sets x = 10"),
            said(5, "main", "main reads x = 10 after the thread T3"),
            said(6, "main", "main sets x = 100"),
            said(7, "P1", "P1 reads x = 100"),
            said(8, "P1", "P1 sets x = 10"),
            said(9, "main", "main reads x = 100 after the child process P1"),
        ]
    )
    memory = state.extras()["lesson"]["memory"]
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


def test_the_download_is_the_program_that_runs_with_the_forms_values() -> None:
    assert EXPERIMENT.script is not None
    text = EXPERIMENT.script({"repeat": 7, "pause_ms": 5, "step_ms": 30, "speed": 2.0})
    source = (Path(__file__).parents[1] / "app/experiments/threads/program.py").read_text()
    assert text == source.replace("REPEAT = 10", "REPEAT = 7").replace(
        "PAUSE_MS = 250", "PAUSE_MS = 5"
    ).replace("STEP_MS = 1000", "STEP_MS = 30")
    assert EXPERIMENT.program == source  # the defaults are the file's own
    assert "SPEED" not in text  # the run's speed scales the program's sleeps


def test_the_program_runs_on_its_own_and_tells_the_same_story(tmp_path: Path) -> None:
    assert EXPERIMENT.script is not None
    path = tmp_path / "threads.py"
    path.write_text(EXPERIMENT.script({"repeat": 3, "pause_ms": 0, "step_ms": 0, "speed": 1.0}))
    done = subprocess.run(
        [sys.executable, "-I", str(path)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sum(line.startswith("round ") for line in lines) == 3
    assert "main reads x = 10 after the thread T3" in lines
    assert "main reads x = 100 after the child process P1" in lines


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
    assert main.main_thread
    assert not workers["T1"].main_thread
    t2_start = next(e for e in evs if e.kind == K.START_THREAD and e.item == "T2")
    assert (t2_start.data or {})["target"] == "Greeter.run"  # way 2: a subclass's run()

    # The race: every round counted once, by real threads of main's process.
    tally = state.extras()["lesson"]["tally"]
    assert tally["rounds"] == 20
    assert tally["child_first"] + tally["main_first"] == 20
    assert sorted(state.rounds) == list(range(1, 21))
    tids = set(state.round_tids.values())
    assert 0 not in tids
    assert main.tid not in tids

    # Memory: the thread's write is main's; the child's is its own copy.
    memory = state.extras()["lesson"]["memory"]
    assert memory["thread"]["changer"] == "T3"
    assert memory["thread"]["changer_pid"] == main.pid
    assert (memory["thread"]["child_wrote"], memory["thread"]["main_read"]) == (10, 10)
    child = workers["P1"]
    assert child.pid not in (0, main.pid)
    assert memory["process"]["changer_pid"] == child.pid
    assert memory["process"]["child_saw"] == 100
    assert memory["process"]["child_wrote"] == 10
    assert memory["process"]["main_read"] == 100
    assert state.procs[child.pid].exitcode == 0

    assert budget.held == 0
    for pid in (main.pid, child.pid):
        assert not psutil.pid_exists(pid)


def test_the_stage_says_what_runs_and_its_log_reads_newest_first() -> None:
    evs, _budget = run_program(repeat=3, **FAST)
    state = fold_all(evs)
    page = render_frame(ReplayView("r1", EXPERIMENT, Params(repeat=3, **FAST), state))
    runbar = page[page.index('id="runbar"') : page.index("</div>")]
    assert "threads of one process, and one child process" in runbar
    assert "backend" not in page
    times = [float(t) for t in re.findall(r'id="ev-\d+"><span class="t">([\d.]+) s', page)]
    assert len(times) > 10
    assert times == sorted(times, reverse=True)
    assert "started the process P1" in page  # the tracer's events, in words
    # The code view marks where the program is, as the tracer saw it: ended,
    # it is nowhere.
    assert 'class="here"' not in page


def test_stop_ends_the_program_and_its_threads_promptly() -> None:
    params = Params(repeat=100, pause_ms=5000, step_ms=0, speed=1.0)
    rt, recorder, budget = harness.start(EXPERIMENT, params, cap=8, time_limit_s=30.0)
    deadline = time.monotonic() + 10
    while not fold_all(recorder.events(rt.started_ns)).rounds:
        assert time.monotonic() < deadline, "no round was run"
        time.sleep(0.02)
    rt.stop("test")
    assert rt.join(10.0)
    state = fold_all(recorder.events(rt.started_ns))
    assert (state.status, state.reason) == ("stopped", "test")
    assert state.workers["main"].state == "killed"
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
    lesson = run["lesson"]
    assert lesson["tally"]["child_first"] + lesson["tally"]["main_first"] == 7
    assert lesson["memory"]["thread"]["main_read"] == 10
    assert lesson["memory"]["process"]["main_read"] == 100
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
        assert c.get(f"/api/runs/{run_id}").json()["lesson"]["tally"]["rounds"] == 20
    assert errors == []
    page.close()
