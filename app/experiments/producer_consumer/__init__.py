"""Producer/consumer around one bounded queue (part 5 of the lecture).

The lesson is its program (`program.py`: producers and consumers, processes
or threads, as many as the presenter's sliders say); `overlay.py` folds the
lesson's panels from its trace (the queue and its items, each worker's card,
the counters, throughput and each item's journey), and `view.py` says what
its templates draw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from app.experiments.lesson import program_lesson
from app.experiments.producer_consumer.overlay import PCState, overlay
from app.experiments.producer_consumer.view import view
from app.i18n import N_
from app.params import (
    QueueWork,
    capacity_field,
    choice_field,
    ms_field,
    number_field,
    speed_field,
    workers_field,
)

SLUG = "producer-consumer"
__all__ = ["EXPERIMENT", "PCState", "Params", "fold_all"]


class Params(QueueWork):
    producers: int = workers_field(2, 16, N_("Producers"), N_("producer workers; changes live"))
    consumers: int = workers_field(2, 16, N_("Consumers"), N_("consumer workers; changes live"))
    capacity: int = capacity_field(
        5, 20, N_("Queue capacity"), N_("slots in the queue; 0 = unbounded")
    )
    items_per_producer: int = number_field(10, 0, 1000, N_("Items per producer"), N_("0 = endless"))
    produce_min_ms: int = ms_field(0, N_("Produce time min (ms)"))
    produce_max_ms: int = ms_field(2000, N_("Produce time max (ms)"))
    consume_min_ms: int = ms_field(0, N_("Consume time min (ms)"))
    consume_max_ms: int = ms_field(2000, N_("Consume time max (ms)"))
    speed: float = speed_field(N_("Speed"), N_("time factor; changes live"))
    backend: Literal["process", "thread"] = choice_field(
        "process", N_("Backend"), N_("multiprocessing processes or threading threads")
    )


EXPERIMENT = program_lesson(
    slug=SLUG,
    title=N_("Producer / consumer"),
    summary=N_("Producers and consumers, each a real process, share one bounded queue."),
    lecture_part="5",
    folder=Path(__file__).parent,
    params=Params,
    new_state=PCState,
    overlay=overlay,
    view=view,
    quick_params={
        "producers": 3,
        "consumers": 2,
        "items_per_producer": 5,
        "produce_max_ms": 20,
        "consume_max_ms": 20,
        "speed": 20,
    },
    notes={"finished": N_("main's program ended")},
    # Main, and a process (or thread) per producer and consumer.
    workers_needed=lambda params: 1 + params.producers + params.consumers,  # type: ignore[attr-defined]
)

fold_all = EXPERIMENT.fold_all
