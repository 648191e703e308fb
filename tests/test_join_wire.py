"""The join protocol (app.joining.wire): addresses, batches, Redis URLs."""

from __future__ import annotations

from typing import Any

import pytest

from app.joining.wire import (
    MAX_ERRORS,
    MAX_EVENTS,
    MAX_TEXT,
    clean_event,
    host_label,
    parse_address,
    parse_batch,
    redis_problem,
    redis_url_for,
)
from app.params import ParamsError
from app.programs.boot.concviz_tracer import kinds as K

ROLES = ("consumer", "producer")
TOKEN = "A" * 32


def body(**changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "worker": "w" * 16,
        "host": "alice-laptop",
        "role": "consumer",
        "offset_ns": -12,
        "events": [[5, "main", 7, 7, K.SLEEP, None, {"s": 0.5, "line": 3}]],
        "last": False,
    }
    out.update(changes)
    return out


def refused(b: Any) -> dict[str, str]:
    with pytest.raises(ParamsError) as caught:
        parse_batch(b, ROLES)
    return {e.field: e.message for e in caught.value.errors}


def test_a_join_address_names_the_server_the_run_and_the_token() -> None:
    a = parse_address(f" http://192.168.1.20:8000/join/ab12cd34/{TOKEN} ")
    assert (a.base, a.run, a.token, a.host) == (
        "http://192.168.1.20:8000",
        "ab12cd34",
        TOKEN,
        "192.168.1.20",
    )
    assert a.events_url == f"http://192.168.1.20:8000/join/ab12cd34/{TOKEN}/events"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("192.168.1.20:8000/join/ab/" + TOKEN, "no http://"),
        ("ftp://h/join/ab/" + TOKEN, "no http://"),
        ("http://h:8000/", "no join address"),
        ("http://h:8000/join/ab12/short", "no join address"),
        ("http://h:port/join/ab12/" + TOKEN, "no URL"),
    ],
)
def test_a_wrong_address_says_what_it_is_not(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_address(url)


def test_a_batch_is_taken_as_sent() -> None:
    b = parse_batch(body(last=True), ROLES)
    assert (b.worker, b.host, b.role, b.offset_ns, b.last) == (
        "w" * 16,
        "alice-laptop",
        "consumer",
        -12,
        True,
    )
    assert b.events == [(5, "main", 7, 7, K.SLEEP, None, {"s": 0.5, "line": 3})]
    assert parse_batch(body(events=[]), ROLES).events == []


def test_a_wrong_envelope_names_each_field() -> None:
    said = refused(body(worker="x", host="a b", role="boss", offset_ns=1.5, last="yes", extra=1))
    assert set(said) == {"worker", "host", "role", "offset_ns", "last", "extra"}
    assert "consumer, producer" in said["role"]
    assert refused([1, 2]) == {"body": "the body must be a JSON object"}
    assert "events" in refused(body(events={"a": 1}))
    assert f"at most {MAX_EVENTS}" in refused(body(events=[[]] * (MAX_EVENTS + 1)))["events"]


@pytest.mark.parametrize(
    ("event", "says"),
    [
        ([1, 2, 3], "a list of 7"),
        ([-1, "main", 7, 7, K.SLEEP, None, None], "t_ns"),
        ([1.5, "main", 7, 7, K.SLEEP, None, None], "t_ns"),
        ([1, "", 7, 7, K.SLEEP, None, None], "worker must be a label"),
        ([1, "main", 0, 7, K.SLEEP, None, None], "pid"),
        ([1, "main", "7", 7, K.SLEEP, None, None], "pid"),
        ([1, "main", 7, -1, K.SLEEP, None, None], "tid"),
        ([1, "main", 7, 7, "run_end", None, None], "not one a tracer sends"),
        ([1, "main", 7, 7, K.GET, 5, None], "item"),
        ([1, "main", 7, 7, K.GET, None, [1]], "data must be null or an object"),
        ([1, "main", 7, 7, K.REAPED, None, {"pid": "x"}], "data.pid must be a number"),
        ([1, "main", 7, 7, K.OUT, None, {"text": "x" * (MAX_TEXT + 1)}], "data.text"),
        ([1, "main", 7, 7, K.OUT, None, {"text": [[1]]}], "data.text"),
        ([1, "main", 7, 7, K.SLEEP, None, {"s": float("nan")}], "data.s"),
    ],
)
def test_a_wrong_event_is_named_by_its_place_and_what_is_wrong(event: list[Any], says: str) -> None:
    ok = [1, "main", 7, 7, K.SLEEP, None, None]
    said = refused(body(events=[ok, event]))
    assert list(said) == ["events.1"]
    assert says in said["events.1"]
    assert said["events.1"].startswith("events[1]: ")


def test_plain_values_pass_and_a_long_list_of_wrong_events_is_named_in_part() -> None:
    data = {
        "ids": ["1-0", "2-0"],
        "v": "{'item': 'P1#1'}",
        "daemon": False,
        "n": "all",
        "f": {"a": 1},
    }
    assert parse_batch(body(events=[[1, "main", 7, 7, K.ACK, "redis:x/1/s", data]]), ROLES)
    said = refused(body(events=[[0]] * 50))
    assert len(said) == MAX_ERRORS


def test_a_hosts_name_is_cleaned_for_a_label() -> None:
    assert host_label("alice-laptop.local") == "alice-laptop.local"
    assert host_label("Alice's MacBook Pro") == "Alice-s-MacBook-Pro"
    assert host_label("..//..") == "worker"
    assert len(host_label("x" * 100)) == 40


def test_a_loopback_redis_host_is_the_servers_machine_as_the_worker_reached_it() -> None:
    url = "redis://:pw@127.0.0.1:6390/3"
    assert redis_url_for(url, "192.168.1.20") == "redis://:pw@192.168.1.20:6390/3"
    assert redis_url_for(url, "fe80::1") == "redis://:pw@[fe80::1]:6390/3"
    assert redis_url_for(url, "127.0.0.1") == url
    assert redis_url_for("redis://school:6379/2", "192.168.1.20") == "redis://school:6379/2"
    sock = "unix:///tmp/b/redis.sock?db=3"
    assert redis_url_for(sock, "192.168.1.20") == sock
    assert redis_problem(sock, "127.0.0.1") is None
    assert "--lan" in (redis_problem(sock, "192.168.1.20") or "")
    assert redis_problem(url, "192.168.1.20") is None


def test_a_tracers_odd_values_are_made_plain_before_they_are_sent() -> None:
    raw = (
        5,
        "main",
        7,
        7,
        K.OUT,
        None,
        {
            "text": "x" * (MAX_TEXT + 5),
            "timeout": float("inf"),
            "t": (1, b"b", [2]),
            "o": object(),
            "n": float("nan"),
        },
    )
    sent = clean_event(raw)  # type: ignore[arg-type]
    assert parse_batch(body(events=[sent]), ROLES).events
    data = sent[6]
    assert len(data["text"]) == MAX_TEXT
    assert data["timeout"] is None
    assert data["t"] == [1, "b'b'", "[2]"]
    assert data["n"] is None
    assert data["o"].startswith("<object")
