"""Pipes, files, sockets and shared memory, measured live (part 2 of the lecture).

The lecture lists four ways for processes to talk and says something about
each: a pipe is one-way, a file holds any amount but is slow, a socket takes
more code, shared memory is fast but small. The lesson is one program,
`program.py`, run under the tracer: for each way main forks a receiver and
a sender that time round trips and then stream messages one way, every
byte checked, with `multiprocessing.Queue` for reference and a memory copy
inside one process as the limit. The program prints what it measured; the
overlay reads it, and the page puts each claim next to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from app.experiments.ipc.overlay import IpcState, overlay
from app.experiments.ipc.view import view
from app.experiments.ipc.words import MiB
from app.experiments.lesson import program_lesson
from app.i18n import N_
from app.params import LessonParams, choice_field, number_field

SLUG = "ipc"
PAYLOAD_MIN, PAYLOAD_MAX = 64, 64 * MiB

# The choices of the form, looked up with _() where shown.
GROUP_NAMES = (N_("all"), N_("pipe"), N_("file"), N_("socket"), N_("shared_memory"), N_("queue"))


class Params(LessonParams):
    mechanisms: Literal["all", "pipe", "file", "socket", "shared_memory", "queue"] = choice_field(
        "all",
        N_("Mechanisms"),
        N_("all, or one of the lecture's ways (pipe and socket measure two kinds each)"),
    )
    payload_bytes: int = Field(
        MiB,
        ge=PAYLOAD_MIN,
        le=PAYLOAD_MAX,
        title=N_("Message size (bytes)"),
        description=N_("64 (64 B) to 67108864 (64 MiB); 1048576 is 1 MiB"),
        # Its bounds said as sizes too, in a message about it.
        json_schema_extra={"bounds": N_("an integer from 64 (64 B) to 67108864 (64 MiB)")},
    )
    messages: int = number_field(
        5000,
        1,
        100_000,
        N_("Messages per phase"),
        N_("at most this many round trips, then this many one-way messages"),
    )
    budget_ms: int = number_field(
        500,
        10,
        5000,
        N_("Time per phase (ms)"),
        N_("a phase also ends after this long, whichever comes first"),
    )


EXPERIMENT = program_lesson(
    slug=SLUG,
    title=N_("Pipes, files, sockets, shared memory"),
    summary=N_("The lecture's claims about each way to talk, measured live."),
    lecture_part="2",
    folder=Path(__file__).parent,
    params=Params,
    new_state=IpcState,
    overlay=overlay,
    view=view,
    quick_params={"payload_bytes": 64, "messages": 40, "budget_ms": 30},
    notes={"finished": N_("every mechanism had its turn")},
    workers_needed=lambda params: 3,  # main and one pair at a time
)
