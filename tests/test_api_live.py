"""The HTTP contract against a real server (uvicorn on a free port)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import psutil
import pytest
from conftest import LiveServer
from probes import start, wait_for
from ssereader import messages, read_events

from app.experiments import EXPERIMENTS

pytestmark = pytest.mark.live

FAST = EXPERIMENTS["producer-consumer"].quick_params  # a run of a second or so
ENDLESS = {"items_per_producer": 0, "produce_min_ms": 100, "produce_max_ms": 200, "speed": 1}
ENDED = ("finished", "stopped", "failed")


def test_healthz(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_experiments_list_schema_and_defaults(client: httpx.Client) -> None:
    exps = {e["slug"]: e for e in client.get("/api/experiments").json()}
    pc = exps["producer-consumer"]
    assert pc["built"] is True
    props = pc["schema"]["properties"]
    assert props["producers"]["minimum"] == 1
    assert props["producers"]["maximum"] == 16
    assert props["capacity"]["maximum"] == 20
    assert props["backend"]["enum"] == ["process", "thread"]
    assert pc["defaults"]["items_per_producer"] == 10
    assert set(pc["live_params"]) == {"producers", "consumers", "speed"}


def workers_of(run: dict[str, Any], role: str) -> list[dict[str, Any]]:
    """The run's producers or consumers (main is the program's own process)."""
    return [w for w in run["workers"] if w["role"] == role and w["pid"]]


def test_run_finishes_with_exact_accounting(client: httpx.Client) -> None:
    run = start(client, **FAST)
    assert run["status"] in ("starting", "running")
    events = read_events(client, run["id"])
    final = client.get(f"/api/runs/{run['id']}").json()
    assert final["status"] == "finished"
    assert final["counters"]["produced"] == 15
    assert final["counters"]["consumed"] == 15
    assert final["counters"]["in_queue"] == 0
    assert final["counters"]["duplicates"] == 0
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    # What the consumers took from q, as the tracer saw it (the sentinels aside).
    taken = [e["data"]["v"] for e in events if e["kind"] == "get" and e["worker"].startswith("C")]
    items = sorted(v.strip("'") for v in taken if v != "None")
    assert items == sorted(f"P{p}#{n}" for p in (1, 2, 3) for n in range(1, 6))
    lesson = final["lesson"]
    assert lesson["made"] == {"P1": 5, "P2": 5, "P3": 5}
    assert sum(lesson["used"].values()) == 15
    assert lesson["accounting"].startswith("accounting: 15 produced by 3 producers, 15 consumed")
    workers = workers_of(final, "producer") + workers_of(final, "consumer")
    assert {w["name"] for w in workers} == {"P1", "P2", "P3", "C1", "C2"}
    assert all(w["reason"] == "sentinel" for w in workers_of(final, "consumer"))
    pids = {w["pid"] for w in final["workers"]}
    assert len(pids) == 6  # main, and a process for each producer and consumer
    assert not any(_running(pid) for pid in pids)


def test_event_stream_resumes_after_last_event_id(client: httpx.Client) -> None:
    run = start(client, **FAST)
    first = read_events(client, run["id"], limit=10)
    assert [e["seq"] for e in first] == list(range(1, 11))
    rest = read_events(client, run["id"], last_event_id=10)
    assert rest[0]["seq"] == 11
    seqs = [e["seq"] for e in first + rest]
    assert seqs == list(range(1, len(seqs) + 1))  # no gap, no duplicate
    assert rest[-1]["kind"] == "run_end"


def test_html_stream_starts_with_a_full_snapshot(client: httpx.Client) -> None:
    run = start(client, **ENDLESS)
    with client.stream("GET", f"/runs/{run['id']}/stream") as r:
        assert r.status_code == 200
        first = next(messages(r))
    for part in ('id="runbar"', 'id="counters"', 'id="queue"', 'id="workers"', 'id="log"'):
        assert part in first.data
    client.post(f"/api/runs/{run['id']}/stop")


def test_patch_producers_adds_real_processes_then_stop_ends_them(client: httpx.Client) -> None:
    run = start(client, producers=2, consumers=1, **ENDLESS)

    def producers(r: dict[str, Any]) -> list[dict[str, Any]]:
        return [w for w in workers_of(r, "producer") if w["alive"]]

    wait_for(client, run["id"], lambda r: len(producers(r)) == 2)
    r = client.patch(f"/api/runs/{run['id']}", json={"params": {"producers": 4}})
    assert r.status_code == 200, r.text
    assert r.json()["params"]["producers"] == 4
    now = wait_for(client, run["id"], lambda r: len(producers(r)) == 4)
    pids = {w["pid"] for w in now["workers"]}
    assert {w["name"] for w in producers(now)} == {"P1", "P2", "P3", "P4"}
    assert len({w["pid"] for w in producers(now)}) == 4  # a real process each
    assert all(psutil.pid_exists(p) for p in pids)
    stopped = client.post(f"/api/runs/{run['id']}/stop").json()
    assert stopped["status"] == "stopped"
    # Ended (a child of the program's main may wait a moment as a zombie for
    # init to reap it).
    assert not any(_running(p) for p in pids)


def test_lowering_the_counts_lets_surplus_workers_leave_after_their_item(
    client: httpx.Client,
) -> None:
    run = start(client, producers=3, consumers=3, **ENDLESS)
    wait_for(client, run["id"], lambda r: len(workers_of(r, "consumer")) == 3)
    r = client.patch(f"/api/runs/{run['id']}", json={"params": {"producers": 1, "consumers": 1}})
    assert r.status_code == 200, r.text

    def left(r: dict[str, Any], role: str) -> list[dict[str, Any]]:
        return [w for w in workers_of(r, role) if not w["alive"]]

    now = wait_for(
        client,
        run["id"],
        lambda r: len(left(r, "producer")) == 2 and len(left(r, "consumer")) == 2,
    )
    # The newest producers were told to leave; any two consumers took a sentinel.
    assert {w["name"] for w in left(now, "producer")} == {"P2", "P3"}
    assert {w["reason"] for w in left(now, "producer")} == {"fewer"}
    assert {w["reason"] for w in left(now, "consumer")} == {"sentinel"}
    assert now["lesson"]["sentinels_put"] == 2
    assert now["status"] == "running"
    assert [w["name"] for w in workers_of(now, "producer") if w["alive"]] == ["P1"]
    client.post(f"/api/runs/{run['id']}/stop")


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"producers": 0}, "producers", "from 1 to 16"),
        ({"producers": 17}, "producers", "from 1 to 16"),
        ({"consumers": 99}, "consumers", "from 1 to 16"),
        ({"capacity": 21}, "capacity", "from 0 to 20"),
        ({"capacity": -1}, "capacity", "from 0 to 20"),
        ({"items_per_producer": -5}, "items_per_producer", "from 0 to 1000"),
        ({"produce_max_ms": 10001}, "produce_max_ms", "from 0 to 10000"),
        ({"consume_min_ms": -1}, "consume_min_ms", "from 0 to 10000"),
        ({"speed": 0.01}, "speed", "from 0.1 to 20"),
        ({"speed": 21}, "speed", "from 0.1 to 20"),
        ({"speed": "fast"}, "speed", "a number"),
        ({"producers": "two"}, "producers", "an integer"),
        ({"producers": 2.5}, "producers", "an integer"),
        ({"backend": "gpu"}, "backend", "'process', 'thread'"),
        ({"colour": "red"}, "colour", "unknown field"),
        ({"produce_min_ms": 500, "produce_max_ms": 100}, "produce_min_ms", "Produce time max (ms)"),
    ],
)
def test_bad_params_get_422_naming_field_and_bounds(
    client: httpx.Client, params: dict[str, Any], field: str, words: str
) -> None:
    before = len(client.get("/api/runs").json())
    r = client.post("/api/runs", json={"experiment": "producer-consumer", "params": params})
    assert r.status_code == 422
    body = r.json()
    assert any(e["field"] == field and words in e["message"] for e in body["errors"]), body
    # The message names the field as the form does: by its label.
    known = EXPERIMENTS["producer-consumer"].params.model_fields  # type: ignore[union-attr]
    assert (known[field].title if field in known else field) in body["detail"]
    assert len(client.get("/api/runs").json()) == before  # nothing half-started


@pytest.mark.parametrize(
    "body",
    [{}, {"experiment": 5}, {"experiment": "producer-consumer", "params": [1]}, {"x": 1}],
)
def test_malformed_bodies_get_422(client: httpx.Client, body: dict[str, Any]) -> None:
    r = client.post("/api/runs", json=body)
    assert r.status_code == 422
    assert r.json()["errors"]


def test_not_json_gets_422(client: httpx.Client) -> None:
    r = client.post("/api/runs", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 422


def test_unknown_experiment_and_run_get_404(client: httpx.Client) -> None:
    r = client.post("/api/runs", json={"experiment": "nope", "params": {}})
    assert r.status_code == 404
    assert "producer-consumer" in r.json()["detail"]
    assert client.get("/api/runs/deadbeef").status_code == 404
    assert client.patch("/api/runs/deadbeef", json={"params": {"speed": 2}}).status_code == 404
    assert client.post("/api/runs/deadbeef/stop").status_code == 404
    assert client.get("/api/runs/deadbeef/events").status_code == 404
    assert client.get("/runs/deadbeef/stream").status_code == 404
    assert client.get("/experiments/nope").status_code == 404


def test_patch_rules(client: httpx.Client) -> None:
    run = start(client, **ENDLESS)
    url = f"/api/runs/{run['id']}"
    r = client.patch(url, json={"params": {"capacity": 3}})
    assert r.status_code == 409
    assert "capacity" in r.json()["detail"]
    assert "next" in r.json()["detail"]
    r = client.patch(url, json={"params": {"producers": 40}})
    assert r.status_code == 422
    assert "from 1 to 16" in r.json()["detail"]
    r = client.patch(url, json={"params": {"nope": 1}})
    assert r.status_code == 422
    r = client.patch(url, json={"params": {"speed": 5}})
    assert r.status_code == 200
    assert r.json()["params"]["speed"] == 5
    client.post(f"{url}/stop")
    r = client.patch(url, json={"params": {"speed": 2}})
    assert r.status_code == 409  # the run has ended


def test_limits_give_429_and_leave_nothing_half_started() -> None:
    # A run holds a place for main and for each producer and consumer.
    server = LiveServer(env={"CONCVIZ_MAX_RUNS": "2", "CONCVIZ_MAX_WORKERS": "7"})
    try:
        with httpx.Client(base_url=server.url, timeout=15) as c:
            a = start(c, producers=2, consumers=1, **ENDLESS)
            r = c.post(
                "/api/runs",
                json={"experiment": "producer-consumer", "params": {"producers": 3, **ENDLESS}},
            )
            assert r.status_code == 429
            assert "max_workers" in r.json()["detail"]
            b = start(c, producers=1, consumers=1, **ENDLESS)
            r = c.post("/api/runs", json={"experiment": "producer-consumer", "params": ENDLESS})
            assert r.status_code == 429
            assert "max_runs" in r.json()["detail"]
            r = c.patch(f"/api/runs/{a['id']}", json={"params": {"producers": 4}})
            assert r.status_code == 429
            assert "max_workers" in r.json()["detail"]
            runs = c.get("/api/runs").json()
            assert {x["id"] for x in runs} == {a["id"], b["id"]}
            assert c.get(f"/api/runs/{a['id']}").json()["params"]["producers"] == 2
            for x in (a, b):
                assert c.post(f"/api/runs/{x['id']}/stop").json()["status"] == "stopped"
            start(c, producers=3, consumers=3, **ENDLESS)  # the slots came back
    finally:
        server.stop()


def test_form_start_with_bad_value_shows_message_next_to_control(client: httpx.Client) -> None:
    r = client.post(
        "/experiments/producer-consumer/start",
        data={"producers": "99", "consumers": "2", "speed": "1"},
    )
    assert r.status_code == 422
    assert 'hx-target="#err-producers"' in r.text
    assert "Producers must be an integer from 1 to 16 (got &#39;99&#39;)" in r.text


def test_server_stop_leaves_no_worker_behind() -> None:
    server = LiveServer()
    with httpx.Client(base_url=server.url, timeout=15) as c:
        run = start(c, producers=2, consumers=2, **ENDLESS)
        running = wait_for(c, run["id"], lambda r: sum(1 for w in r["workers"] if w["pid"]) == 5)
    pids = [w["pid"] for w in running["workers"]]
    server.stop()
    assert server.proc.returncode is not None
    deadline = time.monotonic() + 5
    while any(psutil.pid_exists(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(psutil.pid_exists(p) for p in pids), server.output()
    # Nothing was left for a resource tracker to clean up.
    assert "leaked" not in server.output()


def test_server_killed_takes_its_programs_processes_with_it() -> None:
    server = LiveServer()
    with httpx.Client(base_url=server.url, timeout=15) as c:
        run = start(c, producers=3, consumers=3, **ENDLESS)
        running = wait_for(c, run["id"], lambda r: sum(1 for w in r["workers"] if w["pid"]) == 7)
    family = [p.pid for p in psutil.Process(server.proc.pid).children(recursive=True)]
    pids = {w["pid"] for w in running["workers"]}
    assert pids <= set(family)
    server.proc.kill()  # SIGKILL: no lifespan shutdown, only the watchdogs
    server.proc.wait()
    server.stop()
    deadline = time.monotonic() + 5
    alive = list(family)
    while alive and time.monotonic() < deadline:
        alive = [p for p in family if _running(p)]
        time.sleep(0.05)
    assert not alive, f"left behind after SIGKILL: {alive}"


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


XSS = "<img src=x onerror=alert(1)>"


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/experiments/producer-consumer/stop", {"run_id": XSS}),
        ("/experiments/producer-consumer/live", {"field": XSS}),
        ("/experiments/producer-consumer/start", {"producers": XSS, XSS: "1"}),
    ],
)
def test_form_answers_escape_what_they_echo(
    client: httpx.Client, path: str, data: dict[str, str]
) -> None:
    r = client.post(path, data=data)
    assert r.status_code >= 400
    assert "<img" not in r.text
    assert "&lt;img" in r.text


def test_every_answer_carries_a_strict_content_security_policy(client: httpx.Client) -> None:
    for path in ("/", "/experiments/producer-consumer", "/api/experiments", "/healthz"):
        csp = client.get(path).headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "object-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp
        script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
        assert "unsafe-inline" not in script_src
        assert "unsafe-eval" not in script_src


def test_a_foreign_host_header_gets_400(client: httpx.Client) -> None:
    assert client.get("/healthz", headers={"host": "evil.example"}).status_code == 400
    assert client.get("/healthz", headers={"host": "localhost"}).status_code == 200
