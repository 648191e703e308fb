"""Producer/consumer around one bounded queue (part 5 of the lecture).

Producers make numbered items, taking a random time for each, and put them
into a shared queue; consumers take them out and take a random time to use
each. When the queue is full a producer waits at its tail; when it is empty
a consumer waits at its head. The queue lets two sides of unequal speed work
together without waiting for each other item by item.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app import events, model
from app.experiments.spec import Experiment, Role
from app.worker import Worker

SLUG = "producer-consumer"


def _live(description: str) -> dict[str, Any]:
    return {"live": True, "description": description}


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    producers: int = Field(
        2, ge=1, le=16, title="Producers", json_schema_extra=_live("producer workers; changes live")
    )
    consumers: int = Field(
        2, ge=1, le=16, title="Consumers", json_schema_extra=_live("consumer workers; changes live")
    )
    capacity: int = Field(
        5, ge=0, le=20, title="Queue capacity", description="slots in the queue; 0 = unbounded"
    )
    items_per_producer: int = Field(
        10, ge=0, le=1000, title="Items per producer", description="0 = endless"
    )
    produce_min_ms: int = Field(0, ge=0, le=10000, title="Produce time min (ms)")
    produce_max_ms: int = Field(2000, ge=0, le=10000, title="Produce time max (ms)")
    consume_min_ms: int = Field(0, ge=0, le=10000, title="Consume time min (ms)")
    consume_max_ms: int = Field(2000, ge=0, le=10000, title="Consume time max (ms)")
    speed: float = Field(
        1.0, ge=0.1, le=20.0, title="Speed", json_schema_extra=_live("time factor; changes live")
    )
    backend: Literal["process", "thread"] = Field(
        "process", title="Backend", description="multiprocessing processes or threading threads"
    )

    @model_validator(mode="after")
    def _ranges_ordered(self) -> Params:
        for side in ("produce", "consume"):
            lo, hi = getattr(self, f"{side}_min_ms"), getattr(self, f"{side}_max_ms")
            if lo > hi:
                raise ValueError(
                    f"{side}_min_ms ({lo}) must not be greater than {side}_max_ms ({hi})"
                )
        return self


def producer(w: Worker) -> None:
    limit = w.params["items_per_producer"]
    n = 0
    while limit == 0 or n < limit:
        if w.retiring():
            w.emit(events.RETIRE)
            return
        n += 1
        item = f"{w.name}#{n}"
        w.emit(events.PRODUCE, item)
        w.work(w.params["produce_min_ms"], w.params["produce_max_ms"])
        w.queue.put(item)


def consumer(w: Worker) -> None:
    while True:
        if w.retiring():
            w.emit(events.RETIRE)
            return
        item = w.queue.get()
        if events.is_sentinel(item):
            return
        w.work(w.params["consume_min_ms"], w.params["consume_max_ms"])
        w.emit(events.DONE, item)


PROGRAM = """\
import random
import time
from multiprocessing import Process, Queue


def producer(name, q, items):
    for n in range(1, items + 1):
        time.sleep(random.uniform(0, 2))  # make item n
        q.put(f"{name} #{n}")             # waits here while the queue is full


def consumer(name, q):
    while True:
        item = q.get()                    # waits here while the queue is empty
        if item is None:                  # the sentinel: no more items
            break
        time.sleep(random.uniform(0, 2))  # use the item


if __name__ == "__main__":
    q = Queue(5)
    producers = [Process(target=producer, args=(f"P{i}", q, 10)) for i in (1, 2)]
    consumers = [Process(target=consumer, args=(f"C{i}", q)) for i in (1, 2)]
    for p in producers + consumers:
        p.start()
    for p in producers:
        p.join()                          # every item is in the queue now
    for _ in consumers:
        q.put(None)                       # one sentinel per consumer
    for c in consumers:
        c.join()
"""


def view(state: model.ViewState, params: dict[str, Any]) -> dict[str, Any]:
    capacity = int(params.get("capacity", 0))
    items = state.queue_items()
    per_producer = params.get("items_per_producer", 0)
    return {
        "capacity": capacity,
        "queue": items,
        "slots": capacity if capacity else max(8, len(items) + 2),
        "runbar_facts": [
            f"capacity {capacity}" if capacity else "unbounded queue",
            f"{per_producer} items per producer" if per_producer else "endless",
        ],
    }


EXPERIMENT = Experiment(
    slug=SLUG,
    title="Producer / consumer",
    summary="Producers and consumers, each a real process, share one bounded queue.",
    lecture_part="5",
    params=Params,
    roles=(
        Role("producer", "P", producer, "producers"),
        Role("consumer", "C", consumer, "consumers"),
    ),
    program=PROGRAM,
    source_role="producer",
    drain_role="consumer",
    modules=(__name__,),
    new_state=model.ViewState,
    fold=model.fold,
    view=view,
)
