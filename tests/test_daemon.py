"""`daemon`: one program (app/experiments/daemon/program.py) run under the
tracer. It starts two versions of itself, each a fresh Python program: one
with a daemon and a normal thread, one with a daemon and a normal child
process; who is stopped when is read from the trace.

The overlay is tested on events written as the tracer writes them; the rest
runs the real program at speed 10: daemon 0.3 s, normal 0.2 s, main's own
work 0.1 s (the tracer divides every sleep by the speed).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import harness
import httpx
import psutil
import pytest
from conftest import ARTIFACTS, LiveServer
from pages import set_slider, started_run, wait_for_run

from app import events
from app.budget import WorkerBudget
from app.events import Event
from app.experiments import EXPERIMENTS
from app.experiments.daemon import Params
from app.experiments.daemon.overlay import DaemonState
from app.params import ParamsError, validate
from app.programs.boot.concviz_tracer import kinds as K

EXPERIMENT = EXPERIMENTS["daemon"]
PROGRAM = Path(__file__).parents[1] / "app/experiments/daemon/program.py"
FAST = {"daemon_ms": 3000, "normal_ms": 2000, "main_ms": 1000, "speed": 10.0}
SLOW = {"daemon_ms": 10000, "normal_ms": 10000, "main_ms": 10000, "speed": 1.0}
ENDED = ("finished", "stopped", "failed")


def fold(evs: list[Event]) -> DaemonState:
    state = EXPERIMENT.new_state()
    for e in evs:
        EXPERIMENT.fold(state, e)
    assert isinstance(state, DaemonState)
    return state


def said(evs: list[Event], text: str) -> list[Event]:
    return [e for e in evs if e.kind == K.OUT and (e.data or {}).get("text") == text + "\n"]


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


def observed(*times: float | None) -> list[float]:
    """The times, each of which must have been seen."""
    assert None not in times, times
    return [t for t in times if t is not None]


def program_pids(evs: list[Event]) -> set[int]:
    return {e.pid for e in evs if e.kind == K.PROC}


# The overlay, on events written by hand as the tracer sends them.


class Trace:
    """One run's events: the top-level program (pid 1), the thread version
    (pid 10: main, daemon thread 11, normal thread 12), the process version
    (pid 20, its children 21 daemon and 22 normal)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def add(
        self, t: float, worker: str, at: int, me: int, kind: str, item: Any = None, **data: Any
    ) -> Trace:
        """An event of thread `me` (its native id) of process `at`."""
        self.events.append(Event(len(self.events) + 1, t, worker, at, me, kind, item, data))
        return self

    def say(self, t: float, worker: str, at: int, me: int, text: str) -> Trace:
        return self.add(t, worker, at, me, K.OUT, text=text + "\n", stream="stdout")


def hand_trace() -> Trace:
    tr = Trace()
    tr.add(0.0, "main", 1, 1, K.PROC, name="MainProcess", ppid=0, main=True)
    tr.add(0.0, "main", 1, 1, K.THREAD, name="MainThread", main=True)
    v = "daemon.py 10"
    tr.add(0.1, v, 10, 10, K.PROC, name=v, ppid=1, main=False)
    tr.add(0.1, v, 10, 10, K.THREAD, name="MainThread", main=True)
    tr.add(0.1, v, 10, 10, K.START_THREAD, f"{v}/daemon thread", tid=11, daemon=True, line=66)
    tr.add(0.1, f"{v}/daemon thread", 10, 11, K.THREAD, name="daemon thread", daemon=True)
    tr.add(0.1, v, 10, 10, K.START_THREAD, f"{v}/normal thread", tid=12, daemon=False, line=67)
    tr.add(0.1, f"{v}/normal thread", 10, 12, K.THREAD, name="normal thread", daemon=False)
    tr.add(0.1, f"{v}/daemon thread", 10, 11, K.SLEEP, s=3.0, line=45)
    tr.add(1.1, v, 10, 10, K.END, daemon_threads=[f"{v}/daemon thread"])
    tr.say(2.1, f"{v}/normal thread", 10, 12, "normal thread is over")
    tr.add(2.1, f"{v}/normal thread", 10, 12, K.END, error=None)
    tr.add(2.11, v, 10, 10, K.EXIT, exitcode=0)
    p = "daemon.py 20"
    tr.add(0.1, p, 20, 20, K.PROC, name=p, ppid=1, main=False)
    tr.add(0.1, p, 20, 20, K.SPAWN, "daemon process", pid=21, daemon=True, method="fork")
    tr.add(0.1, "daemon process", 21, 21, K.PROC, name="daemon process", ppid=20, daemon=True)
    tr.add(0.1, p, 20, 20, K.SPAWN, "normal process", pid=22, daemon=False, method="fork")
    tr.add(0.1, "normal process", 22, 22, K.PROC, name="normal process", ppid=20)
    tr.add(1.1, p, 20, 20, K.END, daemon_threads=[])
    tr.say(1.1, "daemon process", 21, 21, "daemon process got SIGTERM")
    tr.say(2.1, "normal process", 22, 22, "normal process is over")
    tr.add(2.1, "normal process", 22, 22, K.EXIT, exitcode=0)
    # The exit hook joined the normal child first: the daemon's reaping is late.
    tr.add(2.12, p, 20, 20, K.REAPED, "normal process", pid=22, exitcode=0, signal=None)
    kill = {"exitcode": -15, "signal": "SIGTERM", "cut_off": True}
    tr.add(2.12, p, 20, 20, K.REAPED, "daemon process", pid=21, **kill)
    tr.add(2.13, p, 20, 20, K.EXIT, exitcode=0)
    return tr


def test_the_overlay_reads_each_versions_tracks_from_the_trace() -> None:
    state = fold(hand_trace().events)
    thr = {role: state.track("thread", role) for role in ("main", "normal", "daemon")}
    assert (thr["main"].pid, thr["daemon"].tid, thr["normal"].tid) == (10, 11, 12)
    assert thr["main"].code_end == 1.1
    assert thr["normal"].over == 2.1
    # The daemon thread never said 'over': it ended with its process.
    assert thr["daemon"].over is None
    assert thr["daemon"].end == thr["main"].end == 2.11
    assert thr["main"].exitcode == 0
    proc = {role: state.track("process", role) for role in ("main", "normal", "daemon")}
    assert (proc["main"].pid, proc["daemon"].pid, proc["normal"].pid) == (20, 21, 22)
    # Its last words, not its late reaping, say when the daemon child ended.
    assert proc["daemon"].end == 1.1
    assert (proc["daemon"].exitcode, proc["daemon"].signal) == (-15, "SIGTERM")
    assert (proc["normal"].over, proc["normal"].exitcode) == (2.1, 0)
    # Only the versions' own lines are theirs (not the top-level's relays).
    assert [line.text for line in state.output["process"]] == [
        "daemon process got SIGTERM",
        "normal process is over",
    ]
    lesson = state.extras()["lesson"]["timeline"]
    assert lesson["proc-daemon"]["signal"] == "SIGTERM"
    assert state.counters()["thr-daemon_end"] == 2.11


def test_view_draws_what_was_observed() -> None:
    state = fold(hand_trace().events)
    state.status = "finished"
    out = EXPERIMENT.view(state, Params().model_dump())
    thread, process = out["programs"]
    rows = {r["id"]: r for r in thread["rows"]}
    daemon = rows["thr-daemon"]
    assert [m["text"] for m in daemon["marks"]] == ["✗ stopped 2.01 s"]
    assert daemon["ghost"]["text"].endswith("never printed")
    # the ghost runs from the daemon's end to when it would have said 'over'
    assert daemon["ghost"]["x"] == pytest.approx(daemon["bars"][0]["x"] + daemon["bars"][0]["w"])
    assert [b["cls"] for b in rows["thr-main"]["bars"]] == ["run main", "wait"]
    assert rows["thr-daemon"]["ids"] == "tid 11"
    assert thread["facts"][-1] == "The program exited at 2.01 s (exit code 0)."
    prows = {r["id"]: r for r in process["rows"]}
    assert [m["text"] for m in prows["proc-daemon"]["marks"]] == ["✗ terminated 1.00 s (SIGTERM)"]
    assert prows["proc-daemon"]["ids"] == "pid 21"
    terminated = "The daemon process was terminated at 1.00 s, before printing ‘over’."
    assert terminated in process["facts"]


def test_a_run_stopped_while_the_versions_ran_keeps_their_bars_to_the_stop() -> None:
    """The Stop ends them all at once, before any of them says how: each bar
    runs to the Stop, which is said as such (not as a daemon stopped)."""
    tr = hand_trace()
    tr.events = [e for e in tr.events if e.t <= 1.1 and e.kind != K.EXIT]
    tr.events = [e for e in tr.events if "SIGTERM" not in str(e.data)]
    tr.add(1.5, "main", 1, 1, events.RUN_END, outcome="stopped", reason="stopped by the teacher")
    state = fold(tr.events)
    state.status = "stopped"
    out = EXPERIMENT.view(state, Params().model_dump())
    for version in out["programs"]:
        for row in version["rows"]:
            assert row["bars"], row["id"]
            assert row["bars"][-1]["x"] + row["bars"][-1]["w"] == pytest.approx(
                version["rows"][0]["bars"][-1]["x"] + version["rows"][0]["bars"][-1]["w"]
            )
            assert row["marks"][-1]["text"] == "■ ended with the run 1.40 s", row["id"]
            assert row["ghost"] is None or "never" not in row["ghost"]["text"]
        assert version["facts"][-1] == (
            "The run was stopped at 1.40 s, with this version still there."
        )
        assert not any("daemon" in fact for fact in version["facts"])


def test_the_code_view_marks_the_lines_the_tracer_reports() -> None:
    evs = hand_trace().events
    state = fold(evs[:9])  # the daemon thread sleeps, at the line the tracer says
    code = EXPERIMENT.view(state, Params().model_dump())["program_code"]
    here = {line.number: line.workers for line in code if line.workers}
    assert any("daemon thread" in " ".join(names) for names in here.values()), here
    assert 45 in here


# The real program, under the tracer.


def start(**params: Any) -> harness.Started:
    return harness.start(EXPERIMENT, Params(**params), cap=8, time_limit_s=30.0)


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
    state = fold(evs)
    assert state.status == "finished", state.reason
    assert said(evs, "daemon thread is over") == []
    assert len(said(evs, "normal thread is over")) == 1
    main, normal, daemon = (state.track("thread", r) for r in ("main", "normal", "daemon"))
    code_end, over, normal_end, daemon_end, exit_ = observed(
        main.code_end, normal.over, normal.end, daemon.end, main.end
    )
    # main's code ends first; the process waits for the normal thread; the
    # daemon thread lives on after main's code, and ends with the process.
    assert code_end < over <= normal_end <= daemon_end == exit_
    assert daemon.over is None
    assert main.exitcode == 0
    # One process, three threads of it, each with its own real id.
    assert daemon.pid == normal.pid == main.pid
    assert len({main.tid, normal.tid, daemon.tid}) == 3
    states = {w.thread_name: w.state for w in state.threads() if w.pid == main.pid}
    assert states["daemon thread"] == "cut_off"
    assert states["normal thread"] == "finished"
    assert any("still running" in line.text for line in state.output["thread"])


def test_the_daemon_process_is_terminated_when_mains_code_ends(
    finished_run: tuple[list[Event], WorkerBudget],
) -> None:
    evs, _ = finished_run
    state = fold(evs)
    assert said(evs, "daemon process is over") == []
    main, normal, daemon = (state.track("process", r) for r in ("main", "normal", "daemon"))
    code_end, daemon_end, over, normal_end, exit_ = observed(
        main.code_end, daemon.end, normal.over, normal.end, main.end
    )
    # Terminated when main's code ended, while the normal child ran on.
    assert code_end <= daemon_end < over <= normal_end <= exit_
    assert (daemon.exitcode, daemon.signal) == (-signal.SIGTERM, "SIGTERM")
    assert normal.exitcode == 0
    reaped = {e.item: e.data for e in evs if e.kind == K.REAPED}
    assert reaped["daemon process"]["cut_off"] is True
    assert len({main.pid, normal.pid, daemon.pid}) == 3


def test_both_versions_are_fresh_programs_and_all_are_gone_after_the_run(
    finished_run: tuple[list[Event], WorkerBudget],
) -> None:
    evs, budget = finished_run
    state = fold(evs)
    top = next(p for p in state.procs.values() if p.main)
    versions = [state.track(v, "main").pid for v in ("thread", "process")]
    for pid in versions:  # started by the program as new interpreters, not forked
        assert state.procs[pid].ppid == top.pid
        assert state.procs[pid].method == ""
    children = [state.track("process", r).pid for r in ("normal", "daemon")]
    assert {state.procs[pid].method for pid in children} == {"fork"}
    assert gone_by(program_pids(evs)) == set()
    assert budget.held == 0
    lines = [e for e in evs if e.kind == K.OUT and e.pid == top.pid]
    assert (lines[-1].data or {})["text"].startswith("accounting: daemon thread never printed")


def test_stop_kills_both_versions_and_their_children() -> None:
    rt, recorder, budget = start(**SLOW)
    try:
        recorder.wait_for(
            lambda raw: sum(1 for r in raw if r[4] == K.OUT and "is running" in r[6]["text"]) == 4
        )
        pids = program_pids(recorder.events(rt.started_ns))
        assert len(pids) == 5  # the program, two versions, two child processes
        assert all(_running(p) for p in pids)
        rt.stop("test")
        assert rt.join(10.0)
    finally:
        if not rt.done:
            rt.stop("teardown")
            rt.join(10.0)
    state = fold(recorder.events(rt.started_ns))
    assert state.status == "stopped"
    assert gone_by(pids) == set()
    assert budget.held == 0


def test_a_pause_changes_nobody_s_fate() -> None:
    """Paused processes are stopped by the OS while their clocks run on;
    their sleeps do not count that time, so the story is the same after."""
    rt, recorder, budget = start(**{**FAST, "speed": 5.0})
    try:
        recorder.wait_for(
            lambda raw: sum(1 for r in raw if r[4] == K.OUT and "is running" in r[6]["text"]) == 4
        )
        assert not any(r[4] == K.END and "daemon_threads" in (r[6] or {}) for r in recorder.raw), (
            "too late to pause: go slower"
        )
        assert rt.pause()
        time.sleep(0.5)  # longer than main's own work
        assert rt.resume()
        assert rt.join(20.0)
    finally:
        if not rt.done:
            rt.stop("teardown")
            rt.join(10.0)
    evs = recorder.events(rt.started_ns)
    state = fold(evs)
    assert state.status == "finished"
    assert said(evs, "daemon thread is over") == said(evs, "daemon process is over") == []
    assert state.track("process", "daemon").exitcode == -signal.SIGTERM
    assert budget.held == 0


# Through the server.


def wait_ended(client: httpx.Client, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while (run := client.get(f"/api/runs/{run_id}").json())["status"] not in ENDED:
        assert time.monotonic() < deadline, run
        time.sleep(0.05)
    return run


@pytest.mark.live
def test_run_object_and_page_show_the_timeline(client: httpx.Client) -> None:
    r = client.post("/api/runs", json={"experiment": "daemon", "params": FAST})
    assert r.status_code == 201, r.text
    run = wait_ended(client, r.json()["id"])
    assert run["status"] == "finished", run["reason"]
    timeline = run["lesson"]["timeline"]
    assert timeline["thr-daemon"]["over"] is None
    assert timeline["thr-normal"]["end"] <= timeline["thr-daemon"]["end"]
    assert timeline["thr-daemon"]["end"] <= timeline["thr-main"]["end"]
    assert timeline["proc-daemon"]["exitcode"] == -signal.SIGTERM
    assert timeline["proc-daemon"]["end"] < timeline["proc-normal"]["over"]
    assert run["counters"]["thr-daemon_end"] == round(timeline["thr-daemon"]["end"], 3)
    page = client.get("/experiments/daemon").text
    for part in ('id="dm-svg-thr"', 'id="dm-svg-proc"', "never printed", "SIGTERM"):
        assert part in page


@pytest.mark.live
def test_the_page_and_its_timeline_speak_chinese(client: httpx.Client) -> None:
    r = client.post("/api/runs", json={"experiment": "daemon", "params": FAST})
    assert r.status_code == 201, r.text
    wait_ended(client, r.json()["id"])
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
    params: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ParamsError) as refused:
        validate(Params, params)
    assert any(e.field == field and words in e.message for e in refused.value.errors)


def test_speed_is_fixed_at_start() -> None:
    schema = Params.model_json_schema()["properties"]["speed"]
    assert not schema.get("live")


@pytest.mark.live
def test_the_programs_die_with_a_killed_server() -> None:
    server = LiveServer()
    try:
        with httpx.Client(base_url=server.url, timeout=15) as c:
            run = c.post("/api/runs", json={"experiment": "daemon", "params": SLOW}).json()
            deadline = time.monotonic() + 10
            while True:
                workers = c.get(f"/api/runs/{run['id']}").json()["workers"]
                pids = {w["pid"] for w in workers}
                if len(pids) == 5:
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
    # The bar grows, and the clock line is there, in one look: on a loaded
    # machine the run may end between two looks, and the line with it.
    grown = page.wait_for_function(
        "([sel, w]) => Number(document.querySelector(sel)?.getAttribute('width')) > w + 20"
        " && [document.querySelectorAll('#dm-now-thr').length]",
        arg=[bar, first],
        timeout=5000,
    )
    assert grown.json_value() == [1]  # the clock line, while running
    assert page.locator("#code .here").count() >= 1  # the lines the tracer reports
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


# The plain program: what runs, and the download.


def test_the_download_is_the_program_with_the_forms_values() -> None:
    assert EXPERIMENT.script is not None
    text = EXPERIMENT.script({"daemon_ms": 3000, "normal_ms": 2000, "main_ms": 500, "speed": 4})
    assert "DAEMON_MS = 3000  #" in text
    assert "NORMAL_MS = 2000  #" in text
    assert "MAIN_MS = 500  #" in text
    compile(text, "daemon.py", "exec")
    assert EXPERIMENT.program == EXPERIMENT.script(Params().model_dump())
    assert EXPERIMENT.program == PROGRAM.read_text()


@pytest.mark.parametrize(
    ("params", "accounting"),
    [
        (
            {"daemon_ms": 600, "normal_ms": 200, "main_ms": 100},
            "accounting: daemon thread never printed over;"
            " daemon process terminated at main end; both normal ones printed over",
        ),
        (
            {"daemon_ms": 0, "normal_ms": 300, "main_ms": 300},
            "accounting: daemon thread printed over;"
            " daemon process printed over; both normal ones printed over",
        ),
    ],
)
def test_the_program_runs_on_its_own_and_tells_what_it_saw(
    params: dict[str, Any], accounting: str, tmp_path: Path
) -> None:
    assert EXPERIMENT.script is not None
    path = tmp_path / "daemon.py"
    path.write_text(EXPERIMENT.script({**params, "speed": 1.0}))
    done = harness.run_alone(path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == accounting, done.stdout
    assert sum("at exit: the" in line for line in lines) == 4
