"""The queue, call by call (parts 3 and 4 of the lecture).

The lesson is its program (`program.py`): main owns one bounded queue q and
starts one caller per call (a child process for a multiprocessing.Queue, a
thread for a queue.LifoQueue); the calls are the presenter's buttons
(`concviz_live.next_call`) or the lecture's example.

Timeouts are real seconds: the speed slider scales the program's sleeps (the
example's pauses), not a queue call's timeout: `get(timeout=2)` waits 2 s at
any speed, as in the downloaded program.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from app.experiments.constants import constants
from app.experiments.lesson import program_lesson, program_text
from app.experiments.queue_calls.overlay import QueueState, overlay
from app.experiments.queue_calls.view import view
from app.i18n import N_, _
from app.params import LessonParams, capacity_field, choice_field, number_field, speed_field

SLUG = "queue"
FOLDER = Path(__file__).parent
# The program's limits on its callers (they set the run's worker budget).
_LIMITS = constants(program_text(FOLDER))
MAX_CALLERS, MAX_ALIVE = int(_LIMITS["MAX_CALLERS"]), int(_LIMITS["MAX_ALIVE"])

VALUE_MIN, VALUE_MAX = 0, 999
TIMEOUT_MIN, TIMEOUT_MAX = 0.1, 30.0

Op = Literal["put", "put_nowait", "get", "get_nowait"]


class Params(LessonParams):
    kind: Literal["fifo", "lifo"] = choice_field(
        "fifo",
        N_("Kind of queue"),
        N_(
            "fifo: multiprocessing.Queue, each call by a child process;"
            " lifo: queue.LifoQueue, each call by a thread"
        ),
    )
    capacity: int = capacity_field(3, 10, N_("Capacity"), N_("slots in q; 0 = unbounded"))
    mode: Literal["buttons", "script"] = choice_field(
        "buttons",
        N_("Who makes the calls"),
        N_("buttons: you make the calls; script: main plays the lecture's example"),
    )
    speed: float = speed_field(
        N_("Script speed"), N_("time factor for the script's pauses; changes live")
    )
    # Real time: the speed scales the program's sleeps, not a queue call's
    # timeout (a quick run, and the tests, make it short here).
    script_timeout_s: float = number_field(
        2.0,
        TIMEOUT_MIN,
        TIMEOUT_MAX,
        N_("Script's timeout (s)"),
        N_(
            "how long the lecture example's get(timeout=...) waits before it raises"
            " queue.Empty (real seconds, not scaled by speed)"
        ),
    )

    @model_validator(mode="after")
    def _script_uses_queue_of_three(self) -> Params:
        if self.mode == "script" and self.capacity != 3:
            # Said in the visitor's language; it starts with the field it blames.
            raise ValueError(
                _(
                    "capacity must be 3 to play the lecture's example,"
                    " which uses Queue(3) (got %(got)s)"
                )
                % {"got": self.capacity}
            )
        return self


# The form's choices for `mode`, looked up where the form shows them.
MODE_WORDS = (N_("buttons"), N_("script"))


class Call(LessonParams):
    """One call on the run's queue (`POST /api/runs/{id}/calls`)."""

    op: Op = Field(title=N_("Call"), description="the queue method to call")
    value: int | None = number_field(
        None, VALUE_MIN, VALUE_MAX, N_("Value"), "the item to put; null: the next number"
    )
    timeout: float | None = number_field(
        None,
        TIMEOUT_MIN,
        TIMEOUT_MAX,
        N_("Timeout (s)"),
        "how long a put or get may wait; null: as long as it takes",
    )

    @model_validator(mode="after")
    def _fits_the_op(self) -> Call:
        if self.op.startswith("get") and self.value is not None:
            raise ValueError(
                _("value must be left out: %(op)s() takes no value (got %(got)s)")
                % {"op": self.op, "got": self.value}
            )
        if self.op.endswith("_nowait") and self.timeout is not None:
            raise ValueError(
                _("timeout must be left out: %(op)s() never waits (got %(got)s)")
                % {"op": self.op, "got": f"{self.timeout:g}"}
            )
        return self


# A quick run: the lecture's example with short pauses and timeout.
QUICK_PARAMS: dict[str, Any] = {"mode": "script", "speed": 20, "script_timeout_s": 0.1}

EXPERIMENT = program_lesson(
    slug=SLUG,
    title=N_("The queue, call by call"),
    summary=N_("put, get, put_nowait, get_nowait and timeouts on one bounded queue; FIFO vs LIFO."),
    lecture_part="3-4",
    folder=FOLDER,
    filename="queue_calls.py",  # queue.py would be imported by its own `import queue`
    params=Params,
    controls_template="partials/queue/_controls.html",
    new_state=QueueState,
    overlay=overlay,
    view=view,
    quick_params=QUICK_PARAMS,
    notes={"finished": N_("the lecture's example played to its end")},
    # main, and every caller it may have alive at once.
    workers_needed=lambda _params: 1 + MAX_ALIVE,
    call_model=Call,
)

fold_all = EXPERIMENT.fold_all
