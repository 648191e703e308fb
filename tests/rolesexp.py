"""A test-only producer/consumer of the *roles* shape: the server starts and
retires the workers itself (`app.runtime.Runtime`, `set_count`), each
reporting through `w.emit(...)`. The lesson of that name is a traced program
now (app/experiments/producer_consumer/); the roles runtime still runs other
experiments, and these workers are how its tests drive it with live counts.

Kept light at import: the fork server preloads this module.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app import events, model
from app.experiments.spec import Experiment, Role
from app.i18n import N_, _
from app.params import check_ranges
from app.worker import Worker

SLUG = "roles-queue"


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
    modules=("rolesexp",),
    new_state=model.ViewState,
    fold=model.fold,
    view=view,
)
