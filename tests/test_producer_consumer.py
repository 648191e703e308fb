"""The producer/consumer lesson's fold (its overlay over the program's), from
tracer events as its program makes them: no processes, no clock."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app import events
from app.events import Event
from app.experiments import EXPERIMENTS
from app.experiments.producer_consumer import PCState, fold_all
from app.experiments.producer_consumer.view import view
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.state import STALLS

EXP = EXPERIMENTS["producer-consumer"]
PIDS = {"main": 100, "P1": 101, "P2": 102, "C1": 201, "C2": 202}


class Trace:
    """Events of a made-up run of the lesson's program, in order."""

    def __init__(self, **params: Any) -> None:
        self.seq = itertools.count(1)
        self.t = 0.0
        full = {**EXP.params().model_dump(), **params}  # type: ignore[misc]
        self.evs: list[Event] = [self.ev("main", events.RUN_START, None, {"params": full})]
        self.evs.append(self.ev("main", K.PROC, None, {"name": "MainProcess", "main": True}))
        self.evs.append(self.ev("main", K.NEW, "100.1", {"type": "Queue", "name": "q"}))
        self.evs.append(self.ev("main", K.NEW, "100.2", {"type": "Queue", "name": "tallies"}))

    def ev(self, who: str, kind: str, item: str | None, data: dict[str, Any] | None) -> Event:
        self.t += 0.01
        pid = PIDS[who]
        return Event(next(self.seq), round(self.t, 3), who, pid, pid, kind, item, data)

    def add(self, who: str, kind: str, item: str | None = None, **data: Any) -> Trace:
        self.evs.append(self.ev(who, kind, item, data or None))
        return self

    def worker(self, name: str) -> Trace:
        self.add("main", K.SPAWN, name, pid=PIDS[name])
        return self.add(name, K.PROC, None, name=name, ppid=100)

    def put(self, who: str, v: str) -> Trace:
        return self.add(who, K.PUT, "100.1", v=repr(v) if v != "None" else "None")

    def get(self, who: str, v: str) -> Trace:
        return self.add(who, K.GET, "100.1", v=repr(v) if v != "None" else "None")

    def state(self) -> PCState:
        return fold_all(self.evs)


def test_items_are_counted_made_used_and_in_the_queue_by_their_names() -> None:
    tr = Trace(capacity=5).worker("P1").worker("C1")
    tr.add("P1", K.SLEEP, s=0.1).put("P1", "P1#1").add("P1", K.SLEEP, s=0.1).put("P1", "P1#2")
    tr.get("C1", "P1#1").add("C1", K.SLEEP, s=0.1)
    s = tr.state()
    c = s.counters()
    assert (c["produced"], c["consumed"], c["in_queue"]) == (2, 0, 1)
    assert s.queue_items() == ["P1#2"]
    assert s.held("C1") == "P1#1"
    assert s.shown_state(s.workers["C1"]) == "consuming"  # type: ignore[arg-type]
    tr.add("C1", K.GET_WAIT, "100.1")  # its next call: done with P1#1
    s = tr.state()
    assert s.counters()["consumed"] == 1
    assert s.used == {"C1": 1}
    assert s.workers["C1"].items == 1
    assert s.workers["C1"].role == "consumer"


def test_sentinels_sit_in_the_queue_but_are_not_counted_as_items() -> None:
    tr = Trace().worker("C1").put("main", "None")
    s = tr.state()
    assert s.queue_items() == ["None"]
    assert s.counters()["in_queue"] == 0
    assert s.counters()["produced"] == 0
    assert s.sentinels_put == 1
    s = tr.get("C1", "None").state()
    assert s.left == {"C1": "sentinel"}
    assert s.queue_items() == []


def test_a_get_that_arrives_before_its_put_leaves_the_queue_empty() -> None:
    tr = Trace().worker("P1").worker("C1").get("C1", "P1#1").put("P1", "P1#1")
    s = tr.state()
    assert s.queue_items() == []
    assert s.counters()["produced"] == 1


def test_puts_reported_ahead_of_gets_never_fill_a_queue_past_its_capacity() -> None:
    tr = Trace(capacity=2).worker("P1")
    for n in range(1, 6):
        tr.put("P1", f"P1#{n}")
    s = tr.state()
    assert s.queue_items() == ["P1#4", "P1#5"]  # the head ones were taken already
    assert s.counters()["in_queue"] == 2


def test_a_producer_that_waits_at_the_tail_shows_the_item_it_holds() -> None:
    tr = Trace(capacity=1).worker("P1").put("P1", "P1#1").add("P1", K.SLEEP, s=0.1)
    s = tr.state()
    assert s.shown_state(s.workers["P1"]) == "producing"  # type: ignore[arg-type]
    s = tr.add("P1", K.PUT_WAIT, "100.1").state()
    out = view(s, s.params)
    assert s.counters()["producers_blocked"] == 1
    assert [(c["css"], c["item"]) for c in out["producer_cards"]] == [("put_wait", "P1#2")]


def test_a_producer_told_to_leave_says_so_from_its_printed_line() -> None:
    tr = Trace().worker("P1").put("P1", "P1#1")
    tr.add("P1", K.OUT, text="P1 leaves: fewer producers wanted\n", stream="stdout")
    tr.add("P1", K.PUT, "100.2", v="('P1', ['P1#1'])")
    s = tr.state()
    assert s.left == {"P1": "fewer"}
    assert s.workers["P1"].reason == "fewer"


def test_an_item_used_twice_counts_a_duplicate_and_is_consumed_once() -> None:
    tr = Trace().worker("P1").worker("C1").worker("C2").put("P1", "P1#1")
    tr.get("C1", "P1#1").add("C1", K.GET_WAIT, "100.1")
    tr.get("C2", "P1#1").add("C2", K.GET_WAIT, "100.1")
    c = tr.state().counters()
    assert (c["consumed"], c["duplicates"]) == (1, 1)


def test_an_item_tells_its_journey() -> None:
    tr = Trace().worker("P1").worker("C1")
    tr.add("P1", K.SLEEP, s=0.1).put("P1", "P1#1").get("C1", "P1#1").add("C1", K.SLEEP, s=0.1)
    tr.add("C1", K.GET_WAIT, "100.1")
    j = tr.state().journeys["P1#1"]
    assert (j.producer, j.consumer) == ("P1", "C1")
    times = [j.made, j.put, j.got, j.done]
    assert None not in times
    assert times == sorted(times)  # type: ignore[type-var]


def test_throughput_counts_items_used_per_second() -> None:
    tr = Trace().worker("P1").worker("C1")
    for n in range(1, 11):
        tr.put("P1", f"P1#{n}").get("C1", f"P1#{n}").add("C1", K.GET_WAIT, "100.1")
    s = tr.state()
    assert s.counters()["throughput"] > 0
    assert s.counters()["consumed"] == 10


def test_the_accounting_line_is_the_lesson_s_and_hidden_in_the_console_until_the_reveal() -> None:
    line = "accounting: 2 produced by 1 producers, 2 consumed by 1 consumers, each exactly once"
    tr = Trace().add("main", K.OUT, text=line + "\n", stream="stdout")
    s = tr.state()
    assert s.extras()["lesson"]["accounting"] == line
    assert view(s, s.params)["printed"][-1][1] is True  # an outcome line


def test_main_polling_for_tallies_is_left_out_of_the_log() -> None:
    tr = Trace().worker("P1").put("P1", "P1#1")
    tr.add("main", K.GET_WAIT, "100.2", timeout=0.2).add("main", K.EMPTY, "100.2", timeout=0.2)
    kinds = [e.kind for e in view(tr.state(), {})["log"]]
    assert K.EMPTY not in kinds
    assert K.PUT in kinds


@pytest.mark.parametrize(
    "meanwhile",
    [
        (K.REAPED, "P2", {"pid": 999, "exitcode": 0}),  # another worker ends
        # The server's look at threads that wait in the kernel (main's).
        (STALLS, None, {"stalls": [{"pid": 100, "tid": 105, "wait": "read", "call": "read"}]}),
    ],
)
def test_the_timeline_says_making_and_using_where_the_program_sleeps(
    meanwhile: tuple[str, str | None, dict[str, Any]],
) -> None:
    tr = Trace().worker("P1").worker("C1").put("P1", "P1#1").get("C1", "P1#1")
    tr.add("C1", K.SLEEP, s=0.5).add("P1", K.SLEEP, s=0.5)
    kind, item, data = meanwhile
    tr.add("main", kind, item, **data)
    lanes = tr.state().lanes
    assert lanes["C1"][-1][1:] == ("consuming", "P1#1")
    assert lanes["P1"][-1][1:] == ("producing", "P1#2")
    assert [seg[1] for seg in lanes["C1"]].count("consuming") == 1


# Run before the program: each item a `multiprocessing.Queue` sends takes
# 50 ms to leave its process (its feeder thread pickles it), a producer's
# tally (a tuple) none. Forked workers inherit it.
SLOW_FEEDER = """\
import multiprocessing.queues, runpy, sys, time

class SlowItems(multiprocessing.queues._ForkingPickler):
    @classmethod
    def dumps(cls, obj, protocol=None):
        if isinstance(obj, str):
            time.sleep(0.05)
        return super().dumps(obj, protocol)

multiprocessing.queues._ForkingPickler = SlowItems
runpy.run_path(sys.argv[1], run_name="__main__")
"""


def test_the_program_loses_no_item_when_a_producer_s_items_are_slow_to_leave_it(
    tmp_path: Path,
) -> None:
    # A producer's put() only hands the item to its process's feeder thread;
    # its tally, sent next through another queue, can reach main first.
    # Main's sentinels must still come after every item.
    assert EXP.script is not None
    params = {"producers": 1, "consumers": 2, "items_per_producer": 6, "capacity": 0}
    params |= {"produce_max_ms": 0, "consume_max_ms": 0, "backend": "process"}
    (tmp_path / "producer_consumer.py").write_text(EXP.script(params))
    (tmp_path / "slow.py").write_text(SLOW_FEEDER)
    done = subprocess.run(
        [sys.executable, "-I", "slow.py", "producer_consumer.py"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "accounting: 6 produced by 1 producers, 6 consumed by 2 consumers" in done.stdout
