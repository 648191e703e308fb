"""Recording runs in SQLite, replaying them, and exporting them as traces."""

from __future__ import annotations

import bisect
import itertools
import json
import random
import re
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer
from ssereader import messages, read_events

from app import chunks, events
from app import replay as replay_module
from app.budget import WorkerBudget
from app.events import Event, from_raw
from app.experiments import EXPERIMENTS
from app.experiments.producer_consumer import fold_all
from app.recording import SCHEMA, Recorder, shape
from app.replay import CHECKPOINT_EVERY, Replay, TimesInMemory
from app.runs import ENDED_RING
from app.trace import chrome_trace

PC = EXPERIMENTS["producer-consumer"]
FAST = PC.quick_params  # a run of a second or so


def real_run_events(**params: Any) -> list[Event]:
    """The events of a real producer/consumer run with real processes."""
    assert PC.params is not None
    p = PC.params(**{**FAST, **params})
    got: list[events.RawEvent] = []
    lock = threading.Lock()

    def on_batch(batch: list[events.RawEvent]) -> None:
        with lock:
            got.extend(batch)

    budget = WorkerBudget(64)
    assert budget.acquire(PC.worker_count(p))
    assert PC.runtime is not None
    rt = PC.runtime(PC, p, on_batch, budget)  # the lesson's program, traced
    rt.start()
    assert rt.join(20)
    return [from_raw(raw, i + 1, rt.started_ns) for i, raw in enumerate(got)]


@pytest.fixture(scope="module")
def run_events() -> list[Event]:
    return real_run_events()


def test_recorder_keeps_runs_and_events_across_reopening(
    tmp_path: Path, run_events: list[Event]
) -> None:
    db = tmp_path / "runs.sqlite3"
    rec = Recorder(db)
    rec.begin("r1", "producer-consumer", {"producers": 3}, "2026-01-01T00:00:00")
    rec.append("r1", run_events[:10])
    rec.append("r1", run_events[10:])
    n = len(run_events)
    rec.end("r1", "finished", "every item was consumed", run_events[-1].t, n, n)
    rec.close()

    again = Recorder(db)  # as after a server restart
    (only,) = again.runs()
    assert only.id == "r1"
    assert only.status == "finished"
    assert only.events == len(run_events)
    assert not only.cut
    assert again.events("r1") == run_events
    assert again.events("r1", after=5, limit=3) == run_events[5:8]
    assert again.rename("r1", "first try")
    assert again.run("r1") is not None
    assert again.run("r1").name == "first try"  # type: ignore[union-attr]
    assert again.delete("r1")
    assert again.runs() == []
    assert not again.delete("r1")
    again.close()


def test_a_database_from_before_the_record_limit_opens_and_keeps_its_runs(
    tmp_path: Path,
) -> None:
    db = tmp_path / "runs.sqlite3"
    before = SCHEMA.replace(",\n    run_events INTEGER NOT NULL DEFAULT 0", "")
    assert "run_events" not in before
    with sqlite3.connect(db) as conn:
        conn.executescript(before)
        conn.execute(
            "INSERT INTO runs (id, experiment, params, created, status, events)"
            " VALUES ('old', 'producer-consumer', '{}', '2026-01-01T00:00:00', 'finished', 7)"
        )
    conn.close()
    rec = Recorder(db)
    (old,) = rec.runs()
    assert (old.id, old.events, old.cut) == ("old", 7, False)
    assert old.to_dict()["run_events"] == 7
    rec.close()


def test_events_recorded_one_per_row_before_chunks_still_read(
    tmp_path: Path, run_events: list[Event]
) -> None:
    """A recording made when each event was a row of `events`, its data
    JSON, opens and replays as it did."""
    db = tmp_path / "runs.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.executescript(SCHEMA)
        conn.execute(
            "INSERT INTO runs (id, experiment, params, created, status, events)"
            " VALUES ('old', 'producer-consumer', '{}', '2026-01-01T00:00:00', 'finished', ?)",
            (len(run_events),),
        )
        conn.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                ("old", e.seq, e.t, e.worker, e.pid, e.tid, e.kind, e.item)
                + (json.dumps(e.data) if e.data is not None else None,)
                for e in run_events
            ],
        )
    conn.close()
    rec = Recorder(db)
    assert rec.events("old") == run_events
    assert rec.events("old", after=5, limit=3) == run_events[5:8]
    assert list(rec.times("old")) == [e.t for e in run_events]
    assert rec.delete("old")
    assert rec.events("old") == []
    rec.close()


def test_events_read_across_chunks(
    tmp_path: Path, run_events: list[Event], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events are kept in chunks of a batch each: any slice reads whole,
    whatever chunks it starts, ends or spans."""
    monkeypatch.setattr(chunks, "CHUNK_EVENTS", 7)
    rec = Recorder(tmp_path / "runs.sqlite3")
    rec.begin("r1", "producer-consumer", {}, "2026-01-01T00:00:00")
    n = len(run_events)
    for start in range(0, n, 11):  # batches that are no multiple of a chunk
        rec.append("r1", run_events[start : start + 11])
    assert rec.backlog <= n  # events not written yet (a run waits past a bound)
    deadline = time.monotonic() + 10
    while rec.backlog:
        assert time.monotonic() < deadline, "the recorder did not write its events"
        time.sleep(0.01)
    rec.close()
    again = Recorder(tmp_path / "runs.sqlite3")
    assert again.events("r1") == run_events
    assert list(again.times("r1")) == [e.t for e in run_events]
    for after, limit in [(0, 1), (6, 1), (7, 7), (3, 20), (n - 2, 5), (n, 3), (5, None)]:
        expected = run_events[after:] if limit is None else run_events[after : after + limit]
        assert again.events("r1", after=after, limit=limit) == expected
    again.close()


def test_times_are_read_from_their_chunk_as_asked_and_find_the_same_events(
    tmp_path: Path, run_events: list[Event], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replay opens without reading every event's time: each is read from
    its chunk when a frame asks; where the run was at a time is the same
    as with all of them read, in recordings from before chunks kept their
    latest time too."""
    monkeypatch.setattr(chunks, "CHUNK_EVENTS", 7)
    # In time order: a real run's processes send their batches out of step,
    # and "where the run was at a time" is one place only if no event of a
    # later place is stamped earlier.
    latest = itertools.accumulate((e.t for e in run_events), max)
    run_events = [e._replace(t=t) for e, t in zip(run_events, latest, strict=True)]
    db = tmp_path / "runs.sqlite3"
    rec = Recorder(db)
    rec.begin("r1", "producer-consumer", {}, "2026-01-01T00:00:00")
    for start in range(0, len(run_events), 11):
        rec.append("r1", run_events[start : start + 11])
    rec.close()
    every = [e.t for e in run_events]
    probes = [-1.0, 0.0, *every, *(t + 1e-7 for t in every), every[-1] + 5]
    reads: list[int] = []
    read_chunk = Recorder._chunk

    def counted(self: Recorder, run_id: str, first_seq: int) -> bytes:
        reads.append(first_seq)
        return read_chunk(self, run_id, first_seq)

    monkeypatch.setattr(Recorder, "_chunk", counted)
    lazy = Recorder(db).times("r1")
    assert len(lazy) == len(every)
    assert not reads  # opened without reading one
    assert lazy[len(every) - 1] == every[-1]
    assert len(reads) == 1  # the last chunk, for the last time
    # The same chunks in a database from before chunks said their latest time.
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT run_id, last_seq, first_seq, events FROM chunks").fetchall()
    before = tmp_path / "before.sqlite3"
    with closing(sqlite3.connect(before)) as conn, conn:
        conn.executescript(SCHEMA.replace("    t_max REAL,\n", ""))
        conn.execute(
            "INSERT INTO runs (id, experiment, params, created)"
            " VALUES ('r1', 'producer-consumer', '{}', '2026-01-01T00:00:00')"
        )
        conn.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?)", rows)
    eager = Recorder(before).times("r1")
    assert not isinstance(eager, chunks.ChunkTimes)
    assert list(eager) == list(lazy) == every
    for t in probes:
        assert lazy.index_at(t) == eager.index_at(t) == bisect.bisect_right(every, t), t


def test_data_that_is_not_plain_is_recorded_as_json_would_keep_it(tmp_path: Path) -> None:
    """A recording holds plain values only: reading it never needs a class."""

    class Odd:
        def __repr__(self) -> str:
            return "<odd>"

    rec = Recorder(tmp_path / "runs.sqlite3")
    rec.begin("r1", "program", {}, "2026-01-01T00:00:00")
    plain = Event(1, 0.0, "main", 1, 1, "out", None, {"text": "hi", "n": 2})
    odd = Event(2, 0.1, "main", 1, 1, "out", None, {"x": Odd(), "pair": (1, 2)})
    rec.append("r1", [plain])
    rec.append("r1", [odd])
    rec.close()
    again = Recorder(tmp_path / "runs.sqlite3")
    assert again.events("r1") == [plain, odd._replace(data={"x": "<odd>", "pair": [1, 2]})]
    again.close()


def test_a_run_cut_short_by_a_crash_is_marked_failed_on_reopening(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite3"
    rec = Recorder(db)
    rec.begin("r1", "producer-consumer", {}, "2026-01-01T00:00:00")
    rec.close()
    again = Recorder(db)
    run = again.run("r1")
    assert run is not None
    assert run.status == "failed"
    assert "server stopped" in run.reason
    again.close()


def many_events(run_events: list[Event], at_least: int) -> list[Event]:
    """The run's events again and again, numbered and timed as one run."""
    many = run_events * (at_least // len(run_events) + 1)
    return [
        Event(i + 1, e.t + i * 1e-6, e.worker, e.pid, e.tid, e.kind, e.item, e.data)
        for i, e in enumerate(many)
    ]


def test_replay_at_any_point_is_the_fold_of_the_first_events(run_events: list[Event]) -> None:
    many = many_events(run_events, 2 * CHECKPOINT_EVERY)
    assert PC.fold is not None
    replay = Replay.of(many, PC.new_state, PC.fold, {})
    rng = random.Random(7)
    points = [0, 1, len(many), CHECKPOINT_EVERY, CHECKPOINT_EVERY + 1]
    points += [rng.randrange(len(many)) for _ in range(10)]
    for k in [*points, *reversed(points)]:  # forward and back
        assert replay.state_at(k) == fold_all(many[:k]), k


def test_a_state_that_does_not_pickle_still_replays_at_any_point(
    run_events: list[Event],
) -> None:
    # Checkpoints are kept frozen (pickled); one that cannot be is kept as
    # a copy of the object, and jumps to it are as right as to any other.
    class Counted:
        def __init__(self) -> None:
            self.params: dict[str, object] = {}
            self.seen: list[int] = []
            self.word = lambda: "seen"  # does not pickle (it copies)

    def fold(state: Counted, event: Event) -> None:
        state.seen.append(event.seq)

    many = many_events(run_events, 2 * CHECKPOINT_EVERY + 5)
    kept: list[int] = []
    replay = Replay(
        lambda after, limit: many[after : after + limit],
        len(many),
        [e.t for e in many],
        Counted,
        fold,
        {},
        keep=lambda k, frozen: kept.append(k),
    )
    for k in (2 * CHECKPOINT_EVERY + 3, CHECKPOINT_EVERY + 1, 7, 0):
        assert replay.state_at(k).seen == list(range(1, k + 1)), k
    assert replay.complete  # copies made
    assert not kept  # none frozen


def test_trace_is_well_formed(run_events: list[Event]) -> None:
    assert PC.fold is not None
    trace = json.loads(json.dumps(chrome_trace(run_events, PC.new_state, PC.fold)))
    evs = trace["traceEvents"]
    assert {e["ph"] for e in evs} <= {"M", "B", "E", "C", "s", "f", "i"}
    names = {e["args"]["name"] for e in evs if e["ph"] == "M" and e["name"] == "thread_name"}
    assert {"P1", "P2", "P3", "C1", "C2"} <= names
    depth: dict[tuple[int, int], int] = {}
    last: dict[tuple[int, int], float] = {}
    for e in evs:
        if e["ph"] in ("B", "E", "s", "f", "i"):
            key = (e["pid"], e["tid"])
            assert e["ts"] >= last.get(key, 0.0), e
            last[key] = e["ts"]
        if e["ph"] == "B":
            depth[(e["pid"], e["tid"])] = depth.get((e["pid"], e["tid"]), 0) + 1
        elif e["ph"] == "E":
            depth[(e["pid"], e["tid"])] -= 1
            assert depth[(e["pid"], e["tid"])] >= 0
    assert all(d == 0 for d in depth.values())  # every B has its E on its thread
    starts = {e["id"]: e for e in evs if e["ph"] == "s"}
    ends = {e["id"]: e for e in evs if e["ph"] == "f"}
    assert starts.keys() == ends.keys()
    assert len(starts) >= 15  # every item's put is tied to its get
    assert all(ends[i]["ts"] >= starts[i]["ts"] for i in starts)
    assert any(e["ph"] == "C" and e["name"] == "in_queue" for e in evs)


@pytest.mark.live
def test_replaying_to_the_end_gives_the_final_live_frame(
    client: httpx.Client, live_server: LiveServer
) -> None:
    r = client.post("/api/runs", json={"experiment": "producer-consumer", "params": FAST})
    run = r.json()
    with client.stream("GET", f"/runs/{run['id']}/stream") as s:
        frames = [m.data for m in messages(s) if m.event != "end"]
    live_final = frames[-1]
    assert 'id="run-status">finished<' in live_final
    total = len(read_events(client, run["id"]))
    deadline = time.monotonic() + 10
    while recorded_events(client, run["id"]) != total:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    replayed = client.get(f"/runs/{run['id']}/frame", params={"at": total}).text
    replayed = replayed.split("<hx-partial")[0]
    # The same stage, but for its run bar: a replay says so (and where it is).
    assert 'id="replay-badge"' in replayed
    assert 'id="run-status">finished<' in replayed
    assert same_stage(replayed, live_final)
    earlier = client.get(f"/runs/{run['id']}/frame", params={"at": 40, "step": -1}).text
    assert "event <b>39</b>" in earlier  # a step back
    page = client.get(f"/runs/{run['id']}")
    assert page.status_code == 200
    assert f"of {total}" in page.text
    trace = client.get(f"/api/runs/{run['id']}/trace").json()
    assert trace["traceEvents"]


def recorded_events(client: httpx.Client, run_id: str) -> int | None:
    for rec in client.get("/api/recordings").json():
        if rec["id"] == run_id:
            count: int = rec["events"]
            return count
    return None


def same_stage(replayed: str, live: str) -> bool:
    """The same stage but for the run bar (a replay says it is one)."""
    return _normal(_stage(replayed)) == _normal(_stage(live))


def _stage(html: str) -> str:
    """A frame without its run bar."""
    return re.sub(r'<div id="runbar".*?\n</div>', "", html, count=1, flags=re.S)


def _normal(html: str) -> str:
    # How many watch live is not part of the run's state.
    html = re.sub(r" · \d+ watching", "", html)
    return re.sub(r"\s+", " ", html).strip()


@pytest.mark.live
def test_recordings_api_rename_export_delete(client: httpx.Client) -> None:
    r = client.post("/api/runs", json={"experiment": "producer-consumer", "params": FAST})
    run_id = r.json()["id"]
    read_events(client, run_id)
    deadline = time.monotonic() + 10
    while client.get(f"/api/recordings/{run_id}/export").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    renamed = client.patch(f"/api/recordings/{run_id}", json={"name": "demo <b>"})
    assert renamed.json()["name"] == "demo <b>"
    assert "demo &lt;b&gt;" in client.get("/runs").text
    assert client.patch(f"/api/recordings/{run_id}", json={"name": "x" * 101}).status_code == 422
    exported = client.get(f"/api/recordings/{run_id}/export").json()
    assert exported["run"]["id"] == run_id
    assert exported["events"][0]["seq"] == 1
    named = client.post(f"/runs/{run_id}/rename", data={"name": "<i>again</i>"})
    assert named.text == "&lt;i&gt;again&lt;/i&gt;"
    assert client.get(f"/api/recordings/{run_id}/export").json()["run"]["name"] == "<i>again</i>"
    assert client.post(f"/runs/{run_id}/rename", data={"name": "y" * 101}).status_code == 422
    assert client.delete(f"/api/recordings/{run_id}").status_code == 204
    assert client.get(f"/runs/{run_id}").status_code == 404
    assert f'id="rec-{run_id}"' not in client.get("/runs").text  # gone from the list too
    assert client.delete(f"/api/recordings/{run_id}").status_code == 404


def test_sigterm_loses_no_recorded_event() -> None:
    server = LiveServer()
    with httpx.Client(base_url=server.url, timeout=15) as c:
        run = c.post(
            "/api/runs",
            json={
                "experiment": "producer-consumer",
                "params": {"items_per_producer": 0, "produce_max_ms": 50, "speed": 5},
            },
        ).json()
        read_events(c, run["id"], limit=30)
    server.proc.send_signal(signal.SIGTERM)
    server.proc.wait(timeout=15)
    server.stop()
    rec = Recorder(server.db)
    recorded = rec.run(run["id"])
    evs = rec.events(run["id"])
    rec.close()
    assert recorded is not None
    assert recorded.status == "stopped"
    assert "shutting down" in recorded.reason
    assert [e.seq for e in evs] == list(range(1, recorded.events + 1))
    assert evs[-1].kind == "run_end"


@pytest.fixture(scope="module")
def limited_server() -> Iterator[LiveServer]:
    """A server that records 50 events of a run and keeps 20 in memory."""
    server = LiveServer("--record-limit", "50", env={"CONCVIZ_EVENT_BUFFER": "20"})
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def limited(limited_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=limited_server.url, timeout=15) as c:
        yield c


def _ended_run(c: httpx.Client) -> tuple[dict[str, Any], int]:
    """A run of more than 50 events, ended, with its recording written."""
    run = c.post("/api/runs", json={"experiment": "producer-consumer", "params": FAST}).json()
    total = read_events(c, run["id"])[-1]["seq"]  # the stream ends with the run
    assert total > 80
    deadline = time.monotonic() + 10
    while not (rec := _recording(c, run["id"])) or rec["run_events"] != total:
        assert time.monotonic() < deadline, rec
        time.sleep(0.05)
    return c.get(f"/api/runs/{run['id']}").json(), total


def _recording(c: httpx.Client, run_id: str) -> dict[str, Any] | None:
    return next((r for r in c.get("/api/recordings").json() if r["id"] == run_id), None)


@pytest.mark.live
def test_a_run_past_the_record_limit_goes_on_and_says_where_its_recording_stops(
    limited: httpx.Client,
) -> None:
    run, total = _ended_run(limited)
    assert run["status"] == "finished"  # the run itself went on to its end
    assert run["recording"] == {"events": 50, "limit": 50, "cut": True}
    with limited.stream("GET", f"/runs/{run['id']}/stream") as s:
        last = [m.data for m in messages(s) if m.event != "end"][-1]
    assert 'id="recording-cut"' in last
    assert "recorded up to event 50" in last
    rec = _recording(limited, run["id"])
    assert rec is not None
    assert (rec["events"], rec["run_events"], rec["cut"]) == (50, total, True)
    assert rec["status"] == "finished"
    exported = limited.get(f"/api/recordings/{run['id']}/export").json()
    assert [e["seq"] for e in exported["events"]] == list(range(1, 51))
    assert f"stops at event 50 of {total}" in limited.get(f"/runs/{run['id']}").text
    assert f"of {total}</span>" in limited.get("/runs").text


@pytest.mark.live
def test_a_resumed_event_stream_skips_what_neither_the_recording_nor_memory_holds(
    limited: httpx.Client, limited_server: LiveServer
) -> None:
    run, total = _ended_run(limited)
    seqs = [e["seq"] for e in read_events(limited, run["id"], last_event_id=0)]
    # 1-50 from the recording, then the 20 the server still holds, nothing
    # out of order or twice; and the gap is known, not waited for and logged.
    assert seqs == list(range(1, 51)) + list(range(total - 19, total + 1))
    assert "in neither memory nor the recording" not in limited_server.output()


@pytest.mark.live
def test_an_ended_run_streams_all_its_events_though_it_keeps_only_its_latest(
    client: httpx.Client,
) -> None:
    params = {**FAST, "items_per_producer": 300, "produce_max_ms": 2, "consume_max_ms": 2}
    run = client.post("/api/runs", json={"experiment": "producer-consumer", "params": params})
    run_id = run.json()["id"]
    total = read_events(client, run_id)[-1]["seq"]
    assert total > 3 * ENDED_RING  # more than the ended run keeps in memory
    assert client.get(f"/api/runs/{run_id}").json()["status"] == "finished"
    for after in (0, 1234):
        seqs = [e["seq"] for e in read_events(client, run_id, last_event_id=after)]
        assert seqs == list(range(after + 1, total + 1))


def recorded(tmp_path: Path, evs: list[Event]) -> Recorder:
    rec = Recorder(tmp_path / "runs.sqlite3")
    rec.begin("r1", PC.slug, {}, "2026-01-01T00:00:00")
    rec.append("r1", evs)
    rec.end("r1", "finished", "", evs[-1].t, len(evs), len(evs))
    return rec


def opened(rec: Recorder, reads: list[int] | None = None) -> Replay:
    """A recording's replay as the replay page opens it (app.web.replays)."""
    assert PC.fold is not None
    kind = shape(PC.new_state)

    def read(after: int, limit: int) -> list[Event]:
        evs = rec.events("r1", after, limit)
        if reads is not None:
            reads.append(len(evs))
        return evs

    return Replay(
        read,
        len(rec.times("r1")),
        rec.times("r1"),
        PC.new_state,
        PC.fold,
        {},
        stored=rec.kept_states("r1", kind),
        load=lambda k: rec.kept_frozen("r1", k),
        keep=lambda k, frozen: rec.keep_frozen("r1", k, frozen, kind),
    )


def test_a_recording_opens_without_folding_it_and_keeps_its_checkpoints_for_next_time(
    tmp_path: Path, run_events: list[Event]
) -> None:
    many = many_events(run_events, 3 * CHECKPOINT_EVERY + 10)
    rec = recorded(tmp_path, many)
    # The run's own final state, kept as it ended: the end shows at once.
    rec.keep_state("r1", len(many), fold_all(many), shape(PC.new_state))
    rec.close()
    rec = Recorder(tmp_path / "runs.sqlite3")
    reads: list[int] = []
    first = opened(rec, reads)
    assert first.state_at(len(many)) == fold_all(many)
    assert reads == []  # no event read for it
    assert not first.complete
    first.start_building()  # in the background, as the page shows its first frame
    assert first.wait_built(60)
    for k in (0, 1, CHECKPOINT_EVERY + 7, len(many) - 1):
        assert first.state_at(k) == fold_all(many[:k]), k
    rec.close()  # the checkpoints are written

    rec = Recorder(tmp_path / "runs.sqlite3")
    reads = []
    again = opened(rec, reads)
    assert again.complete  # nothing to build
    rng = random.Random(3)
    for k in [rng.randrange(len(many)) for _ in range(8)]:
        reads.clear()
        assert again.state_at(k) == fold_all(many[:k]), k
        assert sum(reads) < CHECKPOINT_EVERY  # from the nearest kept checkpoint
    rec.close()


def test_a_long_recordings_checkpoints_are_not_all_held_in_memory(
    tmp_path: Path, run_events: list[Event], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past IN_MEMORY, the checkpoints the recording has are read from it
    again when a jump needs one, and every jump is as right as before, even
    to one handed to the recording and not written yet."""
    monkeypatch.setattr(replay_module, "IN_MEMORY", 2)
    many = many_events(run_events, 6 * CHECKPOINT_EVERY + 10)
    recorded(tmp_path, many).close()
    rec = Recorder(tmp_path / "runs.sqlite3")
    replay = opened(rec)
    assert replay.length == len(many)
    replay.start_building()
    assert replay.wait_built(60)
    assert len(replay._checkpoints) <= 1 + 2  # the start, and two
    points = [k * CHECKPOINT_EVERY + d for k in range(7) for d in (0, 3)]
    for k in [*points, *reversed(points)]:  # some perhaps not written yet
        assert replay.state_at(k) == fold_all(many[:k]), k
        assert len(replay._checkpoints) <= 1 + 2
    rec.close()

    def never_written(k: int) -> bytes:
        raise KeyError(k)

    assert PC.fold is not None
    lost = Replay(
        lambda after, limit: many[after : after + limit],
        len(many),
        TimesInMemory(e.t for e in many),
        PC.new_state,
        PC.fold,
        {},
        stored=frozenset({CHECKPOINT_EVERY, 2 * CHECKPOINT_EVERY}),
        load=never_written,
    )
    k = 2 * CHECKPOINT_EVERY + 5
    assert lost.state_at(k) == fold_all(many[:k])  # folded from the start instead


def test_states_kept_by_another_version_are_not_read(
    tmp_path: Path, run_events: list[Event]
) -> None:
    many = many_events(run_events, CHECKPOINT_EVERY)
    rec = recorded(tmp_path, many)
    rec.keep_state("r1", len(many), "a state of another shape", "0123456789abcdef")
    rec.close()
    rec = Recorder(tmp_path / "runs.sqlite3")
    assert opened(rec).state_at(len(many)) == fold_all(many)
    rec.close()


@pytest.mark.live
def test_a_full_speed_runs_recording_folds_to_the_live_state_it_ended_with() -> None:
    """Nothing lost on the way to the recording: the run's own final state
    (kept as it ended) is the fold of every recorded event, at full speed.
    A server of its own: opening its recording here marks its running runs
    failed."""
    server = LiveServer()
    try:
        with httpx.Client(base_url=server.url, timeout=20) as client:
            full_speed_run_folds_to_its_final_state(client, server.db)
    finally:
        server.stop()


def full_speed_run_folds_to_its_final_state(client: httpx.Client, db: Path) -> None:
    full_speed = {
        "producers": 2,
        "consumers": 2,
        "items_per_producer": 1000,
        "produce_max_ms": 0,
        "consume_max_ms": 0,
        "capacity": 20,
    }
    run = client.post("/api/runs", json={"experiment": PC.slug, "params": full_speed}).json()
    deadline = time.monotonic() + 60
    while client.get(f"/api/runs/{run['id']}").json()["status"] not in ("finished", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    total = client.get(f"/api/runs/{run['id']}").json()["recording"]["events"]
    assert total > 8000
    rec = Recorder(db)
    try:
        deadline = time.monotonic() + 10
        while not rec.kept_states(run["id"], shape(PC.new_state)):
            assert time.monotonic() < deadline, "the run's final state was not kept"
            time.sleep(0.05)
        (end,) = rec.kept_states(run["id"], shape(PC.new_state))
        assert end == total
        assert PC.fold is not None
        evs = rec.events(run["id"])
        assert [e.seq for e in evs] == list(range(1, total + 1))
        folded = Replay.of(evs, PC.new_state, PC.fold, run["params"]).state_at(total)
        assert folded == rec.kept_state(run["id"], end)
    finally:
        rec.close()
