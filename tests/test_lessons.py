"""What every lesson must do, checked over all of them: its page in both
languages, a 422 naming the field and its bounds for any value out of them,
its program running on its own with the same story, words for every
event its run makes, and, run live, step mode, stop, replay and the
Perfetto trace. Each lesson's own behaviour is in its own test module."""

from __future__ import annotations

import re
import time
from collections import deque
from pathlib import Path
from typing import Any

import harness
import httpx
import probes
import pytest
from ssereader import messages, read_events
from test_i18n import recorded_run
from test_recording import recorded_events, same_stage

from app import i18n
from app.events import Event
from app.experiments import EXPERIMENTS, Experiment
from app.experiments.constants import constants, substitute
from app.web.render import render_frame
from app.web.replays import ReplayView

LESSONS = [e for e in EXPERIMENTS.values() if e.built and e.slug != "program"]
ZH = {"accept-language": "zh-CN,zh;q=0.9"}
# What the words templates fall back to for a kind they do not know:
# "<worker> (pid N): <kind>".
RAW_KIND = re.compile(r"\(pid \d+\): ([a-z_]+)\s*</li>")


def ids(exp: Experiment) -> str:
    return exp.slug


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def h1(page: str) -> str:
    m = re.search(r"<h1[^>]*>(.*?)</h1>", page, re.S)
    assert m is not None
    return m.group(1)


def out_of_bounds(exp: Experiment) -> list[tuple[str, Any, str]]:
    """(field, a value past its bounds, the bounds in words) for each
    numeric field of the lesson's form."""
    assert exp.params is not None
    out = []
    for name, prop in exp.schema()["properties"].items():
        low, high = prop.get("minimum"), prop.get("maximum")
        if low is None or high is None:
            continue
        out.append((name, high * 2 + 1, f"from {_num(low)}"))
        out.append((name, low - 1, f"to {_num(high)}"))
    return out


@pytest.mark.live
@pytest.mark.parametrize("exp", LESSONS, ids=ids)
def test_its_page_speaks_both_languages(client: httpx.Client, exp: Experiment) -> None:
    english = client.get(f"/experiments/{exp.slug}")
    chinese = client.get(f"/experiments/{exp.slug}", headers=ZH)
    assert english.status_code == chinese.status_code == 200
    assert exp.title in h1(english.text)
    with i18n.speaking("zh"):
        title_zh = i18n._(exp.title)
    assert title_zh != exp.title
    assert title_zh in h1(chinese.text)
    assert exp.title not in h1(chinese.text)


@pytest.mark.live
@pytest.mark.parametrize("exp", LESSONS, ids=ids)
def test_a_value_out_of_bounds_is_refused_naming_the_field_and_its_bounds(
    client: httpx.Client, exp: Experiment
) -> None:
    cases = out_of_bounds(exp)
    assert cases, f"{exp.slug} has no bounded field"
    for field, value, words in cases:
        r = client.post("/api/runs", json={"experiment": exp.slug, "params": {field: value}})
        assert r.status_code == 422, (field, value, r.text)
        errors = r.json()["errors"]
        assert any(e["field"] == field and words in e["message"] for e in errors), errors


def at_quick_speed(exp: Experiment, params: dict[str, Any]) -> str:
    """The lesson's program as downloaded with `params`, its own durations
    (constants named ``*_S`` or ``*_MS`` that the form does not set)
    divided by the quick speed, as the tracer scales a run's sleeps."""
    assert exp.script is not None
    text = exp.script(params)
    speed = float(params.get("speed", 1))
    durations = {
        name: value / speed
        for name, value in constants(text).items()
        if name.endswith(("_S", "_MS")) and isinstance(value, int | float)
    }
    return substitute(text, durations)


@pytest.mark.parametrize("exp", LESSONS, ids=ids)
def test_its_program_runs_on_its_own_and_ends_with_its_accounting(
    exp: Experiment, tmp_path: Path
) -> None:
    assert exp.params is not None
    backends = exp.params.model_fields.get("backend")
    for backend in ("process", "thread") if backends else (None,):
        params = {**exp.quick_params, **({"backend": backend} if backend else {})}
        path = tmp_path / exp.script_name(params)
        path.write_text(at_quick_speed(exp, params))
        # What a run takes from outside its program (the broker lesson's
        # Redis database), as concviz gives it.
        resource = exp.prepare() if exp.prepare is not None else None
        try:
            done = harness.run_alone(path, env=getattr(resource, "env", None))
        finally:
            if resource is not None:
                resource.close()
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.strip().splitlines()[-1].startswith("accounting:"), done.stdout


@pytest.mark.parametrize("exp", LESSONS, ids=ids)
def test_every_event_of_a_run_has_words(exp: Experiment) -> None:
    """A real quick run, every one of its events put in the log at once and
    the stage drawn, in English and in Chinese: no event is left as its raw
    kind."""
    evs = recorded_run(exp)
    assert exp.params is not None
    params = exp.params.model_validate(exp.quick_params)
    state: Any = exp.new_state()
    for e in evs:
        (exp.fold or (lambda s, ev: s))(state, e)
    state.log = deque(evs)
    for lang in ("en", "zh"):
        with i18n.speaking(lang):
            page = render_frame(ReplayView("r1", exp, params, state))
        raw = sorted(set(RAW_KIND.findall(page)))
        assert raw == [], f"{exp.slug} ({lang}): events without words: {raw}"


def test_a_limit_that_stops_a_run_is_said_in_words_in_its_log() -> None:
    """Not the limit's flag name ("seconds")."""
    exp = EXPERIMENTS["lock"]
    assert exp.params is not None
    params = exp.params.model_validate(exp.quick_params)
    limit = Event(1, 1.0, "main", 1, 0, "limit", None, {"limit": "seconds", "value": 61, "max": 60})
    state: Any = exp.fold_all([limit], params.model_dump())
    for lang, words in (
        ("en", "the program reached a limit: its run time"),
        ("zh", "程序达到了上限：运行时间"),
    ):
        with i18n.speaking(lang):
            assert words in render_frame(ReplayView("r1", exp, params, state))


@pytest.mark.live
@pytest.mark.parametrize("exp", LESSONS, ids=ids)
def test_live_it_steps_stops_replays_and_exports(client: httpx.Client, exp: Experiment) -> None:
    """At a classroom's pace (the lesson's defaults): step mode holds the
    program until a permit lets one of its workers on; the stopped run's
    replay ends on the stage its live frames ended on; its Perfetto trace
    holds its real pids."""
    # The queue lesson plays the lecture's example rather than wait for calls.
    own_pace = {"mode": "script"} if exp.slug == "queue" else {}
    rid = probes.start(client, exp.slug, **own_pace)["id"]
    probes.wait_for(client, rid, lambda run: run["events"] >= 15)
    assert client.post(f"/api/runs/{rid}/step", json={"on": True}).json()["stepping"] is True
    held = probes.wait_for(client, rid, lambda run: quiet(client, run) and waiting(run) != [])
    who = waiting(held)[0]
    assert client.post(f"/api/runs/{rid}/permit", json={"worker": who}).status_code == 200
    # A worker still on its way to its next call (a sleep of the lesson's
    # pace outlasts the quiet moment) may say meanwhile that it wants a
    # permit too; the first thing that happens is the permit given.

    def since_held() -> list[dict[str, Any]]:
        n = client.get(f"/api/runs/{rid}").json()["events"] - held["events"]
        evs = read_events(client, rid, last_event_id=held["events"], limit=n) if n > 0 else []
        return [e for e in evs if e["kind"] != "wants"]

    news = probes.settle(since_held, bool)
    assert (news[0]["kind"], news[0]["data"]) == ("permit", {"worker": who})
    assert client.post(f"/api/runs/{rid}/step", json={"on": False}).json()["stepping"] is False
    run = client.post(f"/api/runs/{rid}/stop").json()
    assert run["status"] in probes.ENDED

    with client.stream("GET", f"/runs/{rid}/stream") as s:
        live_final = [m.data for m in messages(s) if m.event != "end"][-1]
    total = len(read_events(client, rid))
    assert probes.settle(lambda: recorded_events(client, rid), lambda n: n == total) == total
    replayed = client.get(f"/runs/{rid}/frame", params={"at": total}).text
    assert same_stage(replayed.split("<hx-partial")[0], live_final)
    trace = client.get(f"/api/runs/{rid}/trace").json()
    pids = {e["pid"] for e in trace["traceEvents"]}
    assert {w["pid"] for w in run["workers"] if w["pid"]} <= pids


def waiting(run: dict[str, Any]) -> list[str]:
    """The live workers that wait for a permit, by name."""
    return sorted(w["name"] for w in run["workers"] if w["alive"] and w["wants"])


def quiet(client: httpx.Client, run: dict[str, Any]) -> bool:
    """Nothing happened in the run for a moment after `run` was read."""
    time.sleep(0.2)
    return bool(client.get(f"/api/runs/{run['id']}").json()["events"] == run["events"])


def test_a_run_says_how_many_watch_it_live_and_not_once_it_has_ended() -> None:
    exp = EXPERIMENTS["producer-consumer"]
    assert exp.params is not None
    params = exp.params.model_validate(exp.quick_params)
    state: Any = exp.new_state()
    state.status = "running"
    assert "3 watching" in render_frame(ReplayView("r1", exp, params, state), watchers=3)
    state.status = "finished"
    assert "watching" not in render_frame(ReplayView("r1", exp, params, state), watchers=3)
