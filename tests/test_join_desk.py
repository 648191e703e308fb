"""A run's joining (app.joining.desk): token, workers, cap, silence."""

from __future__ import annotations

import pytest

from app.joining.desk import MAX_JOINED, SILENT_S, JoinBoard, JoinDesk, JoinRefused
from app.programs.boot.concviz_tracer import kinds as K

ROLES = ("consumer", "producer")


def test_a_token_is_made_once_and_a_revoked_one_never_works_again() -> None:
    desk = JoinDesk("ab12", ROLES)
    assert not desk.open
    with pytest.raises(JoinRefused) as caught:
        desk.check("anything")
    assert caught.value.status == 403
    token = desk.open_joining()
    assert desk.open_joining() == token
    desk.check(token)
    assert not desk.admits(token[:-1] + ("A" if token[-1] != "A" else "B"))
    desk.worker("w1" * 8, "alice", "consumer", 0, now=0.0)
    gone = desk.revoke()
    assert [w.label for w in gone] == ["alice/consumer"]
    assert not desk.admits(token)
    assert desk.open_joining() != token


def test_workers_get_labels_unique_in_the_run_even_from_one_host() -> None:
    desk = JoinDesk("ab12", ROLES, "redis:h:1/3/")
    a = desk.worker("a" * 16, "alice", "consumer", 5, now=0.0)
    b = desk.worker("b" * 16, "alice", "producer", 5, now=0.0)
    assert (a.label, b.label) == ("alice/consumer", "alice #2/producer")
    assert a.translation.redis_prefix == "redis:h:1/3/"
    desk.leave("a" * 16)
    c = desk.worker("c" * 16, "alice", "consumer", 5, now=0.0)
    assert c.label == "alice #3/consumer"  # never the label of one that left
    assert desk.worker("b" * 16, "alice", "producer", 9, now=1.0).translation.offset_ns == 9
    with pytest.raises(JoinRefused) as caught:
        desk.worker("b" * 16, "bob", "producer", 9, now=1.0)
    assert caught.value.status == 409


def test_a_run_takes_at_most_max_joined_workers() -> None:
    desk = JoinDesk("ab12", ROLES)
    for i in range(MAX_JOINED):
        desk.worker(f"{i:016d}", "h", "consumer", 0, now=0.0)
    with pytest.raises(JoinRefused) as caught:
        desk.worker("x" * 16, "h", "consumer", 0, now=0.0)
    assert caught.value.status == 429
    assert f"{MAX_JOINED} joined workers" in str(caught.value)
    desk.leave(f"{0:016d}")
    desk.worker("x" * 16, "h", "consumer", 0, now=0.0)


def test_a_silent_worker_is_gone_with_its_processes() -> None:
    desk = JoinDesk("ab12", ROLES)
    w = desk.worker("a" * 16, "alice", "consumer", 0, now=0.0)
    w.saw(
        [
            (1, "alice/consumer", 7, 7, K.PROC, None, {"main": False}),
            (1, "alice/Process-1", 8, 8, K.PROC, None, {}),
            (2, "alice/consumer", 7, 7, K.REAPED, "alice/Process-1", {"pid": 8}),
        ]
    )
    assert w.pids == {7}
    assert desk.silent(SILENT_S) == []
    desk.worker("a" * 16, "alice", "consumer", 0, now=SILENT_S)  # it spoke again
    assert desk.silent(2 * SILENT_S + 0.1) == [w]
    assert desk.workers == {}
    with pytest.raises(JoinRefused) as caught:  # shown gone: it joins again, anew
        desk.worker("a" * 16, "alice", "consumer", 0, now=2 * SILENT_S + 0.2)
    assert caught.value.status == 409


def test_the_board_keeps_a_desk_per_run() -> None:
    board = JoinBoard()
    assert board.get("ab12") is None
    desk = board.desk("ab12", ROLES)
    assert board.desk("ab12", ROLES) is desk
    assert board.desks() == [desk]
    board.forget("ab12")
    assert board.get("ab12") is None
