"""The lock race (app/experiments/lock/): one program run under the tracer.

The overlay is tested on its own, on events written as the tracer writes
them; the rest runs the real program (real threads, real processes) at fast
speed: the hold is scaled by speed (hold 2000 ms at speed 20 is 100 ms of
real time), so no test sleeps for seconds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import harness
import httpx
import probes
import psutil
import pytest
from ssereader import messages, read_events

from app.events import Event
from app.experiments import EXPERIMENTS
from app.experiments.lock import Params
from app.experiments.lock.overlay import LockState
from app.params import ParamsError, validate
from app.programs.boot.concviz_tracer import kinds as K

EXPERIMENT = EXPERIMENTS["lock"]
PROGRAM = Path(__file__).parents[1] / "app/experiments/lock/program.py"
ENDED = ("finished", "stopped", "failed")
LOCK = "100.1"


# The overlay, on events written by hand as the tracer sends them.


def lines_of(text: str) -> list[int]:
    """The numbers of the program's lines that hold `text`."""
    found = [n for n, line in enumerate(PROGRAM.read_text().splitlines(), 1) if text in line]
    assert found, text
    return found


class Trace:
    """Events of one run, numbered in the order they are written."""

    def __init__(self, **params: Any) -> None:
        p = Params(**{"threads": 3, "initial": 10, **params}).model_dump()
        self.events: list[Event] = []
        self.add("main", 0, "run_start", data={"params": p, "backend": ""}, tid=0)
        self.add("main", 0, K.PROC, data={"name": "MainProcess", "main": True})
        self.add("main", 0, K.THREAD, data={"name": "MainThread", "main": True})
        self.add("main", 0, K.NEW, LOCK, {"type": "Lock", "lib": "threading", "name": "lock"})

    def add(
        self,
        worker: str,
        t: float,
        kind: str,
        item: str | None = None,
        data: dict[str, Any] | None = None,
        pid: int = 100,
        tid: int | None = None,
    ) -> Trace:
        if tid is None:
            tid = pid if worker == "main" else pid + int(worker[1]) + 10 * worker.count("#")
        seq = len(self.events) + 1
        self.events.append(Event(seq, t, worker, pid, tid, kind, item, data))
        return self

    def say(self, worker: str, t: float, text: str, **ids: Any) -> Trace:
        return self.add(worker, t, K.OUT, data={"text": text + "\n", "stream": "stdout"}, **ids)

    def round(self, n: int, t: float = 0.0, names: tuple[str, ...] = ("T1", "T2", "T3")) -> Trace:
        self.say("main", t, f"round {n} starts: counter = 10, expected 7")
        for name in names:
            self.add(name, t, K.THREAD, data={"name": name.split()[0], "main": False})
        return self

    def lock(self, worker: str, t: float, kind: str, line: int | None = None) -> Trace:
        return self.add(worker, t, kind, LOCK, {"line": line} if line else {})

    def fold(self) -> LockState:
        return fold_all(self.events)


def fold_all(evs: list[Event], *, one_owner: bool = False) -> LockState:
    """The lesson's state after `evs`; with `one_owner`, checked after each
    event that the page never shows two owners at once."""
    state = EXPERIMENT.new_state()
    assert isinstance(state, LockState)
    assert EXPERIMENT.fold is not None
    for e in evs:
        EXPERIMENT.fold(state, e)
        assert not one_owner or state.two_owners == 0, f"two owners at once after event {e}"
    return state


def test_the_lock_has_one_owner_and_a_line_in_the_order_they_asked() -> None:
    trace = (
        Trace(use_lock=True)
        .round(1)
        .lock("T1", 0.01, K.ACQUIRED)
        .lock("T2", 0.02, K.ACQUIRE_WAIT)
        .lock("T3", 0.03, K.ACQUIRE_WAIT)
        .say("T1", 0.04, "T1 read a = 10")
    )
    state = trace.fold()
    assert state.owner == "T1"
    assert state.waiting == ["T2", "T3"]
    assert state.cards["T1"].step == "holding"
    assert state.cards["T2"].step == "lock_wait"

    # The lock is no queue: T3 may get it before T2, who asked first.
    trace.say("T1", 0.2, "T1 wrote counter = 9").lock("T1", 0.21, K.RELEASED)
    state = trace.lock("T3", 0.22, K.ACQUIRED).fold()
    assert state.owner == "T3"
    assert state.waiting == ["T2"]
    assert state.counter == 9
    assert (state.handovers, state.two_owners, state.most_inside) == (2, 0, 1)


def test_a_hand_over_that_arrives_out_of_order_is_no_second_owner() -> None:
    # P2's acquire (stamped after it took the lock) may arrive before P1's
    # release (stamped before it let go): by the stamps, one at a time.
    ids = {"P1": {"pid": 201, "tid": 201}, "P2": {"pid": 202, "tid": 202}}
    trace = Trace(use_lock=True, backend="process").say(
        "main", 0, "round 1 starts: counter = 10, expected 7"
    )
    for name in ("P1", "P2"):
        trace.add(name, 0, K.PROC, data={"name": name, "main": False}, **ids[name])
        trace.add(name, 0, K.THREAD, data={"name": "MainThread", "main": True}, **ids[name])
    trace.add("P1", 0.01, K.ACQUIRED, LOCK, **ids["P1"])
    trace.add("P2", 0.02, K.ACQUIRE_WAIT, LOCK, **ids["P2"])
    trace.add("P2", 0.31, K.ACQUIRED, LOCK, **ids["P2"])
    trace.add("P1", 0.30, K.RELEASED, LOCK, **ids["P1"])
    state = trace.fold()
    assert state.owner == "P2"
    assert state.two_owners == 0
    assert {c.name: c.label for c in state.cards.values()} == {"P1": "P1", "P2": "P2"}


def test_two_owners_at_once_by_the_stamps_are_counted() -> None:
    # What a broken lock would look like: T2 took it while T1 held it.
    trace = Trace(use_lock=True).round(1).lock("T1", 0.01, K.ACQUIRED)
    state = trace.lock("T2", 0.02, K.ACQUIRED).lock("T1", 0.03, K.RELEASED).fold()
    assert state.two_owners == 1
    assert state.counters()["two_owners"] == 1
    assert state.extras()["lesson"]["two_owners"] == 1


def test_without_the_lock_it_counts_who_is_inside_and_the_lost_updates() -> None:
    trace = Trace().round(1)
    for i in (1, 2, 3):
        trace.say(f"T{i}", 0.01 * i, f"T{i} read a = 10")
    state = trace.fold()
    assert state.inside == {"T1", "T2", "T3"}
    assert state.result() == {"expected": 7, "actual": None, "lost_updates": None}
    for i in (1, 2, 3):
        trace.say(f"T{i}", 0.2 + 0.01 * i, f"T{i} wrote counter = 9")
    state = trace.say("main", 0.3, "round 1: counter = 9 (expected 7)").fold()
    assert state.inside == set()
    assert state.most_inside == 3
    assert [v for _, v in state.history] == [10, 9, 9, 9]
    assert [t for t, _ in state.history] == pytest.approx([0.0, 0.21, 0.22, 0.23])
    assert state.result() == {"expected": 7, "actual": 9, "lost_updates": 2}
    assert state.extras()["lesson"]["rounds"]["finals"] == [9]
    assert state.counters()["lost_updates"] == 2


def test_rounds_are_kept_apart_when_a_worker_of_the_last_one_is_late() -> None:
    """T1 of round 2 is a new thread with the same name: a late line or lock
    step of round 1's T1 must not move round 2's card."""
    trace = (
        Trace(use_lock=True)
        .round(1, names=("T1",))
        .say("T1", 0.01, "T1 read a = 10")
        .say("T1", 0.02, "T1 wrote counter = 9")
        .say("main", 0.03, "round 1: counter = 9 (expected 9)")
        .round(2, 0.04, names=("T1 #2",))
        .say("T1 #2", 0.05, "T1 read a = 10")
        .lock("T1", 0.06, K.ACQUIRED)  # late, from round 1's thread
        .say("T1", 0.07, "T1 wrote counter = 4")
    )
    state = trace.fold()
    card = state.cards["T1"]
    assert (card.round, card.read, card.wrote) == (2, 10, None)
    # One T1 on the stage and its timeline: round 2's thread, in round 1's lane.
    assert state.workers[card.label].tid == 111
    assert "T1 #2" not in state.workers
    assert "T1 #2" not in state.lanes
    assert "T1 (round 1)" in state.workers  # the late one, apart
    assert state.owner is None
    assert state.counter == 10
    assert state.finals == {1: 9}
    assert state.round == 2


def test_the_view_draws_the_histogram_of_every_possible_final_value() -> None:
    trace = Trace()
    for rnd, final in enumerate([7, 7, 9], start=1):
        trace.round(rnd, rnd).say("main", rnd + 0.5, f"round {rnd}: counter = {final} (expected 7)")
    state = trace.fold()
    v = EXPERIMENT.view(state, Params(threads=3, initial=10).model_dump())
    bars = {b["value"]: b["count"] for b in v["hist"]["bars"]}
    assert bars == {7: 2, 8: 0, 9: 1}
    assert [b["value"] for b in v["hist"]["bars"] if b["expected"]] == [7]
    assert v["exact"] == 2
    assert "3 threads" in v["runbar_facts"]
    one = EXPERIMENT.view(state, Params(threads=1, backend="process").model_dump())
    assert "1 process" in one["runbar_facts"]


def test_the_code_view_marks_the_lines_the_tracer_reports() -> None:
    """Waiters on the `with` line, the owner on its hold: where the tracer
    said they are, in the program that runs (the threads' function)."""
    with_line = lines_of("with lock if USE_LOCK")[0]
    hold_line = lines_of("time.sleep(HOLD_MS / 1000)")[0]
    trace = Trace(use_lock=True).round(1).lock("T1", 0.01, K.ACQUIRED, with_line)
    trace.add("T1", 0.02, K.SLEEP, data={"s": 3.0, "line": hold_line})
    trace.lock("T2", 0.03, K.ACQUIRE_WAIT, with_line).lock("T3", 0.04, K.ACQUIRE_WAIT, with_line)
    v = EXPERIMENT.view(trace.fold(), Params(use_lock=True, threads=3).model_dump())
    where = {name: line.number for line in v["program_code"] for name in line.workers}
    assert where == {"T1": hold_line, "T2": with_line, "T3": with_line}
    assert v["filename"] == "lock.py"


# The program: the download is what runs.


def test_the_download_is_the_program_with_the_forms_values() -> None:
    assert EXPERIMENT.script is not None
    source = PROGRAM.read_text()
    assert EXPERIMENT.program == source  # the defaults are the file's own
    text = EXPERIMENT.script({**Params().model_dump(), "threads": 3, "backend": "process"})
    assert text == source.replace("THREADS = 5 ", "THREADS = 3 ").replace(
        'BACKEND = "thread"  #', 'BACKEND = "process"  #'
    )
    assert "SPEED" not in text  # the run's speed scales the program's sleeps


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_the_program_runs_on_its_own_and_tells_the_same_story(backend: str, tmp_path: Path) -> None:
    assert EXPERIMENT.script is not None
    params = Params(threads=4, hold_ms=20, use_lock=True, backend=backend, repeats=2)
    path = tmp_path / "lock.py"
    path.write_text(EXPERIMENT.script(params.model_dump()))
    done = harness.run_alone(path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    prefix = "P" if backend == "process" else "T"
    writes = [line.split() for line in lines if " wrote counter = " in line]
    # With the lock, each worker read what the last one wrote.
    assert [int(w[-1]) for w in writes] == [9, 8, 7, 6] * 2
    assert {w[0] for w in writes} == {f"{prefix}{i}" for i in range(1, 5)}
    assert lines.count("round 1: counter = 6 (expected 6)") == 1
    assert lines[-1].startswith("accounting: 2 round(s)")
    assert lines[-1].endswith("0 update(s) lost")


# Parameters.


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"threads": 0}, "threads", "from 1 to 50"),
        ({"threads": 51}, "threads", "from 1 to 50"),
        ({"repeats": 0}, "repeats", "from 1 to 200"),
        ({"repeats": 201}, "repeats", "from 1 to 200"),
        ({"hold_ms": -1}, "hold_ms", "from 0 to 5000"),
        ({"initial": 1001}, "initial", "from 0 to 1000"),
        ({"speed": 0}, "speed", "from 0.1 to 20"),
        ({"use_lock": "maybe"}, "use_lock", "one of True, False"),
        ({"backend": "gpu"}, "backend", "'thread', 'process'"),
        ({"colour": "red"}, "colour", "unknown field"),
    ],
)
def test_bad_params_name_the_field_and_its_bounds(
    params: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ParamsError) as err:
        validate(Params, params)
    assert any(e.field == field and words in e.message for e in err.value.errors), err.value


def test_params_schema_has_bounds_titles_and_descriptions() -> None:
    props = Params.model_json_schema()["properties"]
    for name, prop in props.items():
        assert prop.get("title"), name
        assert prop.get("description"), name
    # A class can watch the default race: a hold of seconds, not a blink.
    assert (props["threads"]["default"], props["initial"]["default"]) == (5, 10)
    assert props["hold_ms"]["default"] == 3000
    assert props["repeats"]["maximum"] == 200
    assert EXPERIMENT.live_params() == {"speed"}


# Real runs: the program's threads or processes, under the tracer.


@pytest.fixture
def start_run() -> Iterator[harness.Runs]:
    runs = harness.Runs(EXPERIMENT)
    yield runs
    runs.stop_all()


def folded(evs: list[Event]) -> LockState:
    return fold_all(evs, one_owner=True)


def lock_steps(evs: list[Event]) -> list[Event]:
    """The program's lock's acquires and releases, in the order of their
    stamps (an acquire is stamped once it has the lock, a release before
    it lets go)."""
    new = next(e for e in evs if e.kind == K.NEW and (e.data or {}).get("name") == "lock")
    steps = [e for e in evs if e.item == new.item and e.kind in (K.ACQUIRED, K.RELEASED)]
    return sorted(steps, key=lambda e: e.t)


def assert_one_owner_at_a_time(evs: list[Event], *, ended: bool = True) -> int:
    """The lock goes from free to one owner and back; the number of times
    it was taken. A run that `ended` on its own left the lock free."""
    holder: tuple[int, int] | None = None
    taken = 0
    for e in lock_steps(evs):
        if e.kind == K.ACQUIRED:
            assert holder is None, f"{e.worker} acquired while {holder} held the lock"
            holder, taken = (e.pid, e.tid), taken + 1
        else:
            assert holder == (e.pid, e.tid), f"{e.worker} released a lock held by {holder}"
            holder = None
    assert holder is None or not ended
    return taken


def gone(pids: set[int]) -> bool:
    deadline = time.monotonic() + 5.0
    while any(psutil.pid_exists(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def workers_of(evs: list[Event], main_pid: int) -> list[Event]:
    """The `thread` event of each worker: every thread but main's."""
    return [e for e in evs if e.kind == K.THREAD and (e.pid, e.tid) != (main_pid, main_pid)]


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_with_the_lock_nothing_is_lost_and_the_lock_has_one_owner_at_a_time(
    start_run: harness.Runs, backend: str
) -> None:
    rt, recorder, budget = start_run(
        threads=6, initial=10, hold_ms=100, use_lock=True, repeats=3, backend=backend, speed=20
    )
    assert rt.join(30.0)
    evs = recorder.events(rt.started_ns)
    state = folded(evs)
    assert (state.status, state.reason) == ("finished", "every round ended")
    assert state.finals == {1: 4, 2: 4, 3: 4}  # every round: 10 - 6
    assert state.result() == {"expected": 4, "actual": 4, "lost_updates": 0}
    assert assert_one_owner_at_a_time(evs) == 18
    assert state.handovers == 6  # this round's
    texts = [(e.data or {}).get("text", "").strip() for e in evs if e.kind == K.OUT]
    writes = [int(t.rsplit(" ", 1)[1]) for t in texts if " wrote counter = " in t]
    reads = [int(t.rsplit(" ", 1)[1]) for t in texts if " read a = " in t]
    assert writes == [9, 8, 7, 6, 5, 4] * 3  # each worker read what the last one wrote
    assert reads == [v + 1 for v in writes]
    assert state.most_inside == 1
    cards = sorted(state.cards)
    assert cards == [f"{'P' if backend == 'process' else 'T'}{i}" for i in range(1, 7)]
    # One worker of each name on the stage and the timeline, the last round's.
    assert set(state.workers) == {"main", *cards}
    assert set(state.lanes) == {"main", *cards}
    assert {state.workers[c].tid for c in cards} == {
        e.tid for e in evs if e.kind == K.THREAD and e.worker.endswith("#3")
    }

    # Real workers: threads share main's pid with a tid each; processes have
    # a pid each. Every one of them is gone now.
    main_pid = state.workers["main"].pid
    starts = workers_of(evs, main_pid)
    assert len(starts) == 18
    if backend == "thread":
        assert {e.pid for e in starts} == {main_pid}
        assert len({e.tid for e in starts}) == 18
    else:
        assert len({e.pid for e in starts}) == 18
        assert main_pid not in {e.pid for e in starts}
        assert all(e.tid == e.pid for e in starts)  # a process's first thread
    assert gone({main_pid, *(e.pid for e in starts)})
    assert all(not w.alive for w in state.workers.values())
    assert budget.held == 0


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_without_the_lock_a_long_hold_loses_updates(start_run: harness.Runs, backend: str) -> None:
    # 200 ms of real hold, long against starting ten threads or processes.
    rt, recorder, budget = start_run(
        threads=10, initial=10, hold_ms=4000, use_lock=False, backend=backend, speed=20
    )
    assert rt.join(30.0)
    evs = recorder.events(rt.started_ns)
    state = folded(evs)
    assert state.status == "finished"
    result = state.result()
    assert result["expected"] == 0
    assert result["actual"] is not None
    assert result["lost_updates"] is not None
    assert result["lost_updates"] > 0
    assert state.most_inside > 1
    assert lock_steps(evs) == []  # nobody took the lock
    lock = next(e.item for e in evs if e.kind == K.NEW and (e.data or {}).get("name") == "lock")
    assert not [e for e in evs if e.kind == K.ACQUIRE_WAIT and e.item == lock]
    if backend == "process":
        # The Value's own lock, taken for each read and each write, is on
        # the stage too: it never covers the read, the hold and the write.
        value_lock = next(
            e.item for e in evs if e.kind == K.NEW and e.data["name"] == "shared.get_lock()"
        )
        assert [e for e in evs if e.kind == K.ACQUIRED and e.item == value_lock]
    # The final value is the one main read: the last value written.
    assert state.counter == result["actual"]
    assert budget.held == 0


def test_stop_ends_a_run_with_workers_waiting_in_line(start_run: harness.Runs) -> None:
    rt, recorder, budget = start_run(
        threads=8, hold_ms=5000, use_lock=True, backend="process", repeats=5, speed=1
    )

    def line_formed(raws: list[Any]) -> bool:
        return sum(1 for r in raws if r[4] == K.ACQUIRE_WAIT) == 7 and any(
            r[4] == K.OUT and " read a = " in r[6].get("text", "") for r in raws
        )

    recorder.wait_for(line_formed, timeout=15.0)
    state = folded(recorder.events(rt.started_ns))
    assert state.owner is not None
    assert len(state.waiting) == 7
    assert state.owner not in state.waiting
    rt.stop("test")
    assert rt.join(10.0)
    evs = recorder.events(rt.started_ns)
    state = folded(evs)
    assert (state.status, state.reason) == ("stopped", "test")
    assert state.finals == {}  # the round did not end: no result for it
    assert_one_owner_at_a_time(evs, ended=False)  # the owner was stopped holding it
    assert gone({e.pid for e in evs if e.kind == K.PROC})
    assert budget.held == 0


# The HTTP contract, against a real server.


@pytest.mark.live
def test_api_run_carries_the_result_and_bad_params_get_422(client: httpx.Client) -> None:
    exps = {e["slug"]: e for e in client.get("/api/experiments").json()}
    assert exps["lock"]["built"] is True
    assert exps["lock"]["defaults"]["threads"] == 5

    r = client.post("/api/runs", json={"experiment": "lock", "params": {"threads": 99}})
    assert r.status_code == 422
    assert any(
        e["field"] == "threads" and "from 1 to 50" in e["message"] for e in r.json()["errors"]
    )

    params = {"threads": 4, "initial": 10, "hold_ms": 100, "use_lock": True, "repeats": 2}
    r = client.post("/api/runs", json={"experiment": "lock", "params": {**params, "speed": 20}})
    assert r.status_code == 201, r.text
    run_id = r.json()["id"]
    deadline = time.monotonic() + 20
    while (run := client.get(f"/api/runs/{run_id}").json())["status"] not in ENDED:
        assert time.monotonic() < deadline, run
        time.sleep(0.05)
    assert run["status"] == "finished"
    lesson = run["lesson"]
    assert lesson["result"] == {"expected": 6, "actual": 6, "lost_updates": 0}
    assert lesson["rounds"]["finals"] == [6, 6]
    assert run["counters"]["two_owners"] == 0
    assert "result" not in run  # the lesson's own fields are under one key
    # The last round's four workers: real threads of main's process.
    workers = {w["name"]: w for w in run["workers"]}
    assert set(workers) == {"main", "T1", "T2", "T3", "T4"}
    main = workers.pop("main")
    assert {w["pid"] for w in workers.values()} == {main["pid"]}
    assert len({w["tid"] for w in workers.values()} | {main["tid"]}) == 5
    assert not psutil.pid_exists(main["pid"])
    script = client.get(f"/runs/{run_id}/script").text
    assert "THREADS = 4 " in script
    assert "USE_LOCK = True " in script


@pytest.mark.live
def test_the_page_and_a_frame_speak_chinese(client: httpx.Client) -> None:
    zh = {"accept-language": "zh-CN,zh;q=0.9"}
    page = client.get("/experiments/lock", headers=zh).text
    for words in ("锁与竞争", "使用锁", "线程还是进程", "停顿（毫秒）", "运行 20 次"):
        assert words in page
    assert "Run it 20 times" not in page
    assert "Run it 20 times" in client.get("/experiments/lock").text
    params = {"threads": 2, "hold_ms": 40, "use_lock": True, "repeats": 1, "speed": 20}
    run = client.post("/api/runs", json={"experiment": "lock", "params": params}).json()
    read_events(client, run["id"])
    with client.stream("GET", f"/runs/{run['id']}/stream", headers=zh) as s:
        frame = next(messages(s)).data
    for words in ("丢失的更新", "计数器", "本轮交接 2 次", "每一轮都已结束", "停顿 40 毫秒"):
        assert words in frame
    assert "拿到了锁" in frame  # the log, in words


@pytest.mark.live
def test_pause_step_mode_live_speed_replay_and_trace(client: httpx.Client) -> None:
    """The generic program pipeline, on this lesson: pause, step mode and a
    live speed act on the running program; the ended run replays and
    exports to Perfetto with the real pids."""
    params = {"threads": 3, "hold_ms": 2000, "use_lock": True, "repeats": 1, "speed": 1}
    rid = probes.start(client, "lock", **params)["id"]
    probes.wait_for(client, rid, lambda run: run["counters"]["owner"] != "")

    run = client.post(f"/api/runs/{rid}/pause").json()
    assert run["paused"] is True
    time.sleep(0.2)
    assert client.get(f"/api/runs/{rid}").json()["events"] == run["events"]
    assert client.post(f"/api/runs/{rid}/resume").json()["paused"] is False

    assert client.post(f"/api/runs/{rid}/step", json={"on": True}).json()["stepping"] is True
    run = probes.wait_for(client, rid, lambda run: any(w["wants"] for w in run["workers"]))
    who = next(w["name"] for w in run["workers"] if w["wants"])
    assert client.post(f"/api/runs/{rid}/permit", json={"worker": who}).status_code == 200
    probes.wait_for(client, rid, lambda r, n=run["events"]: r["events"] > n)
    assert client.post(f"/api/runs/{rid}/step", json={"on": False}).json()["stepping"] is False

    r = client.patch(f"/api/runs/{rid}", json={"params": {"speed": 20}})
    assert r.status_code == 200, r.text
    assert r.json()["params"]["speed"] == 20
    refused = client.patch(f"/api/runs/{rid}", json={"params": {"threads": 4}})
    assert refused.status_code == 409
    run = probes.wait_for(client, rid, lambda run: run["status"] in ENDED, timeout=20)
    assert run["status"] == "finished"
    assert run["lesson"]["result"]["lost_updates"] == 0

    replay = client.get(f"/runs/{rid}")
    assert replay.status_code == 200
    assert 'id="lk-result"' in replay.text
    trace = client.get(f"/api/runs/{rid}/trace").json()
    pids = {e["pid"] for e in trace["traceEvents"]}
    assert {w["pid"] for w in run["workers"]} <= pids
