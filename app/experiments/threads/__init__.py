"""What a thread is (parts 8-10 of the lecture).

A process is the workshop: it holds the memory and the other resources. A
thread is one line of work inside it, and the thing the OS schedules. The
lesson is one program, `program.py`, run under the tracer in three acts:

1. *Two ways to start a thread*: `Thread(target=greet)` (T1) and a subclass
   of `Thread` whose `run()` is overridden (T2). Both live in main's process
   (one pid) with a native thread id of their own.
2. *Who prints first?*: main starts a thread that writes one line and then
   writes a line itself, `REPEAT` times. Both lines go to the same pipe, one
   `write()` each, so the pipe's order is the order of printing; the program
   prints who was first.
3. *Memory*: a global starts at 100. A thread (T3) sets it to 10 and main
   then reads 10; a child process (P1) sets its own copy to 10 and main
   still reads 100.
"""

from __future__ import annotations

from pathlib import Path

from app.experiments.lesson import program_lesson
from app.experiments.threads.overlay import ThreadsState, overlay
from app.experiments.threads.view import view
from app.i18n import N_
from app.params import LessonParams, ms_field, number_field, speed_field

SLUG = "threads"


class Params(LessonParams):
    repeat: int = number_field(
        10,
        1,
        100,
        N_("Start-order rounds"),
        N_("how many times main starts a thread and prints right after it"),
    )
    pause_ms: int = ms_field(
        250, N_("Pause between rounds (ms)"), N_("between two rounds; scaled by speed"), most=5000
    )
    step_ms: int = ms_field(
        1000,
        N_("Time per step (ms)"),
        N_("how long each step of acts 1 and 3 stays on screen; scaled by speed"),
    )
    speed: float = speed_field(
        N_("Program speed"), N_("time factor for every pause and step; changes live")
    )


EXPERIMENT = program_lesson(
    slug=SLUG,
    title=N_("What a thread is"),
    summary=N_("Two ways to start a thread; threads share a global, a child process does not."),
    lecture_part="8-10",
    folder=Path(__file__).parent,
    params=Params,
    new_state=ThreadsState,
    overlay=overlay,
    view=view,
    controls_template="partials/threads/_controls.html",
    quick_params={"repeat": 10, "pause_ms": 20, "step_ms": 200, "speed": 20},
    notes={"finished": N_("main's program ran to its end")},
)
