"""Producer/consumer around one bounded queue (part 5 of the lecture).

Producers make numbered items, taking a random time for each, and put them
into a shared queue; consumers take them out and take a random time to use
each. When the queue is full a producer waits at its tail; when it is empty
a consumer waits at its head. The queue lets two sides of unequal speed work
together without waiting for each other item by item.
"""

from __future__ import annotations

import string
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app import events, model
from app.experiments.spec import Experiment, Role
from app.i18n import N_, _
from app.params import check_ranges
from app.worker import Worker

SLUG = "producer-consumer"


def _live(description: str) -> dict[str, Any]:
    return {"live": True, "description": description}


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    producers: int = Field(
        2,
        ge=1,
        le=16,
        title=N_("Producers"),
        json_schema_extra=_live(N_("producer workers; changes live")),
    )
    consumers: int = Field(
        2,
        ge=1,
        le=16,
        title=N_("Consumers"),
        json_schema_extra=_live(N_("consumer workers; changes live")),
    )
    capacity: int = Field(
        5,
        ge=0,
        le=20,
        title=N_("Queue capacity"),
        description=N_("slots in the queue; 0 = unbounded"),
    )
    items_per_producer: int = Field(
        10, ge=0, le=1000, title=N_("Items per producer"), description=N_("0 = endless")
    )
    produce_min_ms: int = Field(0, ge=0, le=10000, title=N_("Produce time min (ms)"))
    produce_max_ms: int = Field(2000, ge=0, le=10000, title=N_("Produce time max (ms)"))
    consume_min_ms: int = Field(0, ge=0, le=10000, title=N_("Consume time min (ms)"))
    consume_max_ms: int = Field(2000, ge=0, le=10000, title=N_("Consume time max (ms)"))
    speed: float = Field(
        1.0,
        ge=0.1,
        le=20.0,
        title=N_("Speed"),
        json_schema_extra=_live(N_("time factor; changes live")),
    )
    backend: Literal["process", "thread"] = Field(
        "process",
        title=N_("Backend"),
        description=N_("multiprocessing processes or threading threads"),
    )

    @model_validator(mode="after")
    def _ranges_ordered(self) -> Params:
        check_ranges(self, ("produce", "consume"))
        return self


# The loops look up what they call once (these params change only at the
# next start): at full speed a lookup is a fair share of an item's cost.


def producer(w: Worker) -> None:
    limit = w.params["items_per_producer"]
    low, high = w.params["produce_min_ms"], w.params["produce_max_ms"]
    retiring, emit, work, put = w.retiring, w.emit, w.work, w.queue.put
    n = 0
    while limit == 0 or n < limit:
        if retiring():
            emit(events.RETIRE)
            return
        n += 1
        item = f"{w.name}#{n}"
        emit(events.PRODUCE, item)
        work(low, high)
        put(item)


def consumer(w: Worker) -> None:
    low, high = w.params["consume_min_ms"], w.params["consume_max_ms"]
    retiring, emit, work, get = w.retiring, w.emit, w.work, w.queue.get
    while True:
        if retiring():
            emit(events.RETIRE)
            return
        item = get()
        if events.is_sentinel(item):
            return
        work(low, high)
        emit(events.DONE, item)


SCRIPT = string.Template('''\
"""Producer/consumer, as concviz runs it, without the server.

$producers producer(s) and $consumers consumer(s) share one queue ($capacity_words);
each producer makes $items_words. Run it with: python producer_consumer.py
"""

import os
import random
import time
$imports

PRODUCERS = $producers
CONSUMERS = $consumers
CAPACITY = $capacity                  # 0 = unbounded
ITEMS_PER_PRODUCER = $items
PRODUCE_MS = ($produce_min_ms, $produce_max_ms)          # time to make one item
CONSUME_MS = ($consume_min_ms, $consume_max_ms)          # time to use one item
SPEED = $speed                          # 2.0 = twice as fast


def pause(ms_range):
    time.sleep(random.uniform(*ms_range) / 1000 / SPEED)


def producer(name, q):
    for n in range(1, ITEMS_PER_PRODUCER + 1):
        pause(PRODUCE_MS)                 # make item n
        item = f"{name} #{n}"
        q.put(item)                       # waits here while the queue is full
        print(f"{name} (pid {os.getpid()}) put {item}", flush=True)


def consumer(name, q, done):
    while True:
        item = q.get()                    # waits here while the queue is empty
        if item is None:                  # the sentinel: no more items
            print(f"{name} (pid {os.getpid()}) took a sentinel and leaves", flush=True)
            break
        print(f"{name} (pid {os.getpid()}) took {item}", flush=True)
        pause(CONSUME_MS)                 # use the item
        done.put(item)


if __name__ == "__main__":
    q = Queue(CAPACITY)
    done = Queue()                        # what the consumers used, to check
    producers = [Worker(target=producer, args=(f"P{i}", q)) for i in range(1, PRODUCERS + 1)]
    consumers = [Worker(target=consumer, args=(f"C{i}", q, done)) for i in range(1, CONSUMERS + 1)]
    for w in producers + consumers:
        w.start()
    for p in producers:
        p.join()                          # every item is in the queue now
    for _ in consumers:
        q.put(None)                       # one sentinel per consumer
    used = [done.get() for _ in range(PRODUCERS * ITEMS_PER_PRODUCER)]
    for c in consumers:
        c.join()
    assert len(set(used)) == len(used) == PRODUCERS * ITEMS_PER_PRODUCER
    print(f"accounting: {len(used)} produced, {len(used)} consumed, each exactly once")
''')

_IMPORTS = {
    "process": "from multiprocessing import Process as Worker, Queue",
    "thread": "from queue import Queue\nfrom threading import Thread as Worker",
}


def script(params: dict[str, Any]) -> str:
    """The plain program for these parameters: it runs without the server and
    prints the same story. An endless run becomes 10 items per producer."""
    p = Params.model_validate(params)
    items = p.items_per_producer or 10
    return SCRIPT.substitute(
        imports=_IMPORTS[p.backend],
        producers=p.producers,
        consumers=p.consumers,
        capacity=p.capacity,
        capacity_words=f"{p.capacity} slots" if p.capacity else "unbounded",
        items=items,
        items_words=f"{items} items" + ("" if p.items_per_producer else " (the run was endless)"),
        produce_min_ms=p.produce_min_ms,
        produce_max_ms=p.produce_max_ms,
        consume_min_ms=p.consume_min_ms,
        consume_max_ms=p.consume_max_ms,
        speed=f"{p.speed:g}",
    )


# Where each worker is in the script, by its state ("role:state" first).
CODE_LINES = {
    model.PRODUCING: "pause(PRODUCE_MS)",
    model.PUT_WAIT: "q.put(item)",
    "producer:ready": 'print(f"{name} (pid {os.getpid()}) put',
    model.GET_WAIT: "item = q.get()",
    model.CONSUMING: "pause(CONSUME_MS)",
    "consumer:ready": "done.put(item)",
    model.LEAVING: "if item is None:",
}


# Items that stay in the queue less than this (on average: the items in it
# over the items done per second) are drawn without their entry animation:
# at full speed each frame holds new ones, which would only ever be seen
# fading in, and the queue looked empty.
BRISK_S = 1.0


def view(state: model.ViewState, params: dict[str, Any]) -> dict[str, Any]:
    capacity = int(params.get("capacity", 0))
    items = state.queue_items()
    per_producer = params.get("items_per_producer", 0)
    per_s = state.throughput
    return {
        "capacity": capacity,
        "queue": items,
        "brisk": per_s > 0 and len(items) / per_s < BRISK_S,
        "slots": capacity if capacity else max(8, len(items) + 2),
        "runbar_facts": [
            _("capacity %(n)s") % {"n": capacity} if capacity else _("unbounded queue"),
            _("%(n)s items per producer") % {"n": per_producer} if per_producer else _("endless"),
        ],
    }


EXPERIMENT = Experiment(
    slug=SLUG,
    title=N_("Producer / consumer"),
    summary=N_("Producers and consumers, each a real process, share one bounded queue."),
    lecture_part="5",
    params=Params,
    roles=(
        Role("producer", "P", producer, "producers"),
        Role("consumer", "C", consumer, "consumers"),
    ),
    program=script({}),
    script=script,
    code_lines=CODE_LINES,
    quick_params={
        "producers": 3,
        "consumers": 2,
        "items_per_producer": 5,
        "produce_max_ms": 20,
        "consume_max_ms": 20,
        "speed": 20,
    },
    source_role="producer",
    drain_role="consumer",
    modules=(__name__,),
    new_state=model.ViewState,
    fold=model.fold,
    view=view,
)
