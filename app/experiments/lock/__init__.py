"""The lock race (part 12 of the lecture): read, hold, write back.

The lesson is one program, `program.py`, run under the tracer. Each worker
takes one off a shared counter the slow way: it reads the counter into a
local variable, holds for a while, and writes back the local minus one.
Without a lock, workers that read before any of them writes all write the
same value, and the other updates are lost. With a lock around the
read-hold-write, one worker at a time is inside and nothing is lost.

Who holds the lock and who waits for it are the tracer's `acquire_wait`,
`acquired` and `released` of the program's `lock`; what each worker read
and wrote, and each round's final value, the program prints (the tracer
cannot see a variable being read). The overlay (`overlay.py`) folds both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from app.experiments.lesson import program_lesson
from app.experiments.lock.overlay import LockState, overlay
from app.experiments.lock.view import view
from app.i18n import N_
from app.params import LessonParams, choice_field, ms_field, number_field, speed_field

SLUG = "lock"


class Params(LessonParams):
    # Defaults a class can watch: without the lock the round lasts about the
    # hold (3 s), with it about workers x hold (15 s).
    threads: int = number_field(
        5, 1, 50, N_("Workers"), N_("threads or processes; each takes one off")
    )
    initial: int = number_field(
        10, 0, 1000, N_("Counter starts at"), N_("the shared counter's value")
    )
    hold_ms: int = ms_field(
        3000,
        N_("Hold (ms)"),
        N_("time between reading the counter and writing it back"),
        most=5000,
    )
    use_lock: bool = choice_field(
        False, N_("Use the lock"), N_("read, hold and write while holding the lock")
    )
    backend: Literal["thread", "process"] = choice_field(
        "thread",
        N_("Threads or processes"),
        N_("threads with a global, or processes with multiprocessing.Value"),
    )
    repeats: int = number_field(1, 1, 200, N_("Repeat"), N_("run the whole race this many times"))
    speed: float = speed_field(N_("Race speed"), N_("time factor of the race; changes live"))


EXPERIMENT = program_lesson(
    slug=SLUG,
    title=N_("The lock race"),
    summary=N_("Read, sleep, write: lost updates without a lock, none with one."),
    lecture_part="12",
    folder=Path(__file__).parent,
    params=Params,
    new_state=LockState,
    overlay=overlay,
    view=view,
    controls_template="partials/lock/_controls.html",
    quick_params={"threads": 4, "hold_ms": 40, "use_lock": True, "repeats": 2, "speed": 20},
    notes={"finished": N_("every round ended")},
    # main, and as many processes as workers when they are processes
    workers_needed=lambda params: 1 + int(params.threads),  # type: ignore[attr-defined]
)
