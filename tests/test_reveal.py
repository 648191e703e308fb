"""Predict, then reveal: the presenter hides a run's result until asked.

For every lesson: a run started hidden from the form ends with a stage (in
English and in Chinese) and a timeline that hold none of its outcome; the
reveal shows it, also to a viewer whose stream was open all along."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from ssereader import messages, read_events

from app.experiments import EXPERIMENTS

pytestmark = pytest.mark.live

ZH = {"accept-language": "zh-CN,zh;q=0.9"}
VOID = {"br", "wbr", "input", "img", "meta", "link", "hr"}


class Stage(HTMLParser):
    """A frame's elements: each with its id, classes and all the text in it."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[dict[str, Any]] = []
        self._open: list[dict[str, Any]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        el = {
            "tag": tag,
            "id": a.get("id"),
            "classes": (a.get("class") or "").split(),
            "text": "",
            "within": [o["id"] for o in self._open if o["id"]],
        }
        self.elements.append(el)
        if tag not in VOID:
            self._open.append(el)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self._open.pop()

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i]["tag"] == tag:
                del self._open[i:]
                break

    def handle_data(self, data: str) -> None:
        for el in self._open:
            el["text"] += data

    def text(self, el_id: str) -> str:
        found = [e for e in self.elements if e["id"] == el_id]
        assert found, f"no #{el_id}"
        return " ".join(found[0]["text"].split())

    def inside(self, parent_id: str, tag: str) -> list[dict[str, Any]]:
        return [e for e in self.elements if e["tag"] == tag and parent_id in e["within"]]

    def having(self, cls: str) -> list[str]:
        return [" ".join(e["text"].split()) for e in self.elements if cls in e["classes"]]


def hidden_frame(client: httpx.Client, run_id: str, headers: dict[str, str]) -> str:
    """The frame an ended, hidden run shows: its stream stays open (the
    reveal will come through it), so the first frame is the one."""
    with client.stream("GET", f"/runs/{run_id}/stream", headers=headers) as s:
        first = next(messages(s))
    assert first.event != "end"
    return first.data


def hidden_timeline(client: httpx.Client, run_id: str) -> str:
    with client.stream("GET", f"/runs/{run_id}/timeline") as s:
        first = next(messages(s))
    assert first.event != "end"
    return first.data


def final_frame(client: httpx.Client, run_id: str, headers: dict[str, str] | None = None) -> str:
    """The frame of an ended run whose result shows: its stream's last."""
    with client.stream("GET", f"/runs/{run_id}/stream", headers=headers or {}) as s:
        return [m.data for m in messages(s) if m.event != "end"][-1]


def start_hidden(client: httpx.Client, slug: str, params: dict[str, Any]) -> str:
    """Start from the lesson's form with "Hide the result" ticked."""
    form = {k: str(v) for k, v in params.items()} | {"result_hidden": "1"}
    r = client.post(f"/experiments/{slug}/start", data=form)
    assert r.status_code == 201, r.text
    # The very first stage is already hidden.
    assert 'id="result-hidden"' in r.text
    found = re.search(r"Run (\w+) started", r.text)
    assert found, r.text
    return found.group(1)


def no_digit(texts: list[str]) -> bool:
    return bool(texts) and not any(re.search(r"\d", t) for t in texts)


# Each lesson: its parameters, and what its hidden and its revealed stage
# show, given the run object (which says the outcome).
Check = Callable[[Stage, Stage, dict[str, Any], str], None]


def lock(hidden: Stage, shown: Stage, run: dict[str, Any], tl: str) -> None:
    actual = run["lesson"]["result"]["actual"]
    assert hidden.text("lk-actual") == "?"
    assert hidden.text("lk-lost") == "?"
    assert hidden.text("lk-most") == "?"
    # What each worker read and wrote: every one reading the same value is
    # the answer.
    assert no_digit(hidden.having("lk-doing"))
    for kind in ("ev-read", "ev-write", "ev-round_end"):
        assert hidden.having(kind), kind
        assert all("…" in t for t in hidden.having(kind)), kind
    # The program's last line counts the lost updates.
    assert not any("accounting" in t for t in hidden.having("ev"))
    assert any("accounting" in t for t in shown.having("ev"))
    assert shown.text("lk-actual") == str(actual)
    # What the workers wrote shows again, the last of it the final value.
    assert all(re.search(r"\d", t) for t in shown.having("lk-doing"))
    assert any(str(actual) in t for t in shown.having("lk-doing"))
    assert not any("…" in t for t in shown.having("ev-write"))


def producer_consumer(hidden: Stage, shown: Stage, run: dict[str, Any], tl: str) -> None:
    assert hidden.text("c-consumed") == "?"
    assert hidden.text("c-throughput") == "?"
    assert no_digit(hidden.having("card-foot"))
    # The program's last line, its accounting, waits in the console.
    assert not any("accounting" in t for t in hidden.having("out-stdout"))
    assert shown.text("c-consumed") == str(run["counters"]["consumed"])
    assert all(re.search(r"\d", t) for t in shown.having("card-foot"))
    assert any(t.startswith("main accounting: 15 produced") for t in shown.having("out-stdout"))


def queue(hidden: Stage, shown: Stage, run: dict[str, Any], tl: str) -> None:
    c = run["counters"]
    for box in ("c-puts", "c-gets", "c-full", "c-empty"):
        assert hidden.text(box) == "?", box
    # How each call ended: what it returned, or that it raised.
    assert not hidden.having("phase-returned")
    assert not hidden.having("phase-raised")
    assert not hidden.having("qc-result")
    assert hidden.having("phase-hidden")
    # What each call returned or raised, in the log (the tracer's events on q).
    outcomes = [
        t for kind in ("ev-put", "ev-get", "ev-full", "ev-empty") for t in hidden.having(kind)
    ]
    assert outcomes
    assert all("…" in t for t in outcomes)
    assert shown.text("c-gets") == str(c["gets"])
    assert shown.text("c-full") == str(c["full_raised"])
    assert shown.having("phase-returned")
    assert shown.having("qc-result")


def joinable(hidden: Stage, shown: Stage, run: dict[str, Any], tl: str) -> None:
    c = run["counters"]
    # What is still in the queue, or unfinished, once main's code ends is lost.
    for box in ("c-lost", "c-consumed", "c-unfinished", "c-in-queue"):
        assert hidden.text(box) == "?", box
    assert not hidden.having("chip")
    assert not hidden.having("jq-lost")
    assert not hidden.having("jq-lost-item")
    assert [e for e in hidden.elements if (e["id"] or "").startswith("lost-")] == []
    assert hidden.having("ev-reaped")
    assert all("…" in t for t in hidden.having("ev-exit") + hidden.having("ev-reaped"))
    # How the eaters ended, and the program's accounting line.
    assert "st-cut_off" not in tl
    assert "st-killed" not in tl
    assert not any("accounting" in t for t in hidden.having("text"))
    assert any("accounting" in t for t in shown.having("text"))
    assert shown.text("c-lost") == str(c["lost_items"])
    assert shown.text("c-consumed") == str(c["consumed"])


def threads(hidden: Stage, shown: Stage, run: dict[str, Any], tl: str) -> None:
    c = run["counters"]
    for box in ("th-child-first", "th-main-first", "th-read-thread", "th-read-process"):
        assert hidden.text(box) == "?", box
    strip = [e for e in hidden.elements if (e["id"] or "").startswith("th-r-")]
    assert strip
    assert all(e["text"] == "?" for e in strip)
    assert all("…" in t for t in hidden.having("ev-x_read"))
    assert shown.text("th-child-first") == str(c["child_first"])
    assert shown.text("th-main-first") == str(c["main_first"])
    assert (shown.text("th-read-thread"), shown.text("th-read-process")) == ("10", "100")


def daemon(hidden: Stage, shown: Stage, run: dict[str, Any], tl: str) -> None:
    # Nothing after main's code ends: who was still there, who said 'over'.
    for prefix in ("thr", "proc"):
        assert len(hidden.inside(f"dm-facts-{prefix}", "li")) == 1  # main's code ended
        assert hidden.text(f"dm-secret-{prefix}-daemon") == ""
    for cls in ("ghost", "ok", "stop"):
        assert not [
            e for e in hidden.elements if cls in e["classes"] and e["tag"] in ("rect", "text")
        ], cls
    assert not any("over" in t for t in hidden.having("console-lines"))
    assert hidden.having("ev-exit")
    assert all("…" in t for t in hidden.having("ev-exit") + hidden.having("ev-reaped"))
    assert "st-killed" not in tl
    assert "st-finished" not in tl
    assert "st-cut_off" not in tl
    assert [e for e in shown.elements if "stop" in e["classes"] and e["tag"] == "text"]
    assert any("over" in t for t in shown.having("console-lines"))


def ipc(hidden: Stage, shown: Stage, run: dict[str, Any], tl: str) -> None:
    assert run["counters"]["measured"] > 0
    assert not hidden.having("ipc-bar")
    assert hidden.having("ipc-hidden")
    claims = [e for e in hidden.elements if (e["id"] or "").startswith("claim-")]
    assert claims
    assert all("v-pending" in e["classes"] for e in claims)
    assert [e for e in shown.elements if "ipc-bar" in e["classes"]]
    assert not shown.having("ipc-hidden")
    # What was measured, said beside each claim, is the outcome too.
    assert not hidden.having("ipc-measured")
    assert shown.having("ipc-measured")


def broker(hidden: Stage, shown: Stage, run: dict[str, Any], tl: str) -> None:
    # Work done twice, and the program's accounting line, tell the outcome.
    assert hidden.text("c-twice") == "?"
    assert not any("accounting" in t for t in hidden.having("out-stdout"))
    assert not any("processed twice" in t for t in hidden.having("ev-ack"))
    assert shown.text("c-twice") == str(run["counters"]["processed_twice"])
    assert any(t.startswith("main accounting: 10 items made") for t in shown.having("out-stdout"))


LESSONS: dict[str, tuple[dict[str, Any], Check]] = {
    "lock": ({"use_lock": False, "repeats": 1}, lock),
    "producer-consumer": ({}, producer_consumer),
    "queue": ({}, queue),
    "joinable": ({"mode": "no-join"}, joinable),
    "threads": ({}, threads),
    "daemon": ({}, daemon),
    "ipc": ({}, ipc),
    "broker": ({}, broker),
}


def test_every_built_lesson_has_its_hidden_outcome_checked() -> None:
    built = {slug for slug, e in EXPERIMENTS.items() if e.built and e.slug != "program"}
    assert built == set(LESSONS)


@pytest.mark.parametrize("slug", sorted(LESSONS))
def test_a_run_started_hidden_shows_no_outcome_until_revealed(
    client: httpx.Client, slug: str
) -> None:
    extra, check = LESSONS[slug]
    run_id = start_hidden(client, slug, {**EXPERIMENTS[slug].quick_params, **extra})
    read_events(client, run_id)  # the run is over: its result is known
    run = client.get(f"/api/runs/{run_id}").json()
    assert run["status"] == "finished", run
    assert run["result_hidden"] is True
    hidden_en = hidden_frame(client, run_id, {})
    hidden_zh = hidden_frame(client, run_id, ZH)
    assert "result hidden" in hidden_en
    assert "结果已隐藏" in hidden_zh
    assert "result hidden" not in hidden_zh
    # The replay would tell it: no link to it while hidden.
    assert f'href="/runs/{run_id}"' not in hidden_en
    timeline = hidden_timeline(client, run_id)

    # A viewer who watched all along: the reveal comes through their stream.
    with client.stream("GET", f"/runs/{run_id}/stream") as s:
        stream = messages(s)
        assert "result hidden" in next(stream).data
        assert (
            client.post(f"/api/runs/{run_id}/reveal", json={"result_hidden": False}).status_code
            == 200
        )
        revealed = next(stream)
        assert next(stream).event == "end"  # and then it ends, as an ended run's does
    assert "result hidden" not in revealed.data
    shown_zh = final_frame(client, run_id, ZH)
    for hidden, shown in ((hidden_en, revealed.data), (hidden_zh, shown_zh)):
        check(Stage(hidden), Stage(shown), run, timeline)


def test_hide_and_reveal_from_the_page_after_the_run_ended(client: httpx.Client) -> None:
    params = {**EXPERIMENTS["lock"].quick_params, "use_lock": False, "repeats": 1}
    run = client.post("/api/runs", json={"experiment": "lock", "params": params}).json()
    read_events(client, run["id"])
    actual = client.get(f"/api/runs/{run['id']}").json()["lesson"]["result"]["actual"]
    # A page opened after the end carries no live run id: the buttons act on
    # the run it shows, the lesson's latest. Their answer carries the stage.
    r = client.post("/experiments/lock/hide", data={"run_id": ""})
    assert r.status_code == 200
    assert "ask the class to predict" in r.text
    page = Stage(r.text.split("<hx-partial", 1)[1])
    assert page.text("lk-actual") == "?"
    r = client.post("/experiments/lock/reveal", data={"run_id": ""})
    assert Stage(r.text).text("lk-actual") == str(actual)
    # The message beside the buttons says so (an empty answer left the last one).
    assert r.text.startswith("Result shown")


def test_the_replay_of_a_run_whose_result_is_hidden_hides_it_until_the_reveal(
    client: httpx.Client,
) -> None:
    """A student may open it from the recorded runs while the class predicts."""
    params = {**EXPERIMENTS["lock"].quick_params, "use_lock": False, "repeats": 1}
    run = client.post("/api/runs", json={"experiment": "lock", "params": params}).json()
    client.post(f"/api/runs/{run['id']}/reveal", json={"result_hidden": True})
    read_events(client, run["id"])
    actual = client.get(f"/api/runs/{run['id']}").json()["lesson"]["result"]["actual"]
    for _ in range(100):  # its recording is written a moment after its end
        if client.get(f"/api/recordings/{run['id']}/export").status_code == 200:
            break
        time.sleep(0.05)
    for path in (f"/runs/{run['id']}", f"/runs/{run['id']}/frame?at=1000000"):
        r = client.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        assert Stage(r.text).text("lk-actual") == "?", path
    client.post(f"/api/runs/{run['id']}/reveal", json={"result_hidden": False})
    assert Stage(client.get(f"/runs/{run['id']}").text).text("lk-actual") == str(actual)
