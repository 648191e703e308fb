"""Test-only experiments for the fault tests, and a server that offers them.

`python -c "import faultexp; faultexp.serve()" --port N ...` (with this
directory on PYTHONPATH) is the real server (`app.cli.main`) with three more
experiments, so that a test can drive, through HTTP, situations the lecture's
experiments never get into on purpose:

- `payloads`: producers put large payloads (`payload_kb`) on the run's real
  `multiprocessing` queue; consumers (possibly none) take them. A payload
  larger than a pipe's buffer keeps the producer's feeder thread inside its
  `write()` until a consumer reads it all.
- `deadlock`: a program whose two threads take two locks in opposite order
  and wait for each other forever, in plain `Lock.acquire()` calls that no
  stop flag can interrupt.
- `labels`: a worker whose item labels and crash message carry markup, for
  the escaping tests;
- `roles-queue` (`rolesexp`): producers and consumers the server starts and
  retires itself, for the faults of the roles runtime (a worker killed, thread
  workers in the server, the fork server's children).

Kept light at import: the fork server preloads this module.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from rolesexp import view as queue_view

from app import events, model
from app.experiments.spec import Experiment, Role
from app.worker import Worker, start_thread

XSS = "<img src=x onerror=alert(1)>"


def _live(description: str) -> dict[str, Any]:
    return {"live": True, "description": description}


class PayloadParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    producers: int = Field(1, ge=0, le=8, json_schema_extra=_live("producers"))
    consumers: int = Field(1, ge=0, le=8, json_schema_extra=_live("consumers"))
    payload_kb: int = Field(4096, ge=1, le=65536)
    items: int = Field(3, ge=1, le=100, description="per producer; then it waits for Stop")
    consume_ms: int = Field(0, ge=0, le=60000)
    capacity: int = Field(0, ge=0, le=20)
    speed: float = Field(1.0, ge=0.1, le=20.0, json_schema_extra=_live("speed"))


def payload_producer(w: Worker) -> None:
    # The run's queue itself, not the traced one: the payload must not
    # travel in the events too.
    raw = w.queue._q
    blob = bytes(w.params["payload_kb"] * 1024)
    for n in range(1, w.params["items"] + 1):
        item = f"{w.name}#{n}"
        w.emit(events.PRODUCE, item)
        w.flush()
        raw.put((item, blob))  # returns at once; the feeder thread writes it
        w.emit(events.PUT, item)
        w.flush()
    while True:  # stay, with whatever is still buffered, until Stop
        w.sleep(50)


def payload_consumer(w: Worker) -> None:
    raw = w.queue._q
    while True:
        w.pacer.check()
        try:
            item, _blob = raw.get(timeout=0.05)
        except queue.Empty:
            continue
        w.emit(events.GET, item)
        w.flush()
        w.sleep(w.params["consume_ms"])
        w.emit(events.DONE, item)
        w.flush()


def _test_only(**fields: Any) -> Experiment:
    """An experiment of these tests, drawn on the producer/consumer stage."""
    return Experiment(
        lecture_part="-",
        modules=(__name__,),
        new_state=model.ViewState,
        fold=model.fold,
        view=queue_view,
        **fields,
    )


PAYLOADS = _test_only(
    slug="payloads",
    title="Large payloads (test only)",
    summary="Producers put large payloads on the run's queue.",
    params=PayloadParams,
    roles=(
        Role("producer", "P", payload_producer, "producers"),
        Role("consumer", "C", payload_consumer, "consumers"),
    ),
)


class SpeedOnly(BaseModel):
    """The params of the experiments here that take nothing but a speed."""

    model_config = ConfigDict(extra="forbid")

    speed: float = Field(1.0, ge=0.1, le=20.0)


def _grab(w: Worker) -> None:
    first, second = w.params["_locks"]
    first.acquire()
    time.sleep(0.05)  # let the other thread take its first lock
    w.emit(events.GET_WAIT)  # shown as waiting: the deadlock
    w.flush()
    second.acquire()  # never returns: the other thread holds it and waits for ours


def deadlock_main(w: Worker) -> None:
    a, b = threading.Lock(), threading.Lock()
    threads = [
        start_thread(w, "T1", "thread", _grab, params={**w.params, "_locks": (a, b)}),
        start_thread(w, "T2", "thread", _grab, params={**w.params, "_locks": (b, a)}),
    ]
    for t in threads:
        t.join()  # never returns either, and never looks at the stop flag


DEADLOCK = _test_only(
    slug="deadlock",
    title="Deadlock (test only)",
    summary="Two threads wait for each other's lock forever.",
    params=SpeedOnly,
    roles=(Role("main", "main", deadlock_main, fixed_name="main"),),
    main_in_process=True,
    workers_needed=lambda p: 3,
)


def marked_up(w: Worker) -> None:
    item = f"{XSS}#1"
    w.emit(events.PRODUCE, item)
    w.queue.put(item)
    w.emit(events.GET_WAIT)
    got = w.queue.get()
    w.emit(events.DONE, got)
    w.flush()
    raise RuntimeError(f"crashed on {XSS}")


LABELS = _test_only(
    slug="labels",
    title="Labels with markup (test only)",
    summary="A worker whose labels and crash message carry markup.",
    params=SpeedOnly,
    roles=(Role("producer", "P", marked_up, fixed_name="P1"),),
)


def serve() -> None:
    """The real server, with the test-only experiments added."""
    from rolesexp import EXPERIMENT as ROLES_QUEUE

    from app.experiments import EXPERIMENTS

    for exp in (PAYLOADS, DEADLOCK, LABELS, ROLES_QUEUE):
        EXPERIMENTS[exp.slug] = exp
    from app.cli import main

    main()
