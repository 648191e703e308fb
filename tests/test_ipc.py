"""The IPC experiment: pipes, files, sockets and shared memory, measured.

Pure tests of the fold, the claims and the scale; then real runs through
app.runtime.Runtime (real processes, tiny payloads and short budgets): every
mechanism delivers intact, and nothing is left in /dev/shm or the temp
directory after a normal end, a Stop, or one side killed; then the HTTP
contract and the page in a browser.
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from conftest import ARTIFACTS, LiveServer
from pages import started_run, wait_for_run
from ssereader import read_events

from app import events
from app.budget import WorkerBudget
from app.codeview import locate
from app.events import Event
from app.experiments import EXPERIMENTS, ipc
from app.experiments.ipc import GROUPS, IpcState, LogScale, Params, claims, fold, view
from app.model import WorkerView
from app.params import ParamsError, validate
from app.runtime import Runtime
from app.web.render import env

ALL = list(GROUPS["all"])
TINY = {"payload_bytes": 64, "messages": 40, "budget_ms": 30}
# Long enough to be caught in the middle; a Stop or a kill ends it early.
ENDLESS = {"payload_bytes": 64 * 1024, "messages": 100_000, "budget_ms": 2000}


# --- The fold, pure ------------------------------------------------------------


def ev(worker: str, kind: str, item: str | None = None, **data: Any) -> Event:
    pid = {"main": 100, "S1": 201, "R1": 202}.get(worker, 999)
    return Event(0, 0.0, worker, pid, pid, kind, item, data or None)


def mechanism_events(key: str, mb: float = 100.0, rtt_us: float = 50.0, bad: int = 0) -> dict:
    """One mechanism's events, per worker, each list in that worker's order."""
    n, count = 1000, 10
    seconds = count * n / (mb * 1e6)
    return {
        "main": [
            ev("main", ipc.SETUP, key, sender="S1", receiver="R1", calls=3, path="/x.sock"),
            ev("main", ipc.RESULT, key, outcome="ok", reason=""),
        ],
        "S1": [
            ev("S1", events.START, role="sender"),
            ev("S1", ipc.READY, key, calls=2),
            ev("S1", ipc.PROGRESS, key, phase="round_trips", done=3),
            ev("S1", ipc.ROUND_TRIPS, key, count=count, p50_us=rtt_us, p99_us=2 * rtt_us, bad=0),
            ev("S1", ipc.ONE_WAY, key, messages=count, bytes=count * n, seconds=seconds),
        ],
        "R1": [
            ev("R1", events.START, role="receiver"),
            ev("R1", ipc.READY, key, calls=1),
            ev("R1", ipc.VERIFIED, key, messages=count, bytes=count * n, bad=bad),
        ],
    }


def fold_in(order: list[str], per_worker: dict[str, list[Event]]) -> IpcState:
    queues = {w: list(evs) for w, evs in per_worker.items()}
    state = IpcState()
    fold(state, ev("main", ipc.PLAN, mechanisms=["memcpy", "unix_socket"], payload_bytes=1000))
    for seq, worker in enumerate(order, start=1):
        fold(state, queues[worker].pop(0)._replace(seq=seq))
    return state


def test_fold_gives_the_same_figures_for_any_interleaving_of_the_workers() -> None:
    per_worker = mechanism_events("unix_socket", mb=100.0, rtt_us=50.0)
    in_order = ["main"] + ["S1"] * 5 + ["R1"] * 3 + ["main"]
    scrambled = ["R1", "S1", "R1", "main", "S1", "main", "R1", "S1", "S1", "S1"]
    a = fold_in(in_order, per_worker).extras()["results"]
    b = fold_in(scrambled, mechanism_events("unix_socket", mb=100.0, rtt_us=50.0)).extras()
    assert a == b["results"]
    figs = a["unix_socket"]
    assert figs["status"] == "ok"
    assert figs["intact"] is True
    assert figs["mb_s"] == pytest.approx(100.0)
    assert figs["msg_s"] == pytest.approx(100.0 * 1e6 / 1000)
    assert (figs["p50_us"], figs["p99_us"]) == (50.0, 100.0)
    assert figs["setup_calls"] == 6  # main's 3, the sender's 2, the receiver's 1


def test_a_damaged_message_or_a_missing_one_is_not_intact() -> None:
    order = ["main"] + ["S1"] * 5 + ["R1"] * 3 + ["main"]
    damaged = fold_in(order, mechanism_events("unix_socket", bad=1))
    assert damaged.figures["unix_socket"].intact is False
    short = mechanism_events("unix_socket")
    short["R1"][2] = ev("R1", ipc.VERIFIED, "unix_socket", messages=9, bytes=9000, bad=0)
    assert fold_in(order, short).figures["unix_socket"].intact is False
    unchecked = mechanism_events("unix_socket")
    del unchecked["R1"][2]
    state = fold_in([w for w in order if w != "R1"] + ["R1", "R1"], unchecked)
    assert state.figures["unix_socket"].intact is None  # not known, not claimed


def test_a_mechanism_cut_short_by_the_end_of_the_run_is_not_left_measuring() -> None:
    state = fold_in(["main"], {"main": [ev("main", ipc.SETUP, "unix_socket", sender="S1")]})
    assert state.figures["unix_socket"].status == "measuring"
    fold(state, ev("main", events.RUN_END, outcome="stopped", reason="stopped by the teacher"))
    assert (state.status, state.reason) == ("stopped", "stopped by the teacher")
    assert state.figures["unix_socket"].status == "stopped"
    assert state.current == ""


def test_a_pause_inside_a_measurement_is_said_beside_its_figures() -> None:
    per_worker = mechanism_events("unix_socket")
    per_worker["main"].insert(1, ev("main", events.PAUSE))
    state = fold_in(
        ["main", "S1", "main", "S1", "S1", "S1", "S1", "R1", "R1", "R1", "main"], per_worker
    )
    assert state.paused is True
    assert state.figures["unix_socket"].paused is True
    row = view(state, {"payload_bytes": 1000})["ipc"]["rows"][0]
    assert "include the pause" in row["reason"]


def results(**figures: tuple[float, float]) -> IpcState:
    """A finished state with (MB/s, round-trip µs) for each mechanism."""
    state = IpcState(status="finished")
    n = 1000
    facts = {"shm_total": 64 * ipc.MiB, "shm_free": 64 * ipc.MiB, "tmp_free": 10 * 1024**3}
    state.plan = {"mechanisms": ["memcpy", *figures], "payload_bytes": n, "facts": facts}
    calls = {"os_pipe": 2, "unix_socket": 6, "tcp_socket": 9}
    for key, (mb, rtt) in figures.items():
        f = state.fig(key)
        f.status = ipc.DONE
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
    running.plan["mechanisms"] = ["memcpy", "os_pipe", "file"]
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
    limit.status = ipc.DONE
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
        ({"payload_bytes": 64 * ipc.MiB + 1}, "payload_bytes", "to 67108864 (64 MiB) (got"),
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


def test_shared_memory_that_does_not_fit_is_skipped_with_a_reason() -> None:
    with pytest.raises(ipc.DoesNotFit, match="64 MiB of shared memory needed"):
        ipc.ShmLink(32 * ipc.MiB, shm_free=16 * ipc.MiB)


def test_a_run_directory_left_by_a_dead_main_is_swept(tmp_path: Path) -> None:
    proc = psutil.Popen(["true"])
    proc.wait()
    dead = tmp_path / f"{ipc.RUN_DIR_PREFIX}{proc.pid}-abc"
    live = tmp_path / f"{ipc.RUN_DIR_PREFIX}{os.getpid()}-def"
    other = tmp_path / "someone-elses"
    for d in (dead, live, other):
        d.mkdir()
    (dead / "link.sock").touch()
    assert ipc.sweep_stale(str(tmp_path)) == [str(dead)]
    assert not dead.exists()
    assert live.exists()
    assert other.exists()


def test_the_code_view_puts_each_process_on_its_line() -> None:
    workers = [
        WorkerView("main", role="main", state="starting"),
        WorkerView("S1", role="sender", state="round_trips"),
        WorkerView("R1", role="receiver", state="one_way"),
        WorkerView("S2", role="sender", state="finished"),
    ]
    lines = locate(ipc.script({}), ipc.CODE_LINES, workers)
    where = {name: line.text for line in lines for name in line.workers}
    assert "p.join()" in where["main"]
    assert 'link.send("a", message(i))' in where["S1"]
    assert 'link.recv("b") == message(COUNT + i)' in where["R1"]
    assert "S2" not in where


def test_the_script_follows_the_parameters() -> None:
    text = ipc.script({"mechanisms": "socket", "payload_bytes": 4096, "messages": 7})
    assert "SIZE = 4096  # bytes per message (4 KiB)" in text
    assert "COUNT = 7 " in text
    assert "WAYS = [('AF_UNIX socket', UnixSocket)]" in text
    compile(text, "ipc.py", "exec")


def test_a_hidden_result_shows_progress_but_no_figures() -> None:
    state = results(os_pipe=(1234, 20), file=(100, 500))
    context = {
        "run": type("R", (), {"id": "r1", "params": Params()})(),
        "state": state,
        "log": [],
        "code": [],
        **view(state, Params().model_dump()),
    }
    shown = env.get_template("partials/ipc/_frame.html").render(**context, hide_results=False)
    hidden = env.get_template("partials/ipc/_frame.html").render(**context, hide_results=True)
    assert "1\u2009234 MB/s" in shown
    assert 'id="tpb-os_pipe"' in shown
    assert "1\u2009234" not in hidden
    assert 'id="tpb-os_pipe"' not in hidden
    assert "? predict" in hidden
    assert "✓" in hidden  # still: every byte arrived intact


# --- Real runs -------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.raw: list[events.RawEvent] = []

    def __call__(self, batch: list[events.RawEvent]) -> None:
        with self._lock:
            self.raw.extend(batch)

    def snapshot(self) -> list[events.RawEvent]:
        with self._lock:
            return list(self.raw)

    def wait_for(self, what: Callable[[list[events.RawEvent]], bool], timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not what(self.snapshot()):
            if time.monotonic() > deadline:
                last = [(r[1], r[4], r[5]) for r in self.snapshot()[-15:]]
                pytest.fail(f"timed out waiting; last events: {last}")
            time.sleep(0.01)


Started = tuple[Runtime, Recorder, WorkerBudget]


@pytest.fixture
def start_run() -> Iterator[Callable[..., Started]]:
    runtimes: list[Runtime] = []

    def start(**params: Any) -> Started:
        budget = WorkerBudget(8)
        assert budget.acquire(EXPERIMENTS["ipc"].worker_count(Params(**params)))
        recorder = Recorder()
        rt = Runtime(EXPERIMENTS["ipc"], Params(**params), recorder, budget, time_limit_s=60)
        runtimes.append(rt)
        rt.start()
        return rt, recorder, budget

    yield start
    for rt in runtimes:
        if not rt.done:
            rt.stop("test teardown")
            rt.join(10)


def folded(rt: Runtime, recorder: Recorder) -> IpcState:
    state = IpcState()
    for seq, raw in enumerate(recorder.snapshot(), start=1):
        fold(state, events.from_raw(raw, seq, rt.started_ns))
    return state


def shm_names() -> set[str]:
    return set(os.listdir("/dev/shm"))


def named_resources(state: IpcState) -> list[str]:
    """Every name this run put on the file system: socket files and their
    directory, shared-memory segments (the temporary files never had one)."""
    paths = []
    for key, f in state.figures.items():
        paths += [f.setup[k] for k in ("path", "dir") if k in f.setup and key == "unix_socket"]
        if key == "shared_memory":
            paths.append(f.setup["path"])
    return paths


def assert_nothing_left(state: IpcState) -> None:
    for path in named_resources(state):
        assert not os.path.exists(path), f"{path} was left behind"
    prefix = f"{ipc.RUN_DIR_PREFIX}{state.workers['main'].pid}-"
    assert not [p for p in os.listdir(tempfile.gettempdir()) if p.startswith(prefix)]
    pids = [w.pid for w in state.workers.values()]
    deadline = time.monotonic() + 5
    while any(psutil.pid_exists(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not [p for p in pids if psutil.pid_exists(p)], "a process of the run is still there"


@pytest.mark.parametrize("size", [64, 3 * ipc.MiB + 5], ids=["64 B", "3 MiB and 5 bytes"])
def test_every_mechanism_delivers_its_messages_intact(start_run: Any, size: int) -> None:
    rt, recorder, budget = start_run(payload_bytes=size, messages=40, budget_ms=30)
    assert rt.join(60)
    state = folded(rt, recorder)
    assert state.status == "finished", state.reason
    got = state.extras()["results"]
    assert list(got) == ["memcpy", *ALL]
    for key, f in got.items():
        assert f["status"] == "ok", (key, f["reason"])
        assert f["intact"] is True, key
        assert f["verified"]["bytes"] == f["one_way"]["messages"] * size > 0, key
        assert f["mb_s"] > 0, key
        assert f["msg_s"] > 0, key
        assert 0 < f["p50_us"] <= f["p99_us"], key
    # Each mechanism ran between two real processes of its own, children of main.
    main_pid = state.workers["main"].pid
    pids = {w.pid for w in state.workers.values()}
    assert len(pids) == 1 + 2 * len(ALL)
    assert os.getpid() not in pids
    assert [state.workers[f"S{k}"].role for k in range(1, 8)] == ["sender"] * 7
    assert all(state.workers[f"R{k}"].exitcode == 0 for k in range(1, 8))
    assert main_pid not in {state.workers[f"S{k}"].pid for k in range(1, 8)}
    assert budget.held == 0
    assert_nothing_left(state)


@pytest.mark.parametrize("group", ["socket", "shared_memory"])
def test_names_are_gone_while_both_sides_still_use_the_link(start_run: Any, group: str) -> None:
    rt, recorder, _ = start_run(mechanisms=group, **ENDLESS)
    recorder.wait_for(sender_has_sent)
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


def sender_has_sent(raws: list[events.RawEvent]) -> bool:
    return any(
        r[4] == ipc.PROGRESS and r[1] == "S1" and (r[6] or {}).get("done", 0) > 0 for r in raws
    )


@pytest.mark.parametrize("group", ["file", "socket", "shared_memory"])
def test_stop_mid_measurement_leaves_nothing_behind(start_run: Any, group: str) -> None:
    rt, recorder, budget = start_run(mechanisms=group, **ENDLESS)
    recorder.wait_for(sender_has_sent)
    started = time.monotonic()
    rt.stop("test")
    assert rt.join(10)
    assert time.monotonic() - started < 2.0  # before the runtime would terminate main
    state = folded(rt, recorder)
    assert state.status == "stopped"
    key = GROUPS[group][0]
    assert state.figures[key].status == "stopped"
    for name in ("main", "S1", "R1"):
        w = state.workers[name]
        assert (w.state, w.reason, w.exitcode) == ("finished", "stopped", 0), name
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
    start_run: Any, group: str, victim: str, survivor_words: str
) -> None:
    rt, recorder, _ = start_run(mechanisms=group, **ENDLESS)
    recorder.wait_for(sender_has_sent)
    pid = {r[1]: r[2] for r in recorder.snapshot() if r[4] == events.START}[victim]
    os.kill(pid, signal.SIGKILL)
    key, *rest = GROUPS[group]
    if rest:  # main carries on with the next mechanism; no need to wait for it
        recorder.wait_for(lambda raws: any(r[4] == ipc.SETUP and r[5] == rest[0] for r in raws))
        rt.stop("test")
    assert rt.join(20)
    state = folded(rt, recorder)
    assert state.status == ("stopped" if rest else "finished"), state.reason
    f = state.figures[key]
    assert f.status == "failed"
    assert f.reason.startswith(f"{victim} was killed (SIGKILL)")
    # On a loaded machine main's own deadline can beat the socket's close.
    assert survivor_words in f.reason or (group == "socket" and "main ended it" in f.reason)
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
                shm = got["results"].get("shared_memory", {})
                if {"main", "S1", "R1"} <= set(pids) and shm.get("status") == "measuring":
                    break
                assert time.monotonic() < deadline, got
                time.sleep(0.05)
        server.proc.kill()  # SIGKILL: no cleanup in the server; main's watchdog ends it
        server.proc.wait()
    finally:
        server.stop()
    deadline = time.monotonic() + 5
    while any(psutil.pid_exists(p) for p in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [n for n, p in pids.items() if psutil.pid_exists(p)]
    assert shm["setup"]["name"] not in shm_names()
    prefix = f"{ipc.RUN_DIR_PREFIX}{pids['main']}-"
    assert not [p for p in os.listdir(tempfile.gettempdir()) if p.startswith(prefix)]


# --- Over HTTP, and on the page -----------------------------------------------------


@pytest.mark.live
def test_api_runs_it_and_reports_figures_per_mechanism(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        listed = {e["slug"]: e for e in client.get("/api/experiments").json()}["ipc"]
        assert listed["built"] is True
        assert listed["schema"]["properties"]["payload_bytes"]["maximum"] == 64 * ipc.MiB
        r = client.post(
            "/api/runs", json={"experiment": "ipc", "params": {"mechanisms": "pipe", **TINY}}
        )
        assert r.status_code == 201, r.text
        run_id = r.json()["id"]
        kinds = [e["kind"] for e in read_events(client, run_id)]
        assert kinds[-1] == "run_end"
        assert kinds.count(ipc.VERIFIED) == 3  # the memory copy and two pipes
        run = client.get(f"/api/runs/{run_id}").json()
        assert run["status"] == "finished"
        assert run["counters"] == {
            "planned": 2,
            "measured": 2,
            "intact": 2,
            "failed": 0,
            "skipped": 0,
        }
        for key in ("os_pipe", "mp_pipe"):
            assert run["results"][key]["intact"] is True
            assert run["results"][key]["mb_s"] > 0
        assert run["results"]["os_pipe"]["setup"]["one_way_error"].startswith("OSError")
        assert run["results"]["mp_pipe"]["setup"]["fd_kind"] == "socket pair"
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
        "消息大小（字节） 必须是 64（64 B）到 67108864（64 MiB）之间的整数" in bad.json()["detail"]
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
