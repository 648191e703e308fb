"""Two languages: every message has Chinese, and pages and frames speak it."""

from __future__ import annotations

import html
import re
import sys
from html.parser import HTMLParser
from typing import Any

import harness
import httpx
import pytest
from conftest import ROOT
from ssereader import messages, read_events

from app import i18n, reasons
from app.budget import WorkerBudget
from app.events import Event
from app.experiments import EXPERIMENTS, Experiment
from app.model import fold as default_fold
from app.web.render import render_frame
from app.web.replays import ReplayView

sys.path.insert(0, str(ROOT / "tools"))
import catalog  # noqa: E402


def test_every_message_has_a_chinese_translation() -> None:
    uses = catalog.extract()
    assert len(uses) > 200  # the extraction sees the app and the templates
    catalogs = {p.stem: catalog.load(p.stem) for p in catalog.PO_DIR.glob("*.po")}
    assert catalog.problems(catalogs, uses) == []


def test_the_language_is_the_visitors_choice_then_their_browsers() -> None:
    assert i18n.choose(None, None) == "en"
    assert i18n.choose(None, "zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert i18n.choose(None, "fr-FR, en;q=0.5") == "en"
    assert i18n.choose("en", "zh-CN") == "en"
    assert i18n.choose("xx", "zh") == "zh"
    with i18n.speaking("zh"):
        assert i18n._("Start") == "开始"
    assert i18n._("Start") == "Start"


@pytest.mark.live
def test_pages_frames_and_messages_in_chinese(client: httpx.Client) -> None:
    zh = {"accept-language": "zh-CN,zh;q=0.9"}
    home = client.get("/", headers=zh).text
    assert "每个实验都在这台机器上启动真实的进程或线程" in home
    assert '<html lang="zh-Hans">' in home
    assert "Each experiment starts real processes" in client.get("/").text
    page = client.get("/experiments/producer-consumer", headers=zh).text
    assert "生产者" in page
    assert "开始" in page
    bad = client.post(
        "/api/runs",
        json={"experiment": "producer-consumer", "params": {"producers": 99}},
        headers=zh,
    )
    assert "生产者必须是 1 到 16 之间的整数" in bad.json()["detail"]
    run = client.post(
        "/api/runs",
        json={"experiment": "producer-consumer", "params": {"items_per_producer": 2, "speed": 20}},
    ).json()
    read_events(client, run["id"])
    with client.stream("GET", f"/runs/{run['id']}/stream", headers=zh) as s:
        frame = next(messages(s)).data
    assert "已生产" in frame
    switched = client.get("/lang/zh?next=/runs", follow_redirects=False)
    assert switched.status_code == 303
    assert switched.headers["location"] == "/runs"
    assert "concviz_lang=zh" in switched.headers["set-cookie"]
    assert (
        client.get("/lang/zh?next=//evil.example", follow_redirects=False).headers["location"]
        == "/"
    )


def test_an_empty_message_is_no_text_not_the_catalogue_header() -> None:
    with i18n.speaking("zh"):
        assert i18n._("") == ""
        assert i18n.ngettext("", "", 1) == ""
        assert reasons.shown("") == ""
        assert i18n._("Start") == "开始"


# Every lesson's stage in Chinese: nothing of the catalogue's header, and no
# English sentence that has a Chinese translation.

HEADER_KEYS = ("Project-Id-Version", "Generated-By", "Content-Transfer-Encoding")
PLACEHOLDER = re.compile(r"%(?:\(\w+\))?[sdfg]")
VOID = frozenset({"br", "wbr", "img", "input", "meta", "link", "hr"})


class VisibleText(HTMLParser):
    """The text nodes a reader sees: not scripts or styles, and not the
    program's source (Python, in English by design)."""

    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[str] = []
        self._hidden: list[bool] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self._hidden.append(tag in ("script", "style") or ("id", "code") in attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID and self._hidden:
            self._hidden.pop()

    def handle_data(self, data: str) -> None:
        if not any(self._hidden) and data.strip():
            self.nodes.append(" ".join(data.split()))


def translated_english() -> set[str]:
    """Every msgid of the Chinese catalogues whose translation differs."""
    out: set[str] = set()
    for po in catalog.PO_DIR.glob("*.po"):
        for message in catalog.load(po.stem):
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strs = message.string if isinstance(message.string, tuple) else (message.string,)
            out |= {i for i, s in zip(ids, strs, strict=False) if i and s and s != i}
    return out


def sentences(msgid: str) -> list[str]:
    """The English runs of words in a message as a page would show them
    (markup gone, the parts filled in elsewhere left out): three words or more,
    so that a pid or a worker's name is not taken for a message."""
    text = html.unescape(re.sub(r"<[^>]+>", "", msgid))
    runs = (" ".join(piece.split()) for piece in PLACEHOLDER.split(text))
    return [run for run in runs if len(re.findall(r"[A-Za-z]+", run)) >= 3]


def recorded_run(exp: Experiment) -> list[Event]:
    """A real short run of `exp`, started as the registry starts it."""
    assert exp.params is not None
    params = exp.params.model_validate(exp.quick_params)
    rt: Any
    if exp.runtime is not None:  # a user's program has a runtime of its own
        budget = WorkerBudget(32)
        assert budget.acquire(exp.worker_count(params))
        recorder = harness.Recorder()
        rt = exp.runtime(exp, params, recorder, budget, time_limit_s=30.0)
        rt.start()
    else:
        rt, recorder, _budget = harness.start(exp, params, cap=32, time_limit_s=30.0)
    ended = rt.join(20.0)
    if not ended:
        rt.stop("test teardown")
        rt.join(10.0)
    assert ended, f"{exp.slug}: the run did not end"
    return recorder.events(rt.started_ns)


def stage_in_chinese(exp: Experiment, evs: list[Event]) -> tuple[str, str, set[str]]:
    """The stage after these events, drawn as the page draws it, in Chinese:
    (its status, its HTML, its workers' names)."""
    assert exp.params is not None
    params = exp.params.model_validate(exp.quick_params)
    state = exp.new_state()
    state.params = params.model_dump()
    for e in evs:
        (exp.fold or default_fold)(state, e)
    with i18n.speaking("zh"):
        page = render_frame(ReplayView("r1", exp, params, state))
    # The program's own words are not the page's: what it printed, its source.
    own = {c.text.strip() for c in getattr(state, "console", ()) if hasattr(c, "stream")}
    if exp.script is not None and exp.runtime is not None:
        own |= {line.strip() for line in exp.script(params.model_dump()).splitlines()}
    return state.status, page, set(state.workers) | own


def test_every_lesson_running_and_finished_speaks_chinese_only() -> None:
    english = translated_english()
    runs_of_words = {run: msgid for msgid in english for run in sentences(msgid)}
    built = [exp for exp in EXPERIMENTS.values() if exp.built and exp.quick_params]
    assert len(built) >= 7
    for exp in built:
        evs = recorded_run(exp)
        for cut, expected in ((len(evs) // 2, "running"), (len(evs), "finished")):
            status, page, names = stage_in_chinese(exp, evs[:cut])
            assert status == expected, (exp.slug, status)
            where = f"{exp.slug}, {status}"
            for key in HEADER_KEYS:
                assert key not in page, f"{where}: the catalogue header is on the stage"
            seen = VisibleText()
            seen.feed(page)
            text = " ".join(node for node in seen.nodes if node.strip() not in names)
            assert re.search(r"[\u4e00-\u9fff]", text), where
            leaked = sorted(
                {runs_of_words[run] for run in runs_of_words if run in text}
                | {node for node in seen.nodes if node in english and node not in names}
            )
            assert leaked == [], f"{where}: English with a translation is shown: {leaked}"
