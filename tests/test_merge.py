"""The reader's merge of a program's batches (`app.programs.merge`): every
event handed over once, in time order, though batches of different
processes arrive out of step."""

from __future__ import annotations

import queue
import random
import threading
import time
from typing import Any

from app.programs.merge import HOLD_NS, EventMerge


class ScriptedFifo:
    """Hands out the batches it was given, then nothing."""

    def __init__(self, batches: list[list[Any]]) -> None:
        self.batches = batches

    def get(self, timeout: float) -> Any:
        if self.batches:
            return self.batches.pop(0)
        time.sleep(min(timeout, 0.001))
        raise queue.Empty


def test_batches_out_of_step_come_out_in_time_order_each_event_once() -> None:
    rng = random.Random(7)
    now = time.monotonic_ns()
    # Two writers, each in its own order, batches interleaved out of step
    # within the time the merge holds events (stamped ahead, so that all of
    # them are read before the first is due, also on a loaded machine).
    writers = {
        name: [(now + 10 * HOLD_NS + rng.randrange(HOLD_NS), name, n) for n in range(3000)]
        for name in ("P", "C")
    }
    batches = []
    for evs in writers.values():
        evs.sort()
        batches += [evs[i : i + 256] for i in range(0, len(evs), 256)]
    rng.shuffle(batches)
    raws = [[(t, name, 1, 1, "put", "k", {"n": n}) for t, name, n in batch] for batch in batches]
    handed: list[list[Any]] = []
    merge = EventMerge(handed.append, lambda: None)
    reader = threading.Thread(target=merge.read, args=(ScriptedFifo(raws),))
    reader.start()
    merge.emit("quiet", {"s": 0.5})  # the supervisor's own, merged in
    deadline = time.monotonic() + 5
    while sum(map(len, handed)) < 6000 + 1 and time.monotonic() < deadline:
        time.sleep(0.01)  # until the last is due and handed over
    merge.reading = False
    reader.join(5)
    assert not reader.is_alive()
    out = [raw for batch in handed for raw in batch]
    assert len(out) == 6000 + 1
    assert [r[0] for r in out] == sorted(r[0] for r in out)
    assert sorted((r[1], r[6]["n"]) for r in out if r[4] == "put") == sorted(
        (name, n) for name in ("P", "C") for n in range(3000)
    )
    assert merge.events == 6000
    assert any(r[4] == "quiet" for r in out)


class QueueFifo:
    """What the test puts, as the program's processes send it."""

    def __init__(self) -> None:
        self.q: queue.Queue[list[Any]] = queue.Queue()

    def get(self, timeout: float) -> Any:
        return self.q.get(timeout=timeout)


def printed(t: int, text: str, at: int) -> tuple[Any, ...]:
    return (t, "main", 1, 1, "out", None, {"stream": "stdout", "text": text, "at": at})


def wait_until(done: Any) -> None:
    deadline = time.monotonic() + 5
    while not done() and time.monotonic() < deadline:
        time.sleep(0.001)
    assert done()


def test_a_line_written_past_python_waits_for_the_print_after_it_that_came_late() -> None:
    handed: list[list[Any]] = []
    merge = EventMerge(handed.append, lambda: None)
    fifo = QueueFifo()
    reader = threading.Thread(target=merge.read, args=(fifo,))
    reader.start()
    fifo.q.put([printed(time.monotonic_ns(), "1 print\n", 0)])
    wait_until(lambda: merge.events == 1)
    # os.write wrote "2 os.write" at offset 8 and the program printed again
    # before the server read the line; that print's event comes later.
    read = time.monotonic_ns()
    merge.written_past_python([("stdout", "2 os.write", 8)], final=False)
    fifo.q.put([printed(read - 1_000_000, "3 print\n", 19)])
    wait_until(lambda: merge.events == 2)
    merge.written_past_python([], final=False)
    merge.reading = False
    reader.join(5)
    said = [(r[4], r[6]["text"].strip()) for batch in handed for r in batch]
    assert said == [("out", "1 print"), ("raw_out", "2 os.write"), ("out", "3 print")]


def test_a_line_no_print_follows_is_said_once_all_sent_before_it_is_read() -> None:
    handed: list[list[Any]] = []
    merge = EventMerge(handed.append, lambda: None)
    reader = threading.Thread(target=merge.read, args=(QueueFifo(),))
    reader.start()
    before = time.monotonic_ns()
    merge.written_past_python([("stderr", "a warning", 0)], final=False)
    after = time.monotonic_ns()

    def said() -> bool:
        merge.written_past_python([], final=False)  # the supervisor looks again
        return any(r[4] == "raw_out" for batch in handed for r in batch)

    wait_until(said)
    merge.reading = False
    reader.join(5)
    raws = [r for batch in handed for r in batch if r[4] == "raw_out"]
    assert [r[6] for r in raws] == [{"stream": "stderr", "text": "a warning"}]
    assert before <= raws[0][0] <= after  # when it was read, not when it was said
