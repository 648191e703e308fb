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

from pydantic import BaseModel, ConfigDict, Field

from app.experiments.lesson import program_lesson
from app.experiments.lock.overlay import LockState, overlay
from app.experiments.lock.view import view
from app.i18n import N_
from app.params import ms_field, speed_field

SLUG = "lock"


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Defaults a class can watch: without the lock the round lasts about the
    # hold (3 s), with it about workers x hold (15 s).
    threads: int = Field(
        5,
        ge=1,
        le=50,
        title=N_("Workers"),
        description=N_("threads or processes; each takes one off"),
    )
    initial: int = Field(
        10,
        ge=0,
        le=1000,
        title=N_("Counter starts at"),
        description=N_("the shared counter's value"),
    )
    hold_ms: int = ms_field(
        3000,
        N_("Hold (ms)"),
        N_("time between reading the counter and writing it back"),
        most=5000,
    )
    # The enum makes the page's form draw a True/False select for it.
    use_lock: bool = Field(
        False,
        title=N_("Use the lock"),
        description=N_("read, hold and write while holding the lock"),
        json_schema_extra={"enum": [True, False]},
    )
    backend: Literal["thread", "process"] = Field(
        "thread",
        title=N_("Threads or processes"),
        description=N_("threads with a global, or processes with multiprocessing.Value"),
    )
    repeats: int = Field(
        1, ge=1, le=200, title=N_("Repeat"), description=N_("run the whole race this many times")
    )
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
