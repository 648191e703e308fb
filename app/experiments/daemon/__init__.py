"""Daemon threads and daemon processes: who outlives whom (part 11 of the lecture).

The lesson is one program, `program.py`, run under the tracer. It starts
two versions of itself side by side, each a fresh Python program (what a
student gets from ``python daemon.py thread``):

- the *thread version*: main starts a daemon thread (it sleeps `daemon_ms`)
  and a normal thread (`normal_ms`), does its own work (`main_ms`), and its
  code ends. Python then waits for every non-daemon thread and exits; the
  daemon thread is stopped with the process and never prints "over".
- the *process version*: the same with `multiprocessing` children. When
  main's code ends, multiprocessing's exit hook terminates the daemon child
  at once (SIGTERM) and then waits for the normal one.

Why fresh interpreters: a forked child is not a fresh program, and its
exit steps run in another order than a real program's. The overlay
(`overlay.py`) folds the versions' tracks from the trace; the view
(`view.py`) draws them as two timelines on one scale.
"""

from __future__ import annotations

from pathlib import Path

from app.experiments.daemon.overlay import DaemonState, overlay
from app.experiments.daemon.view import view
from app.experiments.lesson import program_lesson
from app.i18n import N_
from app.params import SPEED_MAX, SPEED_MIN, LessonParams, ms_field, number_field
from app.programs.state import CUT_OFF, FINISHED, KILLED

SLUG = "daemon"


class Params(LessonParams):
    daemon_ms: int = ms_field(
        3000,
        N_("Daemon sleeps (ms)"),
        N_("the daemon thread / process sleeps this long, then prints 'over'"),
    )
    normal_ms: int = ms_field(
        2000,
        N_("Normal sleeps (ms)"),
        N_("the normal thread / process sleeps this long, then prints 'over'"),
    )
    main_ms: int = ms_field(
        1000, N_("Main works (ms)"), N_("main's own work before its code ends (0 in the lecture)")
    )
    # At half speed both versions take about 4 s: long enough to watch who
    # is still there when main's code ends. Fixed at start (not live): the
    # timeline's ghosts say when each one was due to print 'over'.
    speed: float = number_field(
        0.5,
        SPEED_MIN,
        SPEED_MAX,
        N_("Speed of both programs"),
        N_("time factor: every duration is divided by it (fixed at start)"),
    )


EXPERIMENT = program_lesson(
    slug=SLUG,
    title=N_("Daemon threads and processes"),
    summary=N_("Who outlives whom, on a timeline."),
    lecture_part="11",
    folder=Path(__file__).parent,
    params=Params,
    new_state=DaemonState,
    overlay=overlay,
    view=view,
    quick_params={"speed": 5},
    notes={"finished": N_("both programs have exited")},
    # Who was still there when main's code ended, and who was stopped.
    outcome_states=frozenset({FINISHED, KILLED, CUT_OFF}),
    # The program, its two versions, and the process version's two children.
    workers_needed=lambda params: 5,
)
