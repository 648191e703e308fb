"""Real workers, real processes and threads, driven through app.runtime.Runtime
(no HTTP), with the roles-shaped producer/consumer of `rolesexp`. Fast params:
every simulated delay is at most 20 ms at speed 20."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest
from probes import queued_bytes, settle
from pydantic import BaseModel
from rolesexp import EXPERIMENT, Params

from app import events, model
from app.budget import WorkerBudget
from app.eventpipe import BUFFER_BYTES
from app.experiments import Experiment, Role
from app.runtime import STOP_GRACE_S, CapReached, Runtime
from app.worker import Worker

ZERO = {"produce_min_ms": 0, "produce_max_ms": 0, "consume_min_ms": 0, "consume_max_ms": 0}
FAST = {
    "produce_min_ms": 10,
    "produce_max_ms": 20,
    "consume_min_ms": 0,
    "consume_max_ms": 20,
    "speed": 20.0,
}


class Recorder:
    """The runtime's on_batch: keeps every raw event (thread-safe), and checks
    with the OS that each worker's pid is a live process when its `start`
    arrives."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.raw: list[events.RawEvent] = []
        self.started: dict[str, int] = {}  # worker -> pid in its start event
        self.pid_was_live: dict[str, bool] = {}

    def __call__(self, batch: list[events.RawEvent]) -> None:
        for raw in batch:
            if raw[4] == events.START:
                self.pid_was_live[raw[1]] = psutil.pid_exists(raw[2])
        with self._lock:
            for raw in batch:
                if raw[4] == events.START:
                    self.started[raw[1]] = raw[2]
            self.raw.extend(batch)

    def snapshot(self) -> list[events.RawEvent]:
        with self._lock:
            return list(self.raw)

    def events(self, start_ns: int) -> list[events.Event]:
        return [events.from_raw(r, seq, start_ns) for seq, r in enumerate(self.snapshot(), 1)]

    def wait_for(self, what: Callable[[list[events.RawEvent]], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not what(self.snapshot()):
            if time.monotonic() > deadline:
                kinds = [(r[1], r[4], r[5]) for r in self.snapshot()[-20:]]
                pytest.fail(f"timed out waiting; last events: {kinds}")
            time.sleep(0.01)


def has(kind: str, worker: str | None = None, reason: str | None = None) -> Callable[..., bool]:
    def check(raws: list[events.RawEvent]) -> bool:
        return any(
            r[4] == kind
            and (worker is None or r[1] == worker)
            and (reason is None or (r[6] or {}).get("reason") == reason)
            for r in raws
        )

    return check


def descendants() -> dict[int, psutil.Process]:
    return {p.pid: p for p in psutil.Process().children(recursive=True)}


def cmdline(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return ""


def assert_no_workers_left(before: dict[int, psutil.Process], worker_pids: set[int]) -> None:
    """Every worker is gone; the only new children of this process are the
    fork server and the resource tracker (which outlive a run by design)."""
    me = os.getpid()
    gone = {pid for pid in worker_pids if not psutil.pid_exists(pid)}
    assert gone == worker_pids, f"workers still there: {sorted(worker_pids - gone)}"
    leftovers = []
    for pid, p in descendants().items():
        if pid in before:
            continue  # not ours: a live server of another test, say
        try:
            parent = p.ppid()
        except psutil.NoSuchProcess:
            continue
        expected = pid not in worker_pids and parent == me
        if not (expected and any(w in cmdline(p) for w in ("forkserver", "resource_tracker"))):
            leftovers.append((pid, parent, cmdline(p)))
    assert leftovers == []


@pytest.fixture
def start_run() -> Iterator[Callable[..., tuple[Runtime, Recorder, WorkerBudget]]]:
    """Starts a Runtime the way the web layer does: the caller holds budget
    slots for the first workers. Any run left going is stopped at teardown."""
    runtimes: list[Runtime] = []

    def start(
        params: BaseModel,
        experiment: Experiment = EXPERIMENT,
        cap: int = 64,
        workers: int | None = None,
        recorder: Recorder | None = None,
    ) -> tuple[Runtime, Recorder, WorkerBudget]:
        budget = WorkerBudget(cap)
        if workers is None:
            workers = sum(int(getattr(params, r.count_param)) for r in experiment.roles)
        assert budget.acquire(workers)
        recorder = recorder or Recorder()
        rt = Runtime(experiment, params, recorder, budget, time_limit_s=30.0)
        runtimes.append(rt)
        rt.start()
        return rt, recorder, budget

    yield start
    for rt in runtimes:
        if not rt.done:
            rt.stop("test teardown")
            rt.join(10.0)


def fold(rt: Runtime, recorder: Recorder) -> model.ViewState:
    return model.fold_all(recorder.events(rt.started_ns))


def expected_items(producers: int, items: int) -> set[str]:
    return {f"P{p}#{n}" for p in range(1, producers + 1) for n in range(1, items + 1)}


def test_process_run_consumes_every_item_exactly_once(start_run: Any) -> None:
    before = descendants()
    # Speed 1 here: a producer then lives at least 50 ms after its start, so
    # the check that its pid is a live process cannot race its exit.
    params = Params(
        producers=3, consumers=2, items_per_producer=5, capacity=3, **{**FAST, "speed": 1.0}
    )
    rt, recorder, budget = start_run(params)
    assert rt.join(10.0)

    state = fold(rt, recorder)
    assert state.status == "finished", state.reason
    assert state.backend == "process"
    assert state.consumed_items() == expected_items(3, 5)
    assert state.produced == 15
    assert state.consumed == 15
    assert state.duplicates == 0
    assert state.queue == {}
    assert state.sentinels_put == 2

    workers = {name: state.workers[name] for name in ("P1", "P2", "P3", "C1", "C2")}
    assert set(state.workers) == set(workers)
    pids = {w.pid for w in workers.values()}
    assert len(pids) == 5
    assert os.getpid() not in pids
    assert recorder.pid_was_live == dict.fromkeys(workers, True)
    assert {w: recorder.started[w] for w in workers} == {n: w.pid for n, w in workers.items()}
    # The pid a worker reported itself is the one the runtime started and reaped.
    exits = {e.worker: e.pid for e in recorder.events(rt.started_ns) if e.kind == events.EXIT}
    assert exits == {n: w.pid for n, w in workers.items()}
    for name, w in workers.items():
        assert (w.state, w.alive, w.exitcode) == (model.FINISHED, False, 0), name
    assert {w.reason for n, w in workers.items() if n.startswith("C")} == {"sentinel"}
    assert [state.workers[f"P{i}"].items for i in (1, 2, 3)] == [5, 5, 5]
    assert sum(state.workers[c].items for c in ("C1", "C2")) == 15

    assert budget.held == 0
    assert rt.alive_pids() == []
    assert_no_workers_left(before, pids)


def test_every_worker_exit_comes_after_its_own_last_event(start_run: Any) -> None:
    params = Params(producers=2, consumers=2, items_per_producer=5, capacity=2, **FAST)
    rt, recorder, _ = start_run(params)
    assert rt.join(10.0)
    evs = recorder.events(rt.started_ns)
    for name in ("P1", "P2", "C1", "C2"):
        own = [e for e in evs if e.worker == name]
        assert own[0].kind == events.START
        assert own[-1].kind == events.EXIT
        assert [e.kind for e in own].count(events.EXIT) == 1
    assert evs[0].kind == events.RUN_START
    assert evs[-1].kind == events.RUN_END
    assert evs[-1].data == {"outcome": "finished", "reason": "every item was consumed"}


def test_thread_run_consumes_every_item_exactly_once(start_run: Any) -> None:
    params = Params(
        producers=3, consumers=2, items_per_producer=5, capacity=3, backend="thread", **FAST
    )
    rt, recorder, budget = start_run(params)
    assert rt.join(10.0)

    state = fold(rt, recorder)
    assert state.status == "finished", state.reason
    assert state.backend == "thread"
    assert state.consumed_items() == expected_items(3, 5)
    assert state.consumed == 15
    assert state.duplicates == 0
    workers = [state.workers[name] for name in ("P1", "P2", "P3", "C1", "C2")]
    assert {w.pid for w in workers} == {os.getpid()}
    tids = {w.tid for w in workers}
    assert len(tids) == 5
    assert threading.get_native_id() not in tids
    assert all((w.state, w.exitcode) == (model.FINISHED, 0) for w in workers)
    assert budget.held == 0
    assert [t.name for t in threading.enumerate() if t.name in {"P1", "C1", "run-reader"}] == []


def test_stop_ends_an_endless_run_promptly(start_run: Any) -> None:
    before = descendants()
    params = Params(producers=2, consumers=2, items_per_producer=0, capacity=3, **FAST)
    rt, recorder, budget = start_run(params)
    recorder.wait_for(lambda r: has(events.PUT)(r) and len(recorder.started) == 4)
    started = time.monotonic()
    rt.stop("test")
    assert rt.join(10.0)
    assert time.monotonic() - started < 10.0

    state = fold(rt, recorder)
    assert (state.status, state.reason) == ("stopped", "test")
    seen = set(recorder.started.values())
    assert len(seen) == 4
    for name in ("P1", "P2", "C1", "C2"):
        w = state.workers[name]
        assert w.alive is False, name
        assert w.state in model.ENDED, name
    assert state.duplicates == 0
    assert budget.held == 0
    assert_no_workers_left(before, seen)


def test_stop_lets_workers_leave_on_their_own(start_run: Any) -> None:
    params = Params(producers=1, consumers=1, items_per_producer=0, capacity=2, **FAST)
    rt, recorder, _ = start_run(params)
    recorder.wait_for(lambda r: has(events.PUT)(r) and has(events.START, "C1")(r))
    started = time.monotonic()
    rt.stop("test")
    assert rt.join(10.0)
    # Workers check the stop flag every 50 ms, long before terminate() is due
    # (a terminated worker would show exit code -15, not 0).
    assert time.monotonic() - started < STOP_GRACE_S
    state = fold(rt, recorder)
    for name in ("P1", "C1"):
        w = state.workers[name]
        assert (w.state, w.reason, w.exitcode) == (model.FINISHED, "stopped", 0), name


def test_set_count_starts_and_retires_real_workers(start_run: Any) -> None:
    before = descendants()
    params = Params(producers=1, consumers=1, items_per_producer=0, capacity=5, **FAST)
    rt, recorder, budget = start_run(params)
    recorder.wait_for(has(events.START, "P1"))
    assert budget.held == 2

    rt.set_count("producer", 3)
    assert budget.held == 4
    recorder.wait_for(
        lambda r: (
            has(events.PUT, "P2")(r) and has(events.PUT, "P3")(r) and has(events.START, "C1")(r)
        )
    )
    pids = {name: recorder.started[name] for name in ("P1", "P2", "P3", "C1")}
    assert len(set(pids.values())) == 4
    assert os.getpid() not in pids.values()
    assert recorder.pid_was_live["P2"]
    assert recorder.pid_was_live["P3"]
    assert {pids["P2"], pids["P3"]} <= set(rt.alive_pids())

    rt.set_count("producer", 1)
    recorder.wait_for(
        lambda r: has(events.EXIT, "P2")(r) and has(events.EXIT, "P3")(r), timeout=5.0
    )
    deadline = time.monotonic() + 2.0
    while budget.held != 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert budget.held == 2
    state = fold(rt, recorder)
    for name in ("P2", "P3"):
        w = state.workers[name]
        assert (w.state, w.reason, w.exitcode) == (model.FINISHED, "retired", 0), name
    assert state.workers["P1"].state not in model.ENDED
    assert not psutil.pid_exists(pids["P2"])
    assert not psutil.pid_exists(pids["P3"])
    assert "P4" not in state.workers

    rt.stop("test")
    assert rt.join(10.0)
    state = fold(rt, recorder)
    assert state.status == "stopped"
    assert state.duplicates == 0
    assert budget.held == 0
    assert_no_workers_left(before, set(pids.values()))


def test_set_count_past_the_cap_raises_and_changes_nothing(start_run: Any) -> None:
    params = Params(
        producers=1, consumers=1, items_per_producer=0, capacity=5, backend="thread", **FAST
    )
    rt, recorder, budget = start_run(params, cap=3)
    recorder.wait_for(has(events.PUT, "P1"))

    with pytest.raises(CapReached):
        rt.set_count("producer", 3)
    assert budget.held == 2
    time.sleep(0.2)  # two supervisor rounds: nothing new may start
    assert "P2" not in recorder.started

    # Nothing was left pending: asking for 2 needs exactly the one free slot.
    rt.set_count("producer", 2)
    assert budget.held == 3
    recorder.wait_for(has(events.START, "P2"))
    time.sleep(0.2)
    assert "P3" not in recorder.started

    rt.stop("test")
    assert rt.join(10.0)
    assert budget.held == 0


class CrashParams(BaseModel):
    crashers: int = 1
    backend: str = "thread"


def crash(w: Worker) -> None:
    w.emit(events.PRODUCE, "X1#1")
    raise RuntimeError("boom in the worker")


CRASHING = Experiment(
    slug="crash",
    title="Crash",
    summary="A worker that raises.",
    lecture_part="-",
    params=CrashParams,
    roles=(Role("crasher", "X", crash, "crashers"),),
)


def test_a_crashing_worker_fails_the_run_and_brings_its_traceback(start_run: Any) -> None:
    rt, recorder, budget = start_run(CrashParams(), experiment=CRASHING)
    assert rt.join(10.0)

    evs = recorder.events(rt.started_ns)
    crashes = [e for e in evs if e.kind == events.CRASH]
    assert len(crashes) == 1
    data = crashes[0].data
    assert data is not None
    assert crashes[0].worker == "X1"
    assert data["error"] == "RuntimeError: boom in the worker"
    assert data["traceback"].startswith("Traceback (most recent call last):")
    assert 'raise RuntimeError("boom in the worker")' in data["traceback"]
    assert "in crash" in data["traceback"]

    state = model.fold_all(evs)
    w = state.workers["X1"]
    assert (w.state, w.exitcode, w.alive) == (model.CRASHED, 1, False)
    assert w.error == "RuntimeError: boom in the worker"
    assert w.item == "X1#1"
    assert state.status == "failed"
    assert "X1" in state.reason
    assert state.reason == "X1 crashed (exit code 1)"
    assert budget.held == 0


def test_lowering_a_count_before_the_new_workers_start_gives_their_slots_back(
    start_run: Any,
) -> None:
    params = Params(
        producers=1, consumers=1, items_per_producer=0, capacity=5, backend="thread", **FAST
    )
    rt, recorder, budget = start_run(params)
    recorder.wait_for(has(events.PUT, "P1"))
    rt.set_count("producer", 3)
    rt.set_count("producer", 1)  # P2 and P3 may be pending, starting or running

    def one_producer_left(raws: list[events.RawEvent]) -> bool:
        producers = {r[1] for r in raws if r[1].startswith("P")}
        exited = {r[1] for r in raws if r[4] == events.EXIT}
        return len(producers - exited) == 1 and budget.held == 2

    recorder.wait_for(one_producer_left)
    time.sleep(0.2)  # two supervisor rounds: nothing else starts or leaves
    assert one_producer_left(recorder.snapshot())
    state = fold(rt, recorder)
    producers = state.role("producer")
    assert len([w for w in producers if w.state not in model.ENDED]) == 1
    for w in producers:
        if w.state in model.ENDED:
            assert (w.state, w.reason, w.exitcode) == (model.FINISHED, "retired", 0), w.name
    rt.stop("test")
    assert rt.join(10.0)
    assert budget.held == 0


def test_the_time_limit_stops_the_run(start_run: Any) -> None:
    params = Params(
        producers=1, consumers=1, items_per_producer=0, capacity=5, backend="thread", **FAST
    )
    budget = WorkerBudget(2)
    assert budget.acquire(2)
    recorder = Recorder()
    rt = Runtime(EXPERIMENT, params, recorder, budget, time_limit_s=0.3)
    rt.start()
    assert rt.join(10.0)
    state = fold(rt, recorder)
    assert (state.status, state.reason) == ("stopped", "time limit reached (0.005 min)")
    assert state.produced > 0
    assert budget.held == 0


def test_stop_after_the_end_changes_nothing(start_run: Any) -> None:
    params = Params(producers=1, consumers=1, items_per_producer=2, backend="thread", **FAST)
    rt, recorder, budget = start_run(params)
    assert rt.join(10.0)
    count = len(recorder.snapshot())
    rt.stop("too late")
    rt.set_speed(5.0)
    assert rt.join(1.0)
    assert len(recorder.snapshot()) == count
    assert fold(rt, recorder).status == "finished"
    assert budget.held == 0


def test_set_count_after_the_run_ended_takes_no_slots(start_run: Any) -> None:
    params = Params(producers=1, consumers=1, items_per_producer=2, backend="thread", **FAST)
    rt, recorder, budget = start_run(params)
    assert rt.join(10.0)
    assert budget.held == 0
    # A PATCH can reach the runtime after its supervisor ended but before the
    # run_end event reached the event loop; nothing would ever give these back.
    rt.set_count("consumer", 3)
    assert budget.held == 0
    assert "C2" not in recorder.started


class TwoWorkers(BaseModel):
    crashers: int = 2
    backend: str = "process"


def test_a_worker_that_cannot_start_fails_the_run_and_gives_its_slots_back(
    start_run: Any,
) -> None:
    # A local function does not pickle, so starting its process fails in this
    # process, the way an exhausted fork server or fd table would.
    def not_importable(w: Worker) -> None:
        del w

    experiment = Experiment(
        slug="unstartable",
        title="Unstartable",
        summary="A worker whose process cannot start.",
        lecture_part="-",
        params=TwoWorkers,
        roles=(Role("crasher", "X", not_importable, "crashers"),),
    )
    rt, recorder, budget = start_run(TwoWorkers(), experiment=experiment)
    assert rt.join(10.0)
    state = fold(rt, recorder)
    assert state.status == "failed"
    assert state.reason.startswith("internal error:")
    assert budget.held == 0


def test_an_unreadable_message_on_the_event_queue_fails_the_run_and_it_still_ends(
    start_run: Any,
) -> None:
    before = descendants()
    params = Params(producers=1, consumers=1, items_per_producer=0, **FAST)
    rt, recorder, budget = start_run(params)
    recorder.wait_for(has(events.PUT))
    pipe = rt._event_q
    pipe._writer.send_bytes(b"not a frame of events")  # a whole message, but no batch
    assert rt.join(10.0)
    state = fold(rt, recorder)
    assert (state.status, state.reason) == ("failed", "some of the run's events could not be read")
    assert budget.held == 0
    assert_no_workers_left(before, set(recorder.started.values()))


class BusyServer(Recorder):
    """Stops taking batches after the first `put`, as a server too busy to
    read, until `let_go` is set: the workers then wait to write."""

    def __init__(self) -> None:
        super().__init__()
        self.let_go = threading.Event()

    def __call__(self, batch: list[events.RawEvent]) -> None:
        super().__call__(batch)
        if any(r[4] == events.PUT for r in batch):
            self.let_go.wait(30)


def test_workers_killed_while_they_write_their_events_leave_a_run_that_still_ends(
    start_run: Any,
) -> None:
    before = descendants()
    params = Params(producers=2, consumers=2, items_per_producer=0, **ZERO)
    rt, recorder, budget = start_run(params, recorder=BusyServer())
    # The event pipe fills up (frames do not share its pages, so it holds
    # less than its size); every worker waits to write into it, some with
    # part of a batch written.
    fd = rt._event_q._reader.fileno()
    sizes = [queued_bytes(fd)]

    def full() -> bool:
        sizes.append(queued_bytes(fd))
        return sizes[-1] > BUFFER_BYTES // 2 and sizes[-1] == sizes[-2]

    assert settle(full, bool, 10.0, every=0.05), sizes[-3:]
    pids = rt.alive_pids()
    assert len(pids) == 4
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    recorder.let_go.set()
    assert rt.join(10.0)
    state = fold(rt, recorder)
    assert state.status == "failed"
    assert "crashed (exit code -9)" in state.reason
    exits = {r[2]: (r[6] or {}).get("exitcode") for r in recorder.snapshot() if r[4] == events.EXIT}
    assert exits == dict.fromkeys(pids, -9)
    assert budget.held == 0
    assert_no_workers_left(before, set(pids))
