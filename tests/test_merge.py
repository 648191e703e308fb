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
