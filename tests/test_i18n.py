"""Two languages: every message has Chinese, and pages and frames speak it."""

from __future__ import annotations

import sys

import httpx
import pytest
from conftest import ROOT
from ssereader import messages, read_events

from app import i18n

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
    assert "producers 必须是1 到 16 之间的整数" in bad.json()["detail"]
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
