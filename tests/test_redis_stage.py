"""The fold of Redis lists and streams and what the stage says of them,
alone: events as several processes would send them, out of step."""

from __future__ import annotations

from redisstage import group, shown

from app.events import Event
from app.programs import diagnosis, view
from app.programs.model import fold_all
from app.programs.state import ProgramState

LIST_KEY, STREAM_KEY = "redis:/tmp/r.sock/0/jobs", "redis:/tmp/r.sock/0/orders"


def story(*steps: tuple[str, int, str, str, dict[str, object]]) -> ProgramState:
    """Fold (worker, pid, kind, key, data) steps, a hundredth of a second apart."""
    evs = [
        Event(n, n / 100, worker, pid, pid, kind, key, data)
        for n, (worker, pid, kind, key, data) in enumerate(steps, start=1)
    ]
    return fold_all(evs)


def new(
    worker: str, pid: int, key: str, type_name: str
) -> tuple[str, int, str, str, dict[str, object]]:
    return (
        worker,
        pid,
        "new",
        key,
        {"type": type_name, "lib": "redis", "name": key.rsplit("/", 1)[1]},
    )


def test_a_list_keeps_its_ends_and_a_pop_that_comes_before_its_push() -> None:
    state = story(
        new("main", 1, LIST_KEY, "RedisList"),
        new("C", 2, LIST_KEY, "RedisList"),
        ("main", 1, "put", LIST_KEY, {"v": "'a'", "size": 1, "end": "tail"}),
        ("main", 1, "put", LIST_KEY, {"v": "'b'", "size": 2, "end": "head"}),
        ("C", 2, "get", LIST_KEY, {"v": "'c'", "size": None, "end": "tail"}),  # its push is late
        ("C", 2, "get_wait", LIST_KEY, {"timeout": None, "end": "tail"}),
        ("main", 1, "put", LIST_KEY, {"v": "'c'", "size": 3, "end": "tail"}),
    )
    jobs = state.objs[LIST_KEY]
    assert (jobs.name, jobs.type) == ("jobs", "RedisList")  # the first `new`, kept
    assert list(jobs.items) == ["'b'", "'a'"]  # head first
    assert jobs.early == {}
    assert jobs.redis is not None
    assert jobs.redis.ends == {"C": "tail"}
    assert (state.workers["C"].op, state.workers["C"].on) == ("get", LIST_KEY)


def test_a_streams_late_events_leave_each_entry_where_the_server_put_it() -> None:
    who = {"group": "workers"}
    state = story(
        new("main", 1, STREAM_KEY, "RedisStream"),
        ("main", 1, "put", STREAM_KEY, {"v": "'old'", "id": "1-0", "size": None}),
        ("main", 1, "xgroup", STREAM_KEY, {**who, "start": "$"}),  # from the next entry on
        new("C1", 2, STREAM_KEY, "RedisStream"),
        # C1 got 2-0 (its put is late), and 3-0, whose ack by C2 after a claim is early.
        (
            "C1",
            2,
            "get",
            STREAM_KEY,
            {"v": "'a'", "id": "2-0", "again": False, **who, "consumer": "c1"},
        ),
        new("C2", 3, STREAM_KEY, "RedisStream"),
        (
            "C2",
            3,
            "claim",
            STREAM_KEY,
            {"ids": ["3-0"], **who, "consumer": "c2", "min_idle_ms": 10},
        ),
        ("C2", 3, "ack", STREAM_KEY, {"ids": ["3-0"], **who, "acked": 1}),
        ("main", 1, "put", STREAM_KEY, {"v": "'a'", "id": "2-0", "size": None}),
        ("main", 1, "put", STREAM_KEY, {"v": "'b'", "id": "3-0", "size": None}),
        ("main", 1, "put", STREAM_KEY, {"v": "'c'", "id": "4-0", "size": None}),
        (
            "C1",
            2,
            "get",
            STREAM_KEY,
            {"v": "'b'", "id": "3-0", "again": False, **who, "consumer": "c1"},
        ),
    )
    workers = group(state, STREAM_KEY)
    assert workers.start == "$"
    assert [(at, p.consumer) for at, p in workers.pending.items()] == [("2-0", "c1")]
    assert workers.backlog == {"4-0": "'c'"}  # not '1-0', before the group; nor those delivered
    assert (workers.delivered, workers.acked, workers.claimed) == (2, 1, 1)
    assert workers.consumers == {"c1": "C1", "c2": "C2"}
    assert (
        "orders Redis stream 4 entries added 'c' group workers backlog: 1 acknowledged: 1"
        " claimed: 1 c1 C1 'a' c2 C2 nothing pending"
    ) in shown(state)


def test_a_program_stuck_on_a_redis_list_is_told_that_another_client_could_push() -> None:
    state = story(
        ("main", 1, "run_start", "", {"backend": "process", "params": {}}),
        ("main", 100, "proc", "", {"name": "MainProcess", "ppid": 1, "main": True}),
        ("main", 100, "thread", "", {"name": "MainThread", "daemon": False, "main": True}),
        new("main", 100, LIST_KEY, "RedisList"),
        ("main", 100, "get_wait", LIST_KEY, {"timeout": None, "end": "head", "line": 7}),
        ("main", 1, "quiet", "", {"s": 0.5}),
    )
    assert [s.message % s.parts for s in diagnosis.diagnose(state)] == [
        diagnosis.STUCK,
        "main waits for an item of jobs (Redis); no live worker of this program can put one"
        " (another Redis client still could)",
    ]
    assert view.doing(state, state.threads()[0]) == "waiting in jobs (a Redis list): it is empty"


def test_an_entry_claimed_from_a_dead_consumer_tells_it_in_its_journey() -> None:
    who = {"group": "workers"}
    entry = "{'item': 'P1#1'}"
    state = story(
        new("main", 1, STREAM_KEY, "RedisStream"),
        ("main", 1, "xgroup", STREAM_KEY, {**who, "start": "0"}),
        ("P1", 4, "put", STREAM_KEY, {"v": entry, "id": "1-0", "size": None}),
        ("C1", 2, "get", STREAM_KEY, {"v": entry, "id": "1-0", "again": False, **who}),
        ("C2", 3, "claim", STREAM_KEY, {"ids": ["1-0"], **who, "consumer": "C2"}),
        ("C2", 3, "get", STREAM_KEY, {"v": entry, "id": "1-0", "again": True, **who}),
        ("C2", 3, "ack", STREAM_KEY, {"ids": ["1-0"], **who, "acked": 1}),
    )
    j = state.journeys[entry]
    assert j.label == "P1#1"
    assert (j.producer, j.consumer) == ("P1", "C2")
    assert j.claims == ((0.05, "C2", "C1"),)
    assert j.done == 0.07  # acknowledged by the one that claimed it
    assert state.holding == {}
