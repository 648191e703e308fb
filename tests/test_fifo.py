"""The run's event FIFO (app/programs/fifo.py): the batches of any number of
processes and threads, written as the tracer writes them, arrive whole and
each writer's in its order; a writer killed in the middle of a batch loses
that batch and no other; a message that is no frame fails the run."""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import harness
import pytest
from probes import alive, queued_bytes, settle

from app import events
from app.experiments import EXPERIMENTS
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.boot.concviz_tracer import wire
from app.programs.fifo import BUFFER_BYTES, EventFifo

FORK = multiprocessing.get_context("fork")


def send(path: Path, batch: object) -> None:
    """One batch in the tracer's frames, each frame one write."""
    fd = os.open(path, os.O_WRONLY)
    try:
        for message in wire.messages(wire.encode(batch), os.getpid(), threading.get_native_id()):
            os.write(fd, message)
    finally:
        os.close(fd)


def pad(i: int) -> str:
    return "x" * (i % 7) * 3000  # many batches go in several frames


def write_batches(path: Path, name: str, n: int) -> None:
    for i in range(n):
        send(path, [(i, name, pad(i))])


def read_batches(fifo: EventFifo, n: int) -> dict[str, list[int]]:
    """The numbers of `n` batches, by writer; each batch must be whole."""
    got: dict[str, list[int]] = {}
    for _ in range(n):
        ((i, name, padding),) = fifo.get(timeout=10)
        assert padding == pad(i)
        got.setdefault(name, []).append(i)
    return got


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[EventFifo]:
    fifo = EventFifo(tmp_path)
    yield fifo
    fifo.close()  # twice is fine


def test_batches_from_several_processes_arrive_whole_and_each_in_its_order(
    fifo: EventFifo,
) -> None:
    procs = [FORK.Process(target=write_batches, args=(fifo.path, f"W{k}", 200)) for k in range(3)]
    for p in procs:
        p.start()
    got = read_batches(fifo, 600)
    for p in procs:
        p.join(10)
        assert p.exitcode == 0
    assert got == {f"W{k}": list(range(200)) for k in range(3)}
    with pytest.raises(queue.Empty):
        fifo.get(timeout=0.01)


def test_frames_of_threads_writing_at_once_interleave_and_each_batch_arrives_whole(
    fifo: EventFifo,
) -> None:
    threads = [
        threading.Thread(target=write_batches, args=(fifo.path, f"T{k}", 100)) for k in range(3)
    ]
    for t in threads:
        t.start()
    got = read_batches(fifo, 300)
    for t in threads:
        t.join(10)
    assert got == {f"T{k}": list(range(100)) for k in range(3)}


def write_then_block(path: Path) -> None:
    send(path, ["a1"])
    send(path, ["x" * (3 * BUFFER_BYTES)])  # more than the FIFO holds: it blocks midway


def test_a_writer_killed_in_the_middle_of_a_batch_loses_that_batch_and_no_other(
    fifo: EventFifo, caplog: pytest.LogCaptureFixture
) -> None:
    writer = FORK.Process(target=write_then_block, args=(fifo.path,))
    writer.start()
    assert fifo.get(timeout=10) == ["a1"]
    # Until the writer waits for room, with part of its batch written.
    assert settle(lambda: queued_bytes(fifo._fd), lambda n: n >= BUFFER_BYTES // 2, 10)
    assert writer.is_alive()
    os.kill(writer.pid or 0, signal.SIGKILL)
    writer.join(10)
    other = FORK.Process(target=send, args=(fifo.path, ["b1"]))
    other.start()  # it waits for room, behind the frames of the cut batch
    assert fifo.get(timeout=10) == ["b1"]  # read past those frames
    other.join(10)
    with pytest.raises(queue.Empty):
        fifo.get(timeout=0.01)
    with caplog.at_level(logging.ERROR):
        fifo.close()
    assert f"events of pid {writer.pid}: a batch was cut short" in caplog.text


def test_a_message_that_is_no_frame_fails_the_run_and_it_still_ends() -> None:
    exp = EXPERIMENTS["program"]
    assert exp.params is not None
    params = exp.params(source="import time\ntime.sleep(30)\n", args=[])
    rt, recorder, budget = harness.start(exp, params, time_limit_s=30.0)
    try:
        recorder.wait_for(lambda raw: any(r[4] == K.PROC for r in raw))  # the program runs
        assert rt._dir is not None
        fd = os.open(rt._dir.fifo.path, os.O_WRONLY)
        try:
            os.write(fd, wire.LENGTH.pack(1 << 30))  # a length no frame has
        finally:
            os.close(fd)
        assert rt.join(10.0)
    finally:
        if not rt.done:
            rt.stop("test teardown")
            rt.join(10.0)
    end = next(r for r in recorder.raw if r[4] == events.RUN_END)
    assert end[6] == {"outcome": "failed", "reason": "some of the run's events could not be read"}
    assert budget.held == 0
    pids = {r[2] for r in recorder.raw if r[4] == K.PROC}
    assert settle(lambda: [p for p in pids if alive(p)], lambda left: not left) == []
