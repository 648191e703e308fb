"""`ipc`: pipes, files, sockets and shared memory, measured.

The lesson is one program (`app/experiments/ipc/program.py`) run under the
tracer; its overlay reads what the program prints. The overlay, the claims
and the scale are tested on their own (printed lines in, figures out); then
the real program runs (real processes, tiny payloads and short budgets):
every way delivers intact, and nothing is left in /dev/shm or the temp
directory after a normal end, a Stop, or one side killed; then the HTTP
contract and the page in a browser.
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
from pages import started_run, wait_for_run
from ssereader import read_events

from app import events
from app.events import Event
from app.experiments import EXPERIMENTS
from app.experiments.ipc import Params
from app.experiments.ipc.claims import claims
from app.experiments.ipc.overlay import DONE, IpcState
from app.experiments.ipc.view import view
from app.experiments.ipc.words import GROUPS, LogScale, MiB, reason_here
from app.params import ParamsError, validate
from app.programs import procfs
from app.programs.boot.concviz_tracer import kinds as K
from app.web.render import env

EXPERIMENT = EXPERIMENTS["ipc"]
PROGRAM = Path(__file__).parents[1] / "app/experiments/ipc/program.py"
ALL = list(GROUPS["all"])
TINY = {"payload_bytes": 64, "messages": 40, "budget_ms": 30}
# Long enough to be caught in the middle; a Stop or a kill ends it early.
ENDLESS = {"payload_bytes": 64 * 1024, "messages": 100_000, "budget_ms": 5000}
PIDS = {"main": 100, "S1": 201, "R1": 202}


# --- The overlay, pure: printed lines in, figures out -------------------------------


def fold_all(evs: list[Event]) -> IpcState:
    state = EXPERIMENT.new_state()
    assert isinstance(state, IpcState)
    assert EXPERIMENT.fold is not None
    for e in evs:
        EXPERIMENT.fold(state, e)
    return state


def said(worker: str, text: str) -> Event:
    pid = PIDS[worker]
    return Event(0, 0.0, worker, pid, pid, K.OUT, None, {"text": text + "\n"})


def way_lines(key: str, mb: float = 100.0, rtt_us: float = 50.0, bad: int = 0) -> dict:
    """One way's printed lines, per process, each list in that process's order."""
    n, count = 1000, 10
    seconds = count * n / (mb * 1e6)
    return {
        "main": [
            said("main", f'{key}: set up calls=3 sender="S1" receiver="R1" path="/x.sock"'),
            said("main", f"{key}: ok"),
        ],
        "S1": [
            said("S1", f"{key}: S1 connected calls=2"),
            said("S1", f"{key}: S1 round_trips done=3"),
            said(
                "S1", f"{key}: round trips count={count} p50_us={rtt_us} p99_us={2 * rtt_us} bad=0"
            ),
            said("S1", f"{key}: one way messages={count} bytes={count * n} seconds={seconds}"),
        ],
        "R1": [
            said("R1", f"{key}: R1 connected calls=1"),
            said("R1", f"{key}: R1 round_trips"),
            said("R1", f"{key}: checked messages={count} bytes={count * n} bad={bad}"),
        ],
    }


def fold_in(order: list[str], per_worker: dict[str, list[Event]]) -> IpcState:
    queues = {w: list(evs) for w, evs in per_worker.items()}
    evs = [said("main", "plan: memcpy unix_socket payload_bytes=1000")]
    evs += [queues[worker].pop(0) for worker in order]
    return fold_all([e._replace(seq=seq) for seq, e in enumerate(evs, start=1)])


IN_ORDER = ["main"] + ["S1"] * 4 + ["R1"] * 3 + ["main"]


def test_the_figures_are_the_same_for_any_interleaving_of_the_processes() -> None:
    a = fold_in(IN_ORDER, way_lines("unix_socket")).extras()["lesson"]["results"]
    scrambled = ["R1", "S1", "R1", "main", "S1", "main", "R1", "S1", "S1"]
    b = fold_in(scrambled, way_lines("unix_socket")).extras()["lesson"]["results"]
    assert a == b
    figs = a["unix_socket"]
    assert figs["status"] == "ok"
    assert figs["intact"] is True
    assert figs["mb_s"] == pytest.approx(100.0)
    assert figs["msg_s"] == pytest.approx(100.0 * 1e6 / 1000)
    assert (figs["p50_us"], figs["p99_us"]) == (50.0, 100.0)
    assert figs["setup_calls"] == 6  # main's 3, the sender's 2, the receiver's 1
    assert figs["setup"]["path"] == "/x.sock"


def test_a_damaged_message_or_a_missing_one_is_not_intact() -> None:
    damaged = fold_in(IN_ORDER, way_lines("unix_socket", bad=1))
    assert damaged.figures["unix_socket"].intact is False
    short = way_lines("unix_socket")
    short["R1"][2] = said("R1", "unix_socket: checked messages=9 bytes=9000 bad=0")
    assert fold_in(IN_ORDER, short).figures["unix_socket"].intact is False
    unchecked = way_lines("unix_socket")
    del unchecked["R1"][2]
    state = fold_in([w for w in IN_ORDER if w != "R1"] + ["R1", "R1"], unchecked)
    assert state.figures["unix_socket"].intact is None  # not known, not claimed


def test_lines_that_are_not_the_reports_make_no_figures() -> None:
    state = fold_in(IN_ORDER, way_lines("unix_socket"))
    state = fold_all([said("main", "accounting: 1 ways, 1 measured"), said("main", "hello")])
    assert state.figures == {}


def test_a_way_cut_short_by_the_end_of_the_run_is_not_left_measuring() -> None:
    state = fold_in(["main"], {"main": [said("main", 'unix_socket: set up sender="S1"')]})
    assert state.figures["unix_socket"].status == "measuring"
    assert state.current == "unix_socket"
    end = Event(
        9,
        1.0,
        "main",
        100,
        100,
        events.RUN_END,
        None,
        {"outcome": "stopped", "reason": "stopped by the teacher"},
    )
    EXPERIMENT.fold(state, end)  # type: ignore[misc]
    assert (state.status, state.reason) == ("stopped", "stopped by the teacher")
    assert state.figures["unix_socket"].status == "stopped"
    assert state.current == ""


def test_a_pause_inside_a_measurement_is_said_beside_its_figures() -> None:
    per_worker = way_lines("unix_socket")
    per_worker["main"].insert(1, Event(0, 0.0, "main", 100, 100, events.PAUSE, None, None))
    order = ["main", "S1", "main", "S1", "S1", "S1", "R1", "R1", "R1", "main"]
    state = fold_in(order, per_worker)
    assert state.paused is True
    assert state.figures["unix_socket"].paused is True
    row = view(state, {"payload_bytes": 1000})["ipc"]["rows"][0]
    assert "include the pause" in row["reason"]


def test_why_a_way_failed_is_said_again_in_the_readers_words() -> None:
    said_en = "R1 was killed (SIGKILL); nothing told S1, so main ended it"
    assert reason_here(said_en) == said_en
    assert reason_here("2048 bytes of shared memory needed, /dev/shm has 1024 free") == (
        "2 KiB of shared memory needed, /dev/shm has 1 KiB free"
    )


def results(**figures: tuple[float, float]) -> IpcState:
    """A finished state with (MB/s, round-trip µs) for each way."""
    state = IpcState(status="finished")
    n = 1000
    state.facts = {"shm_total": 64 * MiB, "shm_free": 64 * MiB, "tmp_free": 10 * 1024**3}
    state.plan, state.payload = ["memcpy", *figures], n
    calls = {"os_pipe": 2, "unix_socket": 6, "tcp_socket": 9}
    for key, (mb, rtt) in figures.items():
        f = state.fig(key)
        f.status = DONE
        f.setup = {"calls": calls.get(key, 1), "one_way_error": "OSError: [Errno 9]"}
        f.rtt = {"count": 10, "p50_us": rtt, "p99_us": rtt * 2, "bad": 0}
        f.one_way = {"messages": 10, "bytes": 10 * n, "seconds": 10 * n / (mb * 1e6)}
        f.verified = {"messages": 10, "bytes": 10 * n, "bad": 0}
    return state


def verdicts(state: IpcState) -> dict[str, str]:
    return {c["id"]: c["verdict_class"] for c in claims(state)}


def test_claims_follow_the_measurements() -> None:
    slow_file = results(os_pipe=(1000, 20), file=(100, 500), shared_memory=(3000, 10))
    assert verdicts(slow_file)["file"] == "holds"
    assert verdicts(slow_file)["shm"] == "holds"  # fastest, and less of it than disk
    assert verdicts(slow_file)["pipe"] == "holds"
    fast_file = results(os_pipe=(1000, 20), file=(1200, 22), shared_memory=(500, 10))
    assert verdicts(fast_file)["file"] == "fails"
    assert verdicts(fast_file)["shm"] == "partly"  # not the fastest here
    words = " ".join(next(c for c in claims(fast_file) if c["id"] == "file")["lines"])
    assert "1.2× faster than os.pipe()" in words
    sockets = results(os_pipe=(1000, 20), unix_socket=(900, 25), tcp_socket=(500, 40))
    socket_claim = next(c for c in claims(sockets) if c["id"] == "socket")
    assert socket_claim["verdict_class"] == "holds"
    assert "6 for AF_UNIX and 9 for TCP" in socket_claim["lines"][0]
    assert "against 2 for two pipes" in socket_claim["lines"][0]


def test_claims_wait_while_running_and_say_when_not_measured() -> None:
    running = results(os_pipe=(1000, 20))
    running.status = "running"
    running.plan = ["memcpy", "os_pipe", "file"]
    v = verdicts(running)
    assert v["pipe"] == "holds"
    assert v["file"] == "pending"
    assert v["socket"] == "unmeasured"


def test_log_scale_places_decades_evenly_and_keeps_every_value_on_the_track() -> None:
    scale = LogScale([50.0, 5000.0])
    assert (scale.lo, scale.hi) == (10, 10_000)
    assert [at for at, _ in scale.ticks()] == [0, 33, 67, 100]
    assert scale.at(100) == 33
    assert scale.at(1) == 0
    assert scale.at(10**9) == 100
    empty = LogScale([0.0])  # nothing measured yet: an axis all the same, and no error
    assert empty.ticks()
    assert 0 <= empty.at(1.0) <= 100


def test_view_of_a_finished_run_has_a_bar_per_mechanism_and_the_limit() -> None:
    state = results(os_pipe=(1000, 20), file=(100, 500))
    limit = state.fig("memcpy")
    limit.status = DONE
    limit.rtt = {"count": 10, "p50_us": 5.0, "p99_us": 6.0, "bad": 0}
    limit.one_way = {"messages": 10, "bytes": 10**9, "seconds": 0.1}
    page = view(state, {"payload_bytes": 1000, "mechanisms": "all"})["ipc"]
    assert [r["key"] for r in page["rows"]] == ["os_pipe", "file"]
    pipe, file = page["rows"]
    assert pipe["tput"]["at"] > file["tput"]["at"]
    assert page["limits"]["tput"]["at"] > pipe["tput"]["at"]
    assert page["limits"]["tput"]["text"] == "10\u2009000 MB/s"
    assert pipe["rtt"]["text"] == "20.0 µs"


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"payload_bytes": 63}, "payload_bytes", "from 64 (64 B) to 67108864 (64 MiB)"),
        ({"payload_bytes": 64 * MiB + 1}, "payload_bytes", "to 67108864 (64 MiB) (got"),
        ({"payload_bytes": "lots"}, "payload_bytes", "from 64 (64 B) to 67108864 (64 MiB)"),
        ({"payload_bytes": 100.5}, "payload_bytes", "(got 100.5)"),
        ({"messages": 0}, "messages", "from 1 to 100000"),
        ({"budget_ms": 5}, "budget_ms", "from 10 to 5000"),
        ({"mechanisms": "pigeon"}, "mechanisms", "'all', 'pipe', 'file', 'socket'"),
        ({"speed": 2}, "speed", "unknown field"),
    ],
)
def test_bad_params_name_the_field_and_its_bounds(
    params: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ParamsError) as info:
        validate(Params, params)
    assert any(e.field == field and words in e.message for e in info.value.errors)


def test_every_bad_field_is_named_at_once() -> None:
    """The message size among them (its words are its own)."""
    with pytest.raises(ParamsError) as info:
        validate(Params, {"payload_bytes": 1, "messages": -5, "budget_ms": 1})
    assert sorted(e.field for e in info.value.errors) == ["budget_ms", "messages", "payload_bytes"]


def test_a_hidden_result_shows_progress_but_no_figures() -> None:
    state = results(os_pipe=(1234, 20), file=(100, 500))
    context = {
        "run": type("R", (), {"id": "r1", "params": Params()})(),
        "state": state,
        "log": [],
        "code": [],
        **view(state, Params().model_dump()),
    }
    shown = env.get_template("partials/ipc/_frame.html").render(**context, result_hidden=False)
    hidden = env.get_template("partials/ipc/_frame.html").render(**context, result_hidden=True)
    assert "1\u2009234 MB/s" in shown
    assert 'id="tpb-os_pipe"' in shown
    assert "1\u2009234" not in hidden
    assert 'id="tpb-os_pipe"' not in hidden
    assert "? predict" in hidden
    assert "✓" in hidden  # still: every byte arrived intact


def test_the_download_is_the_program_that_runs_with_the_forms_values() -> None:
    assert EXPERIMENT.script is not None
    text = EXPERIMENT.script({"mechanisms": "socket", "payload_bytes": 4096, "messages": 7})
    source = PROGRAM.read_text()
    assert text == source.replace('MECHANISMS = "all"', 'MECHANISMS = "socket"').replace(
        "PAYLOAD_BYTES = 1048576", "PAYLOAD_BYTES = 4096"
    ).replace("MESSAGES = 5000", "MESSAGES = 7")
    assert EXPERIMENT.program == source  # the defaults are the file's own


def test_the_program_runs_on_its_own_and_tells_the_same_story(tmp_path: Path) -> None:
    assert EXPERIMENT.script is not None
    path = tmp_path / "ipc.py"
    path.write_text(EXPERIMENT.script({"mechanisms": "pipe", **TINY}))
    done = harness.run_alone(path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "os_pipe: ok" in lines
    assert "mp_pipe: ok" in lines
    assert lines[-1].startswith("accounting: 2 ways, 2 measured, 0 failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ipc.py"]  # nothing left behind


# --- Real runs ---------------------------------------------------------------------


runs = harness.runs_fixture(EXPERIMENT)


def folded(rt: Any, recorder: harness.Recorder) -> IpcState:
    return fold_all(recorder.events(rt.started_ns))


def named_resources(state: IpcState) -> list[str]:
    """Every name this run put on the file system: the socket file and its
    directory, the shared-memory segment (the temporary files never had one)."""
    paths = []
    if "unix_socket" in state.figures:
        path = state.figures["unix_socket"].setup["path"]
        paths += [path, os.path.dirname(path)]
    if "shared_memory" in state.figures:
        paths.append(state.figures["shared_memory"].setup["path"])
    return paths


def assert_nothing_left(state: IpcState) -> None:
    for path in named_resources(state):
        assert not os.path.exists(path), f"{path} was left behind"
    pids = [w.pid for w in state.threads()]
    assert pids
    # Over (a zombie not yet reaped by its new parent is over too).
    assert not [p for p in pids if procfs.alive(p)], "a process of the run is still there"


def test_every_way_delivers_its_messages_intact_between_real_processes(runs: Any) -> None:
    for size in (64, 3 * MiB + 5):  # 64 B, and 3 MiB and 5 bytes
        rt, recorder, budget = runs(payload_bytes=size, messages=40, budget_ms=30)
        assert rt.join(60)
        state = folded(rt, recorder)
        assert state.status == "finished", state.reason
        got = state.extras()["lesson"]["results"]
        assert list(got) == ["memcpy", *ALL]
        for key, f in got.items():
            assert f["status"] == "ok", (key, f["reason"])
            assert f["intact"] is True, key
            assert f["verified"]["bytes"] == f["one_way"]["messages"] * size > 0, key
            assert f["mb_s"] > 0, key
            assert f["msg_s"] > 0, key
            assert 0 < f["p50_us"] <= f["p99_us"], key
        # Each way ran between two real processes of its own, children of main.
        main = state.workers["main"]
        pids = {w.pid for w in state.threads()}
        assert len(pids) == 1 + 2 * len(ALL)
        assert os.getpid() not in pids
        for k in range(1, len(ALL) + 1):
            sender, receiver = state.workers[f"S{k}"], state.workers[f"R{k}"]
            assert state.procs[sender.pid].ppid == main.pid
            assert state.procs[receiver.pid].exitcode == 0
            assert main.pid not in (sender.pid, receiver.pid)
        assert got["os_pipe"]["setup"]["one_way_error"].startswith("OSError")
        assert got["mp_pipe"]["setup"]["fd_kind"] == "socket pair"
        assert budget.held == 0
        assert_nothing_left(state)


def sender_has_sent(evs: list[Event]) -> bool:
    return any(
        e.kind == K.OUT
        and e.worker == "S1"
        and "round_trips done=" in (e.data or {}).get("text", "")
        and not (e.data or {}).get("text", "").rstrip().endswith("done=0")
        for e in evs
    )


def wait_sending(rt: Any, recorder: harness.Recorder) -> None:
    deadline = time.monotonic() + 20
    while not sender_has_sent(recorder.events(rt.started_ns)):
        assert time.monotonic() < deadline, "the sender never sent"
        time.sleep(0.02)


@pytest.mark.parametrize("group", ["socket", "shared_memory"])
def test_names_are_gone_while_both_sides_still_use_the_link(runs: Any, group: str) -> None:
    rt, recorder, _ = runs(mechanisms=group, **ENDLESS)
    wait_sending(rt, recorder)
    state = folded(rt, recorder)
    assert state.figures[GROUPS[group][0]].status == "measuring"
    for path in named_resources(state):
        assert not os.path.exists(path), path
    if group == "shared_memory":  # still mapped by the sender: the kernel says deleted
        name = state.figures["shared_memory"].setup["name"]
        maps = Path(f"/proc/{state.workers['S1'].pid}/maps").read_text()
        assert f"/dev/shm/{name} (deleted)" in maps
    rt.stop("test")
    assert rt.join(10)


@pytest.mark.parametrize("group", ["file", "socket", "shared_memory"])
def test_stop_mid_measurement_leaves_nothing_behind(runs: Any, group: str) -> None:
    rt, recorder, budget = runs(mechanisms=group, **ENDLESS)
    wait_sending(rt, recorder)
    rt.stop("test")
    assert rt.join(10)
    state = folded(rt, recorder)
    assert (state.status, state.reason) == ("stopped", "test")
    assert state.figures[GROUPS[group][0]].status == "stopped"
    for name in ("main", "S1", "R1"):
        assert not state.workers[name].alive, name
    assert budget.held == 0
    assert_nothing_left(state)


@pytest.mark.parametrize(
    ("group", "victim", "survivor_words"),
    [
        ("file", "R1", "nothing told S1, so main ended it"),
        ("socket", "S1", "R1 saw its link close and stopped by itself"),
        ("shared_memory", "R1", "nothing told S1, so main ended it"),
    ],
)
def test_one_side_killed_leaves_nothing_behind(
    runs: Any, group: str, victim: str, survivor_words: str
) -> None:
    rt, recorder, _ = runs(mechanisms=group, **ENDLESS)
    wait_sending(rt, recorder)
    os.kill(folded(rt, recorder).workers[victim].pid, signal.SIGKILL)
    key, *rest = GROUPS[group]
    deadline = time.monotonic() + 20
    while folded(rt, recorder).figures[key].status == "measuring":
        assert time.monotonic() < deadline, "main never noticed"
        time.sleep(0.02)
    rt.stop("test")  # main carries on with the next way; no need to wait for it
    assert rt.join(20)
    state = folded(rt, recorder)
    f = state.figures[key]
    assert f.status == "failed"
    assert f.reason.startswith(f"{victim} was killed (SIGKILL)")
    assert survivor_words in f.reason
    assert state.workers[victim].state == "killed"
    assert_nothing_left(state)


@pytest.mark.live
def test_a_killed_server_leaves_no_process_file_or_segment_behind() -> None:
    server = LiveServer()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            params = {"mechanisms": "shared_memory", **ENDLESS}
            run = client.post("/api/runs", json={"experiment": "ipc", "params": params}).json()
            deadline = time.monotonic() + 20
            while True:
                got = client.get(f"/api/runs/{run['id']}").json()
                pids = {w["name"]: w["pid"] for w in got["workers"] if w["pid"]}
                shm = got["lesson"]["results"].get("shared_memory", {})
                if {"main", "S1", "R1"} <= set(pids) and shm.get("status") == "measuring":
                    break
                assert time.monotonic() < deadline, got
                time.sleep(0.05)
        server.proc.kill()  # SIGKILL: no cleanup in the server; the program's watchdog ends it
        server.proc.wait()
    finally:
        server.stop()
    deadline = time.monotonic() + 5
    while any(psutil.pid_exists(p) for p in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [n for n, p in pids.items() if psutil.pid_exists(p)]
    assert shm["setup"]["name"] not in os.listdir("/dev/shm")


# --- Over HTTP, and on the page -----------------------------------------------------


@pytest.mark.live
def test_api_runs_it_and_reports_figures_per_mechanism(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        listed = {e["slug"]: e for e in client.get("/api/experiments").json()}["ipc"]
        assert listed["built"] is True
        assert listed["schema"]["properties"]["payload_bytes"]["maximum"] == 64 * MiB
        r = client.post(
            "/api/runs", json={"experiment": "ipc", "params": {"mechanisms": "pipe", **TINY}}
        )
        assert r.status_code == 201, r.text
        run_id = r.json()["id"]
        kinds = [e["kind"] for e in read_events(client, run_id)]
        assert kinds[-1] == "run_end"
        run = client.get(f"/api/runs/{run_id}").json()
        assert run["status"] == "finished"
        counters = {k: run["counters"][k] for k in ("planned", "measured", "intact", "failed")}
        assert counters == {"planned": 2, "measured": 2, "intact": 2, "failed": 0}
        results = run["lesson"]["results"]
        assert list(results) == ["memcpy", "os_pipe", "mp_pipe"]
        for key in ("os_pipe", "mp_pipe"):
            assert results[key]["intact"] is True
            assert results[key]["mb_s"] > 0
        assert results["os_pipe"]["setup"]["one_way_error"].startswith("OSError")
        assert results["mp_pipe"]["setup"]["fd_kind"] == "socket pair"
        assert "results" not in run  # the lesson's own fields are under one key
        bad = client.post("/api/runs", json={"experiment": "ipc", "params": {"budget_ms": 0}})
        assert bad.status_code == 422
        assert "Time per phase (ms) must be an integer from 10 to 5000" in bad.json()["detail"]


@pytest.mark.live
def test_the_page_and_its_run_speak_chinese(client: httpx.Client) -> None:
    zh = {"accept-language": "zh-CN,zh;q=0.9"}
    r = client.post(
        "/api/runs", json={"experiment": "ipc", "params": {"mechanisms": "pipe", **TINY}}
    )
    assert r.status_code == 201, r.text
    read_events(client, r.json()["id"])
    page = client.get("/experiments/ipc", headers=zh).text
    for words in (
        "消息大小（字节）",  # the form
        "每条消息 64 B",  # the runbar
        "每种机制都测过了",  # why the run ended
        "单向吞吐量",  # the charts
        "每个字节都完好到达",  # the line above them
        "课上说：",  # the claims
        "管道传送字节，而且只能单向传送。",
        "所以回程需要第二个管道",  # what was measured
        "– 本次未测（请选择“全部”）",  # a claim this run did not measure
    ):
        assert words in page, words
    assert "A pipe carries bytes" not in page
    assert "A pipe carries bytes" in client.get("/experiments/ipc").text
    bad = client.post(
        "/api/runs",
        json={"experiment": "ipc", "params": {"payload_bytes": 63}},
        headers=zh,
    )
    assert bad.status_code == 422
    assert (
        "消息大小（字节）必须是 64（64 B）到 67108864（64 MiB）之间的整数" in bad.json()["detail"]
    )


@pytest.mark.browser
def test_the_page_draws_bars_the_limit_and_the_claims(
    browser: Any, live_server: LiveServer
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + "/experiments/ipc")
    page.select_option("#f-mechanisms", "all")  # the form starts from the last run's values
    for name, value in TINY.items():
        page.fill(f"#f-{name}", str(value))
    page.click("button.start")
    run_id = started_run(page)
    wait_for_run(page, run_id)
    page.wait_for_function(
        "() => document.querySelector('#run-status').textContent.trim() === 'finished'",
        timeout=30000,
    )
    for key in ALL:
        assert page.locator(f"#tpb-{key}").count() == 1, key  # a throughput bar
        assert page.locator(f"#rtb-{key}").count() == 1, key  # a round-trip bar
        assert page.locator(f"#tp-{key} .ipc-ok").count() == 1, key  # intact
    assert page.locator("#ipc-tput .ipc-limit").count() == len(ALL)
    assert "MB/s" in page.locator("#ipc-limit-tput").inner_text()
    assert "every byte arrived intact" in page.locator("#ipc-now").inner_text()
    for claim in ("pipe", "file", "socket", "shm"):
        verdict = page.locator(f"#verdict-{claim}").inner_text()
        assert verdict.startswith(("✓", "✗", "≈")), (claim, verdict)
    assert "Errno 9" in page.locator("#claim-pipe").inner_text()
    page.screenshot(path=str(ARTIFACTS / "ipc-finished.png"), full_page=True)
    assert errors == []
    page.close()
