"""`daemon`: two fresh Python programs, one with a daemon and a normal thread,
one with a daemon and a normal child process; who is stopped when, observed.

Durations run at speed 5: daemon 0.6 s, normal 0.4 s, main's own work 0.2 s.
"""

from __future__ import annotations

import os
import signal
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
from pages import set_slider, started_run, wait_for_run
from pydantic import ValidationError

from app import events
from app.budget import WorkerBudget
from app.codeview import locate
from app.events import Event
from app.experiments import EXPERIMENTS
from app.experiments.daemon import (
    CODE_END,
    GONE,
    REAPED,
    SAY,
    SPAWNED,
    Params,
    fold_all,
    view,
)
from app.model import WorkerView

EXPERIMENT = EXPERIMENTS["daemon"]
FAST = {"daemon_ms": 3000, "normal_ms": 2000, "main_ms": 1000, "speed": 5.0}
ENDED = ("finished", "stopped", "failed")
PROGRAM_WORKERS = (
    "thr-main",
    "thr-normal",
    "thr-daemon",
    "proc-main",
    "proc-normal",
    "proc-daemon",
)


def start(**params: Any) -> harness.Started:
    return harness.start(EXPERIMENT, Params(**params), cap=8, time_limit_s=30.0)


def one(evs: list[Event], worker: str, kind: str, text: str = "") -> Event:
    found = [e for e in evs if e.worker == worker and e.kind == kind and text in (e.item or "")]
    assert len(found) == 1, (worker, kind, text, found)
    return found[0]


def said(evs: list[Event], worker: str) -> list[str]:
    return [e.item or "" for e in evs if e.worker == worker and e.kind == SAY]


def pids_of(evs: list[Event]) -> set[int]:
    pids = {e.pid for e in evs if e.worker in PROGRAM_WORKERS}
    pids |= {e.data["pid"] for e in evs if e.kind == SPAWNED and e.data and "pid" in e.data}
    return pids


def gone_by(pids: set[int], timeout: float = 5.0) -> set[int]:
    deadline = time.monotonic() + timeout
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {p for p in alive if _running(p)}
        time.sleep(0.02)
    return alive


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(scope="module")
def finished_run() -> tuple[list[Event], WorkerBudget]:
    rt, recorder, budget = start(**FAST)
    try:
        assert rt.join(20.0), "the run did not end"
    finally:
        if not rt.done:
            rt.stop("test teardown")
            rt.join(10.0)
    return recorder.events(rt.started_ns), budget


def test_the_daemon_thread_is_stopped_when_the_normal_one_ends_and_never_says_over(
    finished_run: tuple[list[Event], WorkerBudget],
) -> None:
    evs, _ = finished_run
    state = fold_all(evs)
    assert state.status == "finished", state.reason
    assert said(evs, "thr-daemon") == ["daemon thread is running"]  # never "... is over"
    assert said(evs, "thr-normal") == ["normal thread is running", "normal thread is over"]

    code_end = one(evs, "thr-main", CODE_END).t
    normal_over = one(evs, "thr-normal", SAY, "over").t
    normal_gone = one(evs, "thr-normal", GONE).t
    daemon_gone = one(evs, "thr-daemon", GONE)
    program_exit = one(evs, "thr-main", events.EXIT)
    # main's code ends first; the process waits for the normal thread.
    assert code_end < normal_over <= normal_gone
    # The daemon thread lives on after main's code, until the normal thread
    # has ended, and is gone no later than the process's exit.
    assert normal_gone <= daemon_gone.t <= program_exit.t
    assert daemon_gone.t - code_end > 0.1  # it outlived main's code, for real
    assert program_exit.data == {"exitcode": 0}
    # The thread that vanished is the daemon thread that reported itself.
    start = one(evs, "thr-daemon", events.START)
    assert daemon_gone.data == {"tid": start.tid}
    assert start.pid == program_exit.pid
    assert start.tid != start.pid
    assert state.workers["thr-daemon"].state == "killed"
    assert state.workers["thr-normal"].state == "finished"


def test_the_daemon_process_is_terminated_when_mains_code_ends(
    finished_run: tuple[list[Event], WorkerBudget],
) -> None:
    evs, _ = finished_run
    assert "daemon process is over" not in said(evs, "proc-daemon")
    assert said(evs, "proc-normal")[-1] == "normal process is over"
    code_end = one(evs, "proc-main", CODE_END).t
    daemon_exit = one(evs, "proc-daemon", events.EXIT).t
    normal_over = one(evs, "proc-normal", SAY, "over").t
    normal_exit = one(evs, "proc-normal", events.EXIT).t
    program_exit = one(evs, "proc-main", events.EXIT).t
    # Terminated right when main's code ended, while the normal child ran on.
    assert code_end <= daemon_exit < normal_over <= normal_exit <= program_exit
    assert daemon_exit - code_end < 0.15
    codes = {e.item: (e.data or {})["exitcode"] for e in evs if e.kind == REAPED}
    assert codes == {"proc-daemon": -signal.SIGTERM, "proc-normal": 0}
    pids = {e.worker: e.pid for e in evs if e.kind == events.START}
    assert len({pids["proc-main"], pids["proc-normal"], pids["proc-daemon"]}) == 3


def test_both_programs_are_fresh_processes_and_all_are_gone_after_the_run(
    finished_run: tuple[list[Event], WorkerBudget],
) -> None:
    evs, budget = finished_run
    main = one(evs, "main", events.START)
    programs = {one(evs, w, events.START).pid for w in ("thr-main", "proc-main")}
    assert main.pid not in programs
    assert len(programs) == 2
    for pid in programs:  # started by the run's main, not forked from it
        launched = [e for e in evs if e.kind == SPAWNED and e.worker == "main"]
        assert pid in {(e.data or {})["pid"] for e in launched}
    assert gone_by(pids_of(evs) | {main.pid}) == set()
    assert budget.held == 0


def test_stop_kills_both_programs_and_their_children() -> None:
    rt, recorder, budget = start(daemon_ms=10000, normal_ms=10000, main_ms=10000, speed=1.0)
    try:
        deadline = time.monotonic() + 10
        while len({e.worker for e in recorder.events(rt.started_ns) if e.kind == SAY}) < 4:
            assert time.monotonic() < deadline, "the programs did not start"
            time.sleep(0.02)
        pids = pids_of(recorder.events(rt.started_ns))
        assert len(pids) == 4  # two programs, two child processes
        assert all(_running(p) for p in pids)
        started = time.monotonic()
        rt.stop("test")
        assert rt.join(10.0)
        assert time.monotonic() - started < 2.0
    finally:
        if not rt.done:
            rt.stop("teardown")
            rt.join(10.0)
    evs = recorder.events(rt.started_ns)
    state = fold_all(evs)
    assert state.status == "stopped"
    assert state.workers["main"].reason == "stopped"
    assert gone_by(pids) == set()
    exits = {e.worker: (e.data or {}).get("exitcode") for e in evs if e.kind == events.EXIT}
    assert exits["thr-main"] == exits["proc-main"] == -signal.SIGKILL
    assert budget.held == 0


def test_a_pause_longer_than_every_sleep_changes_nobody_s_fate() -> None:
    """Paused processes are stopped by the OS while their clocks run on; the
    programs do not count that time, so the story is the same after it."""
    rt, recorder, budget = start(**FAST)
    try:
        deadline = time.monotonic() + 10
        while len({e.worker for e in recorder.events(rt.started_ns) if e.kind == SAY}) < 4:
            assert time.monotonic() < deadline, "the programs did not start"
            time.sleep(0.01)
        evs = recorder.events(rt.started_ns)
        assert not any(e.kind == CODE_END for e in evs), "too late to pause: go slower"
        pids = sorted(pids_of(evs) | {one(evs, "main", events.START).pid})
        assert rt.pause(pids)
        time.sleep(1.0)  # longer than any sleep left in the programs
        assert rt.resume(pids)
        assert rt.join(20.0)
    finally:
        if not rt.done:
            rt.stop("teardown")
            rt.join(10.0)
    evs = recorder.events(rt.started_ns)
    assert said(evs, "thr-daemon") == ["daemon thread is running"]
    assert "daemon process is over" not in said(evs, "proc-daemon")
    code_end = one(evs, "thr-main", CODE_END).t
    assert code_end < one(evs, "thr-normal", SAY, "over").t <= one(evs, "thr-daemon", GONE).t
    proc_code_end = one(evs, "proc-main", CODE_END).t
    assert proc_code_end <= one(evs, "proc-daemon", events.EXIT).t
    assert one(evs, "proc-daemon", events.EXIT).t < one(evs, "proc-normal", SAY, "over").t
    assert fold_all(evs).status == "finished"
    assert budget.held == 0


def test_view_draws_what_was_observed() -> None:
    def e(
        seq: int, t: float, worker: str, kind: str, item: str | None = None, **data: Any
    ) -> Event:
        pid = {"thr": 10, "proc": 20}.get(worker.split("-")[0], 1)
        return Event(seq, t, worker, pid, seq, kind, item, data or None)

    evs = [
        e(1, 0.1, "thr-main", events.START, role="main"),
        e(2, 0.1, "thr-daemon", events.START, role="daemon thread"),
        e(3, 0.1, "thr-normal", events.START, role="normal thread"),
        e(4, 1.1, "thr-main", CODE_END),
        e(5, 2.1, "thr-normal", SAY, "normal thread is over"),
        e(6, 2.1, "thr-normal", GONE, tid=3),
        e(7, 2.11, "thr-daemon", GONE, tid=2),
        e(8, 2.11, "thr-main", events.EXIT, exitcode=0),
    ]
    state = fold_all(evs)
    state.status = "finished"
    out = view(state, Params().model_dump())
    thread = out["programs"][0]
    rows = {r["id"]: r for r in thread["rows"]}
    daemon = rows["thr-daemon"]
    assert [m["text"] for m in daemon["marks"]] == ["✗ stopped 2.01 s"]
    assert daemon["ghost"]["text"].endswith("never printed")
    # the ghost runs from the daemon's end to when it would have said 'over'
    assert daemon["ghost"]["x"] == pytest.approx(daemon["bars"][0]["x"] + daemon["bars"][0]["w"])
    assert [b["cls"] for b in rows["thr-main"]["bars"]] == ["run main", "wait"]
    assert thread["facts"][-1] == "The program exited at 2.01 s (exit code 0)."
    assert out["programs"][1]["rows"] == []  # nothing seen of the process version yet


# Through the server.


@pytest.mark.live
def test_run_object_and_page_show_the_timeline(client: httpx.Client) -> None:
    r = client.post("/api/runs", json={"experiment": "daemon", "params": FAST})
    assert r.status_code == 201, r.text
    run_id = r.json()["id"]
    deadline = time.monotonic() + 20
    while (run := client.get(f"/api/runs/{run_id}").json())["status"] not in ENDED:
        assert time.monotonic() < deadline, run
        time.sleep(0.05)
    assert run["status"] == "finished", run["reason"]
    timeline = run["timeline"]
    assert timeline["thr-daemon"]["over"] is None
    assert timeline["thr-normal"]["end"] <= timeline["thr-daemon"]["end"]
    assert timeline["thr-daemon"]["end"] <= timeline["thr-main"]["end"]
    assert timeline["proc-daemon"]["exitcode"] == -signal.SIGTERM
    assert timeline["proc-daemon"]["end"] < timeline["proc-normal"]["over"]
    page = client.get("/experiments/daemon").text
    for part in ('id="dm-svg-thr"', 'id="dm-svg-proc"', "never printed", "SIGTERM"):
        assert part in page


@pytest.mark.live
def test_the_page_and_its_timeline_speak_chinese(client: httpx.Client) -> None:
    r = client.post("/api/runs", json={"experiment": "daemon", "params": FAST})
    assert r.status_code == 201, r.text
    run_id = r.json()["id"]
    deadline = time.monotonic() + 20
    while (run := client.get(f"/api/runs/{run_id}").json())["status"] not in ENDED:
        assert time.monotonic() < deadline, run
        time.sleep(0.05)
    page = client.get("/experiments/daemon", headers={"accept-language": "zh-CN,zh;q=0.9"}).text
    for words in (
        "两个程序的速度",  # the controls
        "线程版本",
        "进程版本",
        "守护线程在",  # the facts under the timeline
        "从未打印",  # the ghost of the daemon's 'over'
        "两个程序都已退出",  # why the run ended
    ):
        assert words in page, words
    assert "Thread version" not in page
    assert "Thread version" in client.get("/experiments/daemon").text


@pytest.mark.live
@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"daemon_ms": -1}, "daemon_ms", "from 0 to 10000"),
        ({"normal_ms": 10001}, "normal_ms", "from 0 to 10000"),
        ({"main_ms": "soon"}, "main_ms", "an integer"),
        ({"speed": 25}, "speed", "from 0.1 to 20"),
        ({"daemon": True}, "daemon", "unknown field"),
    ],
)
def test_bad_params_are_refused_naming_the_field_and_its_bounds(
    client: httpx.Client, params: dict[str, Any], field: str, words: str
) -> None:
    r = client.post("/api/runs", json={"experiment": "daemon", "params": params})
    assert r.status_code == 422
    assert any(e["field"] == field and words in e["message"] for e in r.json()["errors"])


@pytest.mark.live
def test_the_programs_die_with_a_killed_server() -> None:
    server = LiveServer()
    try:
        with httpx.Client(base_url=server.url, timeout=15) as c:
            params = {"daemon_ms": 10000, "normal_ms": 10000, "main_ms": 10000, "speed": 1}
            run = c.post("/api/runs", json={"experiment": "daemon", "params": params}).json()
            deadline = time.monotonic() + 10
            while True:
                workers = c.get(f"/api/runs/{run['id']}").json()["workers"]
                pids = {w["pid"] for w in workers if w["name"] in PROGRAM_WORKERS}
                if len(pids) == 4:
                    break
                assert time.monotonic() < deadline, workers
                time.sleep(0.05)
        os.kill(server.proc.pid, signal.SIGKILL)  # no shutdown: only the watchdogs
        server.proc.wait()
        assert gone_by(pids) == set(), server.output()
    finally:
        server.stop()


@pytest.mark.browser
def test_the_timeline_grows_live_and_ends_at_the_observed_exit(
    browser: Any, live_server: LiveServer
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + "/experiments/daemon")
    set_slider(page, "speed", "2")
    page.click("button.start")
    run_id = started_run(page)
    wait_for_run(page, run_id)
    bar = "#dm-bar-thr-normal-1"
    page.wait_for_selector(bar, timeout=10000)
    first = float(page.locator(bar).get_attribute("width") or 0)
    page.wait_for_function(
        "([sel, w]) => Number(document.querySelector(sel)?.getAttribute('width')) > w + 20",
        arg=[bar, first],
        timeout=5000,
    )
    assert page.locator("#dm-now-thr").count() == 1  # the clock line, while running
    page.screenshot(path=str(ARTIFACTS / "daemon-running.png"), full_page=True)
    page.wait_for_function(
        "() => document.querySelector('#run-status').textContent.trim() === 'finished'",
        timeout=20000,
    )
    daemon_row = page.locator("#dm-row-thr-daemon").text_content() or ""
    assert "stopped" in daemon_row
    assert "never printed" in daemon_row
    assert "SIGTERM" in (page.locator("#dm-row-proc-daemon").text_content() or "")
    assert "exit" in (page.locator("#dm-row-thr-main").text_content() or "")
    assert page.locator("#dm-now-thr").count() == 0
    facts = page.locator("#dm-facts-thr").inner_text()
    assert "The daemon thread was stopped" in facts
    assert "The program exited" in facts
    page.screenshot(path=str(ARTIFACTS / "daemon-finished.png"), full_page=True)
    assert errors == []
    page.close()


# The plain program: shown with who is where, and downloadable.


def test_the_script_takes_the_params_and_refuses_unknown_ones() -> None:
    assert EXPERIMENT.script is not None
    text = EXPERIMENT.script({"daemon_ms": 3000, "normal_ms": 2000, "main_ms": 500, "speed": 4})
    assert "DAEMON_S = 0.75\nNORMAL_S = 0.5\nMAIN_S = 0.125\n" in text
    compile(text, "daemon.py", "exec")
    assert EXPERIMENT.program == EXPERIMENT.script({})
    with pytest.raises(ValidationError):
        EXPERIMENT.script({"daemon": True})


def test_code_view_puts_each_worker_on_its_line() -> None:
    assert EXPERIMENT.script is not None
    text = EXPERIMENT.script({})
    for needle in EXPERIMENT.code_lines.values():
        assert sum(needle in line for line in text.splitlines()) == 1, needle
    workers = [
        WorkerView("thr-main", role="main"),
        WorkerView("thr-daemon", role="daemon thread"),
        WorkerView("proc-normal", role="normal process"),
        WorkerView("proc-daemon", role="daemon process", state="killed"),
        WorkerView("thr-normal", role="normal thread", state="finished"),
    ]
    where = {
        name: line.text
        for line in locate(text, EXPERIMENT.code_lines, workers)
        for name in line.workers
    }
    assert "time.sleep(seconds)" in where["thr-daemon"]
    assert "time.sleep(seconds)" in where["proc-normal"]
    assert "program(sys.argv[1])" in where["thr-main"]
    assert "proc-daemon" not in where  # ended: on no line
    assert "thr-normal" not in where


@pytest.mark.parametrize(
    ("params", "accounting"),
    [
        (
            {"daemon_ms": 3000, "normal_ms": 1000, "main_ms": 500, "speed": 5},
            "accounting: daemon thread never printed over;"
            " daemon process terminated at main end; both normal ones printed over",
        ),
        (
            {"daemon_ms": 0, "normal_ms": 1500, "main_ms": 1500, "speed": 5},
            "accounting: daemon thread printed over;"
            " daemon process printed over; both normal ones printed over",
        ),
    ],
)
def test_the_script_tells_what_it_saw(
    params: dict[str, Any], accounting: str, tmp_path: Path
) -> None:
    assert EXPERIMENT.script is not None
    path = tmp_path / "daemon.py"
    path.write_text(EXPERIMENT.script(params))
    done = subprocess.run(
        [sys.executable, "-I", str(path)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == accounting, done.stdout
    assert sum("at exit: the" in line for line in lines) == 4
