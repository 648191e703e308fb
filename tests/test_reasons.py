"""A run's reason, kept in English, shown in the reader's language."""

from __future__ import annotations

import pytest

from app import i18n, reasons


@pytest.mark.parametrize(
    ("english", "chinese"),
    [
        ("P2 crashed (exit code -9)", "P2 崩溃了（退出码 -9）"),
        ("time limit reached (0.5 min)", "达到时间上限（0.5 分钟）"),
        ("internal error: boom (a) b", "内部错误：boom (a) b"),
        ("stopped by the teacher", "被老师停止"),
        (
            "cannot connect to the Redis server at unix:///tmp/r.sock: connection refused",
            "无法连接位于 unix:///tmp/r.sock 的 Redis 服务器：connection refused",
        ),
        (
            "the embedded Redis server was killed (SIGKILL)",
            "内置的 Redis 服务器被杀死了（SIGKILL）",
        ),
    ],
)
def test_a_reason_is_shown_in_chinese_with_its_parts(english: str, chinese: str) -> None:
    with i18n.speaking("en"):
        assert reasons.shown(english) == english
    with i18n.speaking("zh"):
        assert reasons.shown(english) == chinese


def test_what_the_runtime_writes_is_what_is_recognised() -> None:
    made = reasons.CRASHED % {"worker": "C1", "code": 1}
    assert made == "C1 crashed (exit code 1)"
    with i18n.speaking("zh"):
        assert reasons.shown(made) == "C1 崩溃了（退出码 1）"
        assert reasons.shown("nothing anyone says") == "nothing anyone says"
        assert reasons.shown("C1 crashed (exit code 1) and more") == (
            "C1 crashed (exit code 1) and more"
        )


def test_pages_show_reasons_through_the_filter() -> None:
    from app.web.render import TEMPLATES_DIR, env

    with i18n.speaking("zh"):
        shown = env.from_string("{{ r | reason }}").render(r="P1 crashed (exit code 1)")
    assert shown == "P1 崩溃了（退出码 1）"
    # Every template that shows a run's reason shows it so.
    for name in (
        "partials/_runbar.html",
        "partials/_run_row.html",
        "partials/_run_item.html",
        "partials/_event_words.html",
    ):
        source = (TEMPLATES_DIR / name).read_text()
        assert "reason | reason" in source, name
    # And why a lesson cannot start (its broker cannot serve).
    assert "unavailable|reason" in (TEMPLATES_DIR / "partials/_runctl.html").read_text()
