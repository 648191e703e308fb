"""A joined worker's events as the run's (app.joining.translate): pure."""

from __future__ import annotations

from app.events import from_raw
from app.joining.translate import (
    Translation,
    ended,
    redis_key,
    redis_prefix,
    translate,
)
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.model import fold_all

RUN = "redis:127.0.0.1:6390/3/"
TR = Translation("alice", "alice/consumer", RUN, offset_ns=1_000)
START, NOW = 10_000, 50_000


def one(raw: tuple, tr: Translation = TR) -> tuple:
    return translate([raw], tr, start_ns=START, now_ns=NOW)[0]


def test_the_first_process_takes_the_workers_label_and_is_no_longer_the_programs_first() -> None:
    raw = (20_000, "main", 77, 77, K.PROC, None, {"name": "MainProcess", "main": True, "ppid": 5})
    t, worker, pid, tid, kind, item, data = one(raw)
    assert (t, worker, pid, tid, kind, item) == (21_000, "alice/consumer", 77, 77, K.PROC, None)
    assert data == {"name": "MainProcess", "main": False, "ppid": 0}
    assert raw[6]["main"] is True  # the worker's own event is left as it was


def test_other_labels_and_object_keys_go_under_the_hosts_prefix() -> None:
    spawn = one((20_000, "main", 77, 77, K.SPAWN, "Process-1", {"pid": 78}))
    assert spawn[1] == "alice/consumer"
    assert spawn[5] == "alice/Process-1"
    thread = one((20_000, "Process-1/Thread-2", 78, 80, K.THREAD, None, {"main": False}))
    assert thread[1] == "alice/Process-1/Thread-2"
    assert thread[6] == {"main": False}  # a thread's `main` is its process's main thread
    pipe = one((20_000, "main", 77, 77, K.NEW, "77.1", {"type": "Connection", "peer": "77.2"}))
    assert (pipe[5], pipe[6]["peer"]) == ("alice/77.1", "alice/77.2")
    assert one((20_000, "main", 77, 77, K.WANTS, "main", {"kind": "x"}))[5] == "alice/consumer"


def test_a_key_on_the_runs_redis_database_is_the_runs_own() -> None:
    reached = one((20_000, "main", 77, 77, K.GET, "redis:192.168.1.20:6390/3/orders", None))
    assert reached[5] == RUN + "orders"
    assert one((20_000, "main", 77, 77, K.GET, RUN + "orders", None))[5] == RUN + "orders"


def test_a_key_elsewhere_stays_its_own() -> None:
    other_db = "redis:192.168.1.20:6390/4/orders"
    other_server = "redis:192.168.1.20:6391/3/orders"
    assert redis_key(other_db, RUN) == other_db
    assert redis_key(other_server, RUN) == other_server
    socket_run = "redis:/tmp/b/redis.sock/3/"
    assert redis_key("redis:/tmp/b/redis.sock/3/orders", socket_run).endswith("/3/orders")
    assert redis_key("redis:10.0.0.2:6390/3/orders", socket_run) == "redis:10.0.0.2:6390/3/orders"
    assert redis_key("redis:10.0.0.2:6390/3/orders", "") == "redis:10.0.0.2:6390/3/orders"


def test_the_redis_prefix_is_the_tracers() -> None:
    assert redis_prefix("redis://:secret@127.0.0.1:6390/3") == RUN
    assert redis_prefix("redis://localhost/0") == "redis:localhost:6379/0/"
    assert redis_prefix("redis://h:1") == "redis:h:1/0/"
    assert redis_prefix("unix:///tmp/b/redis.sock?db=5") == "redis:/tmp/b/redis.sock/5/"


def test_times_are_shifted_and_kept_between_the_runs_start_and_now() -> None:
    assert one((20_000, "main", 1, 1, K.SLEEP, None, {"s": 1}))[0] == 21_000
    assert one((0, "main", 1, 1, K.SLEEP, None, None))[0] == START
    assert one((10**12, "main", 1, 1, K.SLEEP, None, None))[0] == NOW
    behind = Translation("a", "a/consumer", RUN, offset_ns=-15_000)
    assert one((30_000, "main", 1, 1, K.SLEEP, None, None), behind)[0] == 15_000


def test_a_translated_worker_folds_as_one_more_process_of_the_run() -> None:
    own = [
        (11_000, "main", 10, 10, K.PROC, None, {"name": "MainProcess", "main": True}),
        (11_000, "main", 10, 10, K.THREAD, None, {"name": "MainThread", "main": True}),
    ]
    joined = translate(
        [
            (20_000, "main", 77, 77, K.PROC, None, {"name": "MainProcess", "main": True}),
            (20_000, "main", 77, 77, K.THREAD, None, {"name": "MainThread", "main": True}),
            (21_000, "main", 77, 77, K.SLEEP, None, {"s": 0.5, "line": 3}),
        ],
        TR,
        start_ns=START,
        now_ns=NOW,
    )
    state = fold_all(from_raw(r, i, START) for i, r in enumerate(own + joined, 1))
    assert set(state.workers) == {"main", "alice/consumer"}
    assert state.workers["alice/consumer"].pid == 77
    assert state.procs[10].main
    assert not state.procs[77].main
    gone = ended(TR, [77], NOW)
    state = fold_all((from_raw(r, 9, START) for r in gone), state)
    assert not state.procs[77].alive
    assert state.workers["alice/consumer"].state == "finished"
    assert state.workers["main"].alive
