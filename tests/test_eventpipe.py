"""The event pipe: worker processes write their batches straight into it."""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import signal
import threading
from fractions import Fraction
from typing import Any

import pytest
from probes import queued_bytes, settle

from app.eventpipe import BUFFER_BYTES, EventPipe, decode, encode
from app.runtime import context


def write_batches(pipe: EventPipe, name: str, n: int) -> None:
    for i in range(n):
        pipe.put([(i, name, pad(i))])


def pad(i: int) -> str:
    return "x" * (i % 7) * 3000  # many batches go in several frames


def read_batches(pipe: EventPipe, n: int) -> dict[str, list[int]]:
    """The numbers of `n` batches, by writer; each batch must be whole."""
    got: dict[str, list[int]] = {}
    for _ in range(n):
        ((i, name, padding),) = pipe.get(timeout=10)
        assert padding == pad(i)
        got.setdefault(name, []).append(i)
    return got


def test_batches_from_several_processes_arrive_whole_and_each_in_its_order() -> None:
    ctx = context()
    pipe = EventPipe(ctx)
    procs = [ctx.Process(target=write_batches, args=(pipe, f"W{k}", 300)) for k in range(3)]
    for p in procs:
        p.start()
    got = read_batches(pipe, 900)
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


def write_then_block(pipe: EventPipe) -> None:
    pipe.put(["a1"])
    pipe.put(["x" * (3 * BUFFER_BYTES)])  # more than the pipe holds: it blocks midway


def test_a_writer_killed_in_the_middle_of_a_batch_loses_that_batch_and_no_other(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ctx = multiprocessing.get_context("fork")
    pipe = EventPipe(ctx)
    writer = ctx.Process(target=write_then_block, args=(pipe,))
    writer.start()
    assert pipe.get(timeout=10) == ["a1"]
    # Until the writer waits for room, with part of its batch written.
    assert settle(lambda: queued_bytes(pipe._reader.fileno()), lambda n: n >= BUFFER_BYTES // 2, 10)
    assert writer.is_alive()
    os.kill(writer.pid or 0, signal.SIGKILL)
    writer.join(10)
    other = ctx.Process(target=pipe.put, args=(["b1"],))
    other.start()  # it waits for room, behind the frames of the cut batch
    assert pipe.get(timeout=10) == ["b1"]  # read past those frames
    other.join(10)
    with pytest.raises(queue.Empty):
        pipe.get(timeout=0.01)
    with caplog.at_level(logging.ERROR):
        pipe.close()
    assert f"events of pid {writer.pid}: a batch was cut short" in caplog.text


def test_frames_of_threads_writing_at_once_interleave_and_each_batch_arrives_whole() -> None:
    pipe = EventPipe(multiprocessing.get_context("fork"))
    threads = [threading.Thread(target=write_batches, args=(pipe, f"T{k}", 100)) for k in range(3)]
    for t in threads:
        t.start()
    got = read_batches(pipe, 300)
    for t in threads:
        t.join(10)
    assert got == {f"T{k}": list(range(100)) for k in range(3)}
    pipe.close()


def test_a_batch_marshal_cannot_write_goes_as_a_pickle() -> None:
    batch = [(1, "P1", 2, 3, "put", "P1#1", {"share": Fraction(1, 3)})]
    assert decode(encode(batch)) == batch
    assert decode(encode([(1, "P1")])) == [(1, "P1")]
    with pytest.raises(ValueError, match="unknown batch tag"):
        decode(b"?garbage")


def test_the_servers_put_gives_up_when_nobody_reads(caplog: pytest.LogCaptureFixture) -> None:
    pipe = EventPipe(multiprocessing.get_context("fork"), put_timeout=0.05)
    with caplog.at_level(logging.ERROR):
        for _ in range(10_000):  # far more than the pipe holds; nobody reads
            pipe.put(["x" * 1000])
            if caplog.records:
                break
    assert "nobody reads the run's events" in caplog.text
    pipe.close()
