"""Runs left behind must not block the class.

A run that would wait for ever ends itself after the idle limit and says
why; the runs page and a lesson page list the runs still going with their
live time and events, each with a Stop; a start refused at a limit names the
runs that hold it; a lesson's form starts from its defaults or the
presenter's own last choices, never from another client's API call.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import harness
import httpx
import psutil
import pytest
from conftest import LiveServer, tidy_client
from probes import start, wait_for, with_pids
from ssereader import messages

from app import events, i18n, reasons
from app.budget import WorkerBudget
from app.experiments import EXPERIMENTS
from app.experiments import joinable as jq
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.runtime import ProgramRuntime
from app.reasons import idle_reason
from app.web import choices, runlist

ENDED = ("finished", "stopped", "failed")
# Busy for ever: an event every 100-200 ms, so never idle.
ENDLESS: dict[str, Any] = {
    "items_per_producer": 0,
    "produce_min_ms": 100,
    "produce_max_ms": 200,
    "speed": 1,
}
IDLE_S = 1.0  # the test server's idle limit
PC = EXPERIMENTS["producer-consumer"]
assert PC.params is not None
DEFAULTS: dict[str, Any] = PC.params().model_dump()


# What a reader sees, without a server.


def test_the_idle_reason_is_said_in_minutes_or_seconds_and_in_chinese() -> None:
    assert idle_reason(120) == "ended after 2 min with nothing happening"
    assert idle_reason(90) == "ended after 90 s with nothing happening"
    assert idle_reason(0.5) == "ended after 0.5 s with nothing happening"
    with i18n.speaking("zh"):
        assert reasons.shown(idle_reason(120)) == "2 分钟内什么也没发生，已自动结束"
        assert reasons.shown(idle_reason(0.5)) == "0.5 秒内什么也没发生，已自动结束"


def test_a_runs_length_reads_as_a_person_says_it() -> None:
    assert runlist.span(12.34) == "12.3 s"
    assert runlist.span(125) == "2 min 05 s"
    assert runlist.span(3725) == "1 h 02 min"
    with i18n.speaking("zh"):
        assert runlist.span(125) == "2 分 05 秒"


def _cookie(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_the_form_cookie_is_read_like_any_input() -> None:
    mine = {**DEFAULTS, "producers": 3, "items_per_producer": 7}
    assert choices.decode(PC, choices.encode(mine)) == mine
    # Nothing usable: no cookie, not base64, not JSON, not an object, too long.
    for bad in (None, "", "%%%", _cookie("[1, 2]")[:-1] + "!", _cookie([1, 2]), "A" * 5000):
        assert choices.decode(PC, bad) == {}
    # A value out of its bounds falls back to its default; the rest is kept,
    # and a field the lesson does not have is dropped.
    kept = choices.decode(PC, _cookie({"producers": 99, "consumers": 3, "colour": "red"}))
    assert kept["producers"] == DEFAULTS["producers"]
    assert kept["consumers"] == 3
    assert "colour" not in kept


# Real workers, no server: the runtime ends an idle run itself.


@pytest.fixture
def runtimes() -> Iterator[list[ProgramRuntime]]:
    started: list[ProgramRuntime] = []
    yield started
    for rt in started:
        if not rt.done:
            rt.stop("test teardown")
            rt.join(10.0)


def start_runtime(
    runtimes: list[ProgramRuntime], slug: str, idle_limit_s: float, **params: Any
) -> tuple[ProgramRuntime, harness.Recorder, WorkerBudget]:
    exp = EXPERIMENTS[slug]
    assert exp.params is not None
    p = exp.params(**params)
    budget = WorkerBudget(64)
    assert budget.acquire(exp.worker_count(p))
    recorder = harness.Recorder()
    assert exp.runtime is not None
    rt = exp.runtime(exp, p, recorder, budget, time_limit_s=60, idle_limit_s=idle_limit_s)
    runtimes.append(rt)
    rt.start()
    return rt, recorder, budget


def run_end(recorder: harness.Recorder) -> dict[str, Any]:
    recorder.wait_for(lambda raw: any(r[4] == events.RUN_END for r in raw), timeout=20)
    end = next(r for r in recorder.raw if r[4] == events.RUN_END)
    data: dict[str, Any] = end[6] or {}
    return data


def assert_gone(pids: set[int]) -> None:
    deadline = time.monotonic() + 5.0
    while any(psutil.pid_exists(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [p for p in pids if psutil.pid_exists(p)] == []


def test_a_playground_nobody_uses_ends_itself_after_the_idle_limit(
    runtimes: list[ProgramRuntime],
) -> None:
    rt, recorder, budget = start_runtime(runtimes, "queue", 0.3, mode="buttons")
    assert run_end(recorder) == {
        "outcome": "stopped",
        "reason": "ended after 0.3 s with nothing happening",
    }
    assert rt.join(10.0)
    assert budget.held == 0
    pids = {r[2] for r in recorder.raw if r[4] == K.PROC}
    assert pids
    assert_gone(pids)


def test_a_naive_hang_is_diagnosed_then_ends_itself(runtimes: list[ProgramRuntime]) -> None:
    # main would give up on its join() after a minute: the idle limit comes first.
    params = {**jq.QUICK_PARAMS, "mode": jq.NAIVE, "hang_after_ms": 60000}
    rt, recorder, budget = start_runtime(runtimes, "joinable", 1.0, **params)
    assert run_end(recorder)["reason"] == "ended after 1 s with nothing happening"
    assert rt.join(10.0)
    assert budget.held == 0
    evs = recorder.events(rt.started_ns)
    # The hang happened, and was named, before the run ended for it.
    before_end = jq.fold_all([e for e in evs if e.kind != events.RUN_END])
    assert before_end.diagnosis is not None
    assert before_end.diagnosis["consumers_in_get"] == ["C1", "C2"]
    pids = set(jq.fold_all(evs).procs)
    assert len(pids) == 6
    assert_gone(pids)


def test_paused_or_in_step_mode_a_run_is_not_idle(runtimes: list[ProgramRuntime]) -> None:
    rt, recorder, _ = start_runtime(runtimes, "queue", 0.5, mode="buttons")
    recorder.wait_for(lambda raw: any(r[4] == K.PROC for r in raw))  # the program runs
    assert rt.pause()
    rt.set_stepping(True)
    # (An idle limit a loaded machine cannot miss before the pause.)
    # Idle limits pass; the clock stands while the class is meant to wait.
    time.sleep(1.0)
    assert not any(r[4] == events.RUN_END for r in recorder.raw)
    assert rt.resume()
    time.sleep(1.0)
    assert not any(r[4] == events.RUN_END for r in recorder.raw)
    rt.set_stepping(False)
    assert run_end(recorder)["reason"] == "ended after 0.5 s with nothing happening"


# A real server: two runs at most, twelve workers, a run idle for 1 s ends.


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    s = LiveServer(
        env={
            "CONCVIZ_MAX_RUNS": "2",
            "CONCVIZ_MAX_WORKERS": "12",
            "CONCVIZ_IDLE_LIMIT": str(IDLE_S),
        }
    )
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with tidy_client(server, 20) as c:
        yield c


def busy(client: httpx.Client, **params: Any) -> dict[str, Any]:
    """An endless producer/consumer run, with its workers up and its first
    items made."""
    run = start(client, **{**ENDLESS, **params})
    return wait_for(client, run["id"], lambda r: with_pids(4)(r) and r["events"] > 10)


def pids_of(run: dict[str, Any]) -> set[int]:
    return {w["pid"] for w in run["workers"] if w["pid"]}


def part(page: str, element_id: str) -> str:
    """The HTML of the element with this id, up to its end tag (no nesting of
    the same tag inside it)."""
    found = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>.*?</\1>', page, re.S)
    assert found, f"no #{element_id} in the page"
    return found.group(0)


def text(fragment: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", fragment).split())


def field_value(page: str, name: str) -> str:
    found = re.search(rf'id="f-{name}"[^>]*?value="([^"]*)"', page, re.S)
    assert found, name
    return found.group(1)


@pytest.mark.live
def test_a_refused_start_names_the_runs_that_hold_the_limit(client: httpx.Client) -> None:
    a = busy(client)
    r = client.post("/api/runs", json={"experiment": "queue", "params": {}})  # 11 workers
    assert r.status_code == 429
    detail = r.json()["detail"]
    assert "max_workers" in detail
    assert f"producer-consumer run {a['id']} (running for" in detail
    assert "5 workers" in detail  # main, and two producers and two consumers

    b = busy(client)
    r = client.post("/api/runs", json={"experiment": "producer-consumer", "params": ENDLESS})
    assert r.status_code == 429
    detail = r.json()["detail"]
    assert "max_runs" in detail
    assert a["id"] in detail
    assert b["id"] in detail
    assert "POST /api/runs/{id}/stop" in detail


@pytest.mark.live
def test_the_form_offers_to_stop_the_runs_that_hold_the_limit(
    client: httpx.Client,
) -> None:
    a, b = busy(client), busy(client)
    r = client.post("/experiments/producer-consumer/start", data={"producers": "2"})
    assert r.status_code == 429
    offer = r.text[r.text.index('hx-target="#start-offer"') :]
    assert "At most 2 runs may go at once" in text(offer)
    for run in (a, b):
        assert f'hx-post="/runs/{run["id"]}/stop"' in offer
    zh = client.post(
        "/experiments/producer-consumer/start",
        data={"producers": "2"},
        headers={"accept-language": "zh"},
    )
    assert "最多只能同时进行 2 个运行" in zh.text

    # Its Stop stops the run for real, and the entry says so.
    stopped = client.post(f"/runs/{a['id']}/stop", data={"prefix": "holder", "with_title": "1"})
    assert stopped.status_code == 200
    assert f'id="holder-{a["id"]}"' in stopped.text
    assert "stopped: stopped by the teacher" in text(stopped.text)
    assert "hx-post" not in stopped.text
    assert client.get(f"/api/runs/{a['id']}").json()["status"] == "stopped"
    assert_gone(pids_of(a))
    # Room again: the form's Start starts, and the offer is emptied.
    r = client.post("/experiments/producer-consumer/start", data=ENDLESS)
    assert r.status_code == 201
    assert re.search(r'<div id="start-offer"[^>]*></div>', r.text)


@pytest.mark.live
def test_the_runs_page_shows_a_run_going_with_its_time_events_and_a_stop(
    client: httpx.Client,
) -> None:
    run = busy(client)
    row = part(client.get("/runs").text, f"rec-{run['id']}")
    cells = [text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells[1] == "Producer / consumer"
    seconds = float(cells[3].removesuffix(" s"))
    assert seconds > 0
    assert cells[4] == "running"
    assert int(cells[5]) > 10
    assert f'hx-post="/runs/{run["id"]}/stop"' in row
    assert f'hx-get="/runs/{run["id"]}/row"' in row  # it keeps itself up to date

    wait_for(client, run["id"], lambda r: r["events"] > int(cells[5]))
    again = client.get(f"/runs/{run['id']}/row").text
    assert int(text(re.findall(r"<td[^>]*>(.*?)</td>", again, re.S)[5])) > int(cells[5])

    stopped = client.post(f"/runs/{run['id']}/stop", data={"view": "row"})
    assert stopped.status_code == 200
    assert "hx-trigger" not in stopped.text  # ended: it stops asking
    assert "stopped: stopped by the teacher" in text(stopped.text)
    assert f'href="/runs/{run["id"]}"' in stopped.text  # its replay
    assert_gone(pids_of(run))


@pytest.mark.live
def test_a_lesson_page_lists_every_run_of_the_lesson_still_going(
    client: httpx.Client,
) -> None:
    older, newer = busy(client), busy(client)
    page = client.get("/experiments/producer-consumer").text
    listed = part(page, "lesson-runs")
    for run in (older, newer):
        assert f'id="going-{run["id"]}"' in listed
        assert f'hx-post="/runs/{run["id"]}/stop"' in listed
    # The stage shows the newer; the older can be brought onto it.
    assert "on the stage" in part(listed, f"going-{newer['id']}")
    link = f'href="/experiments/producer-consumer?run={older["id"]}"'
    assert link in part(listed, f"going-{older['id']}")
    shown = client.get(f"/experiments/producer-consumer?run={older['id']}").text
    assert f'hx-sse:connect="/runs/{older["id"]}/stream"' in shown
    # It keeps itself up to date; another lesson's page does not list them.
    assert 'hx-get="/experiments/producer-consumer/going' in listed
    assert older["id"] in client.get("/experiments/producer-consumer/going").text
    assert older["id"] not in client.get("/experiments/lock").text

    client.post(f"/api/runs/{older['id']}/stop")
    again = client.get("/experiments/producer-consumer/going").text
    assert older["id"] not in again
    assert newer["id"] in again
    # Only the run on the stage going: the stage and its Stop say it all.
    alone = client.get(f"/experiments/producer-consumer/going?shown={newer['id']}").text
    assert f'id="going-{newer["id"]}"' not in alone
    assert "Still going" not in alone


@pytest.mark.live
def test_a_run_nobody_uses_ends_after_the_idle_limit_and_says_so_everywhere(
    client: httpx.Client,
) -> None:
    run = start(client, "queue", mode="buttons")
    ended = wait_for(client, run["id"], lambda r: r["status"] in ENDED, timeout=20)
    reason = "ended after 1 s with nothing happening"
    assert (ended["status"], ended["reason"]) == ("stopped", reason)
    assert all(not w["alive"] for w in ended["workers"])
    assert_gone(pids_of(ended))
    # The run bar, in the reader's language.
    zh = {"accept-language": "zh-CN"}
    with client.stream("GET", f"/runs/{run['id']}/stream", headers=zh) as s:
        frame = next(messages(s)).data
    assert "1 秒内什么也没发生，已自动结束" in text(part(frame, "run-reason"))
    # The recording, and the runs list.
    record = wait_for_recording(client, run["id"])
    assert (record["status"], record["reason"]) == ("stopped", reason)
    assert reason in text(part(client.get("/runs").text, f"rec-{run['id']}"))


def wait_for_recording(client: httpx.Client, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        found = [r for r in client.get("/api/recordings").json() if r["id"] == run_id]
        if found and found[0]["status"] in ENDED:
            record: dict[str, Any] = found[0]
            return record
        assert time.monotonic() < deadline, found
        time.sleep(0.05)


@pytest.mark.live
def test_the_form_starts_from_defaults_or_the_presenters_own_last_choice(
    server: LiveServer,
) -> None:
    url = "/experiments/producer-consumer"
    with tidy_client(server, 20) as api, tidy_client(server, 20) as teacher:
        # Someone's script starts an endless run through the API: nobody's
        # form takes its values for the next start; the live sliders, which
        # move the run on the stage, start where it is.
        endless = start(api, **ENDLESS, producers=3)
        page = teacher.get(url).text
        assert field_value(page, "items_per_producer") == "10"
        assert field_value(page, "produce_max_ms") == "2000"
        assert field_value(page, "producers") == "3"
        api.post(f"/api/runs/{endless['id']}/stop")
        assert field_value(teacher.get(url).text, "producers") == "2"  # it ended

        # The teacher's own start from the form is remembered, in the
        # teacher's browser only.
        r = teacher.post(f"{url}/start", data={**ENDLESS, "items_per_producer": "7"})
        assert r.status_code == 201
        cookie = r.headers["set-cookie"]
        assert "Path=/experiments/producer-consumer" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        page = teacher.get(url).text
        assert field_value(page, "items_per_producer") == "7"
        assert field_value(page, "produce_max_ms") == "200"
        assert field_value(api.get(url).text, "items_per_producer") == "10"

        # A live slider moved on the run is the teacher's choice too.
        run_id = re.search(r"Run (\w+) started", r.text)
        assert run_id
        live = teacher.post(
            f"{url}/live", data={"field": "producers", "producers": "4", "run_id": run_id.group(1)}
        )
        assert live.status_code == 200
        assert field_value(teacher.get(url).text, "producers") == "4"

        # "Hide the result" is the teacher's choice for the next start: a
        # run started with it keeps it ticked; Hide pressed during a run
        # that started shown does not tick it.
        hidden = re.compile(r'id="f-result_hidden"[^>]*checked')
        for tick, press_hide in ((True, False), (False, True)):
            form = {**ENDLESS, "result_hidden": "1"} if tick else ENDLESS
            r = teacher.post(f"{url}/start", data=form)
            assert r.status_code == 201, r.text
            started = re.search(r"Run (\w+) started", r.text)
            assert started
            if press_hide:
                teacher.post(f"{url}/hide", data={"run_id": started.group(1)})
            assert bool(hidden.search(teacher.get(url).text)) is tick
            api.post(f"/api/runs/{started.group(1)}/stop")

        # A cookie that is not ours is ignored.
        teacher.cookies.clear()
        teacher.cookies.set(choices.COOKIE, "not-base64!", path=choices.path(PC))
        answer = teacher.get(url)
        assert answer.status_code == 200
        assert field_value(answer.text, "items_per_producer") == "10"


@pytest.mark.live
def test_a_run_bigger_than_the_server_allows_is_told_so_not_to_stop_others() -> None:
    """Nothing runs: stopping runs would not help (it said 'held by: no run
    (they are ending)'); nor is one run 'runs'."""
    server = LiveServer(env={"CONCVIZ_MAX_WORKERS": "3", "CONCVIZ_MAX_RUNS": "1"})
    try:
        with tidy_client(server, 20) as c:
            r = c.post("/api/runs", json={"experiment": "producer-consumer", "params": {}})
            assert r.status_code == 429
            assert "needs 5 workers, more than the 3" in r.json()["detail"]
            page = c.post("/experiments/producer-consumer/start", data={}).text
            assert "This run needs 5 workers, more than the 3 this server allows" in page
            running = c.post("/api/runs", json={"experiment": "threads", "params": {}})
            assert running.status_code == 201, running.text
            again = c.post("/api/runs", json={"experiment": "threads", "params": {}})
            assert "at most 1 run may go at once" in again.json()["detail"]
    finally:
        server.stop()
