"""When does it end? The termination lesson (parts 6 and 7 of the lecture).

The lesson is its program (`program.py`, whose four endings `mode` picks);
`overlay.py` folds the lesson's panels from its trace (the unfinished-task
counter, the hang, the lost hot dogs), and `view.py` says what its templates
draw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from app.experiments.joinable.overlay import JOINABLE, NAIVE, NO_JOIN, SENTINEL, JoinableState
from app.experiments.joinable.overlay import overlay as fold_overlay
from app.experiments.joinable.view import view as lesson_view
from app.experiments.lesson import program_lesson
from app.i18n import N_
from app.params import QueueWork, capacity_field, choice_field, ms_field, number_field, speed_field
from app.programs.state import CUT_OFF, KILLED

SLUG = "joinable"
__all__ = ["JOINABLE", "NAIVE", "NO_JOIN", "SENTINEL", "JoinableState"]


class Params(QueueWork):
    # Titles worded for this lesson (hot-dog stands and eaters), so that its
    # messages stay its own and do not merge with producer/consumer's.
    mode: Literal["naive", "joinable", "no-join", "sentinel"] = choice_field(
        "naive",
        N_("Ending"),
        N_(
            "naive: the hang; joinable: JoinableQueue + q.join(); "
            "no-join: daemons killed too early; sentinel: one STOP per consumer"
        ),
    )
    producers: int = number_field(3, 1, 6, N_("Stands (producers)"), N_("hot-dog stands"))
    consumers: int = number_field(2, 1, 6, N_("Eaters (consumers)"), N_("people eating hot dogs"))
    items_per_producer: int = number_field(
        5, 1, 50, N_("Hot dogs per stand"), N_("hot dogs each stand makes")
    )
    capacity: int = capacity_field(0, 20, N_("Queue maxsize"), N_("Queue(maxsize): 0 = unbounded"))
    produce_min_ms: int = ms_field(
        1000, N_("Making time min (ms)"), N_("shortest time for making one item, at speed 1")
    )
    produce_max_ms: int = ms_field(
        3000, N_("Making time max (ms)"), N_("longest time for making one item, at speed 1")
    )
    consume_min_ms: int = ms_field(
        1000, N_("Eating time min (ms)"), N_("shortest time for eating one item, at speed 1")
    )
    consume_max_ms: int = ms_field(
        3000, N_("Eating time max (ms)"), N_("longest time for eating one item, at speed 1")
    )
    # At 1.5x a run takes about 10-13 s (at lesson time: 15-22 s).
    speed: float = speed_field(N_("Lesson speed"), N_("1 = lesson time; changes live"), default=1.5)
    # Real time: the speed scales the program's sleeps, not its join()'s
    # timeout. The lesson's naive program would wait for ever; this one
    # must end, as its download does.
    hang_after_ms: int = number_field(
        3000,
        100,
        60000,
        N_("Hang after (ms)"),
        N_(
            "naive: how long main waits in join() once every item is eaten, before it calls "
            "it a hang and ends the consumers (real time, not scaled by speed)"
        ),
    )


# A mode that ends by itself, and delays of a few ms: the program runs in
# well under a second (tests, and the scripts' own check).
QUICK_PARAMS: dict[str, Any] = {
    "mode": JOINABLE,
    "produce_min_ms": 0,
    "produce_max_ms": 100,
    "consume_min_ms": 0,
    "consume_max_ms": 200,
    "speed": 20,
    "hang_after_ms": 200,
}

EXPERIMENT = program_lesson(
    slug=SLUG,
    title=N_("When does it end?"),
    summary=N_(
        "The hang after the producers finish, then JoinableQueue, daemons and the sentinel."
    ),
    lecture_part="6-7",
    folder=Path(__file__).parent,
    params=Params,
    controls_template="partials/joinable/_modes.html",
    new_state=JoinableState,
    overlay=fold_overlay,
    view=lesson_view,
    quick_params=QUICK_PARAMS,
    notes={"finished": N_("main's program ended")},
    # How an eater ended tells the outcome: cut off as a daemon, or killed.
    outcome_states=frozenset({CUT_OFF, KILLED}),
)

fold_all = EXPERIMENT.fold_all
