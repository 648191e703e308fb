"""The event pipe: worker processes write their batches straight into it."""

from __future__ import annotations

import logging
import multiprocessing
import queue
from typing import Any

import pytest

from app.eventpipe import EventPipe
from app.runtime import context


def write_batches(pipe: EventPipe, name: str, n: int) -> None:
    for i in range(n):
        pipe.put([(i, name, "x" * (i % 7) * 1000)])  # some larger than an atomic write


def test_batches_from_several_processes_arrive_whole_and_each_in_its_order() -> None:
    ctx = context()
    pipe = EventPipe(ctx)
    procs = [ctx.Process(target=write_batches, args=(pipe, f"W{k}", 300)) for k in range(3)]
    for p in procs:
        p.start()
    got: dict[str, list[int]] = {}
    for _ in range(900):
        ((i, name, pad),) = pipe.get(timeout=10)
        assert pad == "x" * (i % 7) * 1000
        got.setdefault(name, []).append(i)
    for p in procs:
        p.join(10)
        assert p.exitcode == 0
    assert got == {f"W{k}": list(range(300)) for k in range(3)}
    with pytest.raises(queue.Empty):
        pipe.get(timeout=0.01)
    pipe.close()


def test_a_put_from_a_signal_handler_inside_a_put_waits_its_turn() -> None:
    pipe = EventPipe(multiprocessing.get_context("fork"))
    writer: Any = pipe._writer
    send = writer.send_bytes

    def send_then_interrupted(data: bytes) -> None:
        writer.send_bytes = send
        send(data)
        pipe.put(["reported by the handler"])  # the lock is ours: no deadlock

    writer.send_bytes = send_then_interrupted
    pipe.put(["first"])
    pipe.put(["after"])
    got = [pipe.get(timeout=1) for _ in range(3)]
    assert got == [["first"], ["reported by the handler"], ["after"]]
    pipe.close()


def test_the_servers_put_gives_up_on_a_lock_a_dead_writer_holds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pipe = EventPipe(multiprocessing.get_context("fork"), put_timeout=0.05)
    pipe._lock.acquire()  # as a worker killed in the middle of a write leaves it
    with caplog.at_level(logging.ERROR):
        pipe.put(["lost"])
    assert "died holding their lock" in caplog.text
    with pytest.raises(queue.Empty):
        pipe.get(timeout=0.01)
    pipe.close()


def test_the_servers_put_gives_up_when_nobody_reads(caplog: pytest.LogCaptureFixture) -> None:
    pipe = EventPipe(multiprocessing.get_context("fork"), put_timeout=0.05)
    with caplog.at_level(logging.ERROR):
        for _ in range(10_000):  # far more than the pipe holds; nobody reads
            pipe.put(["x" * 1000])
            if caplog.records:
                break
    assert "nobody reads the run's events" in caplog.text
    pipe.close()
