"""Beyond one machine: a queue held by a real broker (issue 17).

The lesson is its program (`program.py`): producer and consumer processes
share a Redis stream through a consumer group. A consumer killed mid-item
(the stage's Kill button) leaves its entry pending until another claims it:
delivery is at least once. The run gets a Redis database of its own from
the server's broker (`app.broker`: an embedded Redis server, or the one
`--redis` names); without one the page says why and Start is refused.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from app import broker
from app.experiments.broker.overlay import BrokerState, overlay
from app.experiments.broker.view import view
from app.experiments.lesson import program_lesson
from app.experiments.spec import Unavailable
from app.i18n import N_
from app.params import QueueWork, ms_field, number_field, speed_field, workers_field

SLUG = "broker"
__all__ = ["EXPERIMENT", "BrokerState", "Params"]


class Params(QueueWork):
    producers: int = workers_field(2, 8, N_("Producers"), N_("producer processes; changes live"))
    consumers: int = workers_field(2, 8, N_("Consumers"), N_("consumer processes; changes live"))
    items_per_producer: int = number_field(10, 0, 1000, N_("Items per producer"), N_("0 = endless"))
    produce_min_ms: int = ms_field(200, N_("Produce time min (ms)"))
    produce_max_ms: int = ms_field(1000, N_("Produce time max (ms)"))
    consume_min_ms: int = ms_field(500, N_("Consume time min (ms)"))
    consume_max_ms: int = ms_field(2000, N_("Consume time max (ms)"))
    claim_idle_ms: int = number_field(
        5000,
        100,
        60000,
        N_("Claim after (ms)"),
        N_(
            "an entry pending this long is taken over by another consumer; shorter than"
            " an item's work, and live consumers lose items too"
        ),
    )
    speed: float = speed_field(N_("Speed"), N_("time factor; changes live"))


def workers_needed(params: BaseModel) -> int:
    """Main, and a process per producer and consumer."""
    assert isinstance(params, Params)
    return 1 + params.producers + params.consumers


def lease() -> broker.Lease:
    """The run's own database on the broker (its program's REDIS_URL)."""
    try:
        return broker.lease()
    except broker.BrokerUnavailable as exc:
        raise Unavailable(str(exc)) from None


EXPERIMENT = program_lesson(
    slug=SLUG,
    title=N_("A queue on a real broker"),
    summary=N_(
        "Producers and consumers, each a process, share a Redis stream; kill a consumer"
        " mid-item and watch its item claimed by another."
    ),
    lecture_part="5+",
    folder=Path(__file__).parent,
    params=Params,
    new_state=BrokerState,
    overlay=overlay,
    view=view,
    quick_params={
        "producers": 2,
        "consumers": 2,
        "items_per_producer": 5,
        "produce_min_ms": 0,
        "produce_max_ms": 20,
        "consume_min_ms": 0,
        "consume_max_ms": 20,
        "claim_idle_ms": 300,
        "speed": 20,
    },
    notes={"finished": N_("main's program ended")},
    workers_needed=workers_needed,
    prepare=lease,
    unavailable=lambda: broker.current().error,  # why no run can start now, or None
    # Workers on other machines (concviz worker --join; app/joining).
    joins=("consumer", "producer"),
)
