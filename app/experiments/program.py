"""`program`: any Python program, unmodified, traced live (design.md section 6).

The server runs the program in a process of its own, in a session and a
temporary directory of its own, with the tracer installed at interpreter
start in every process of its tree (`app.programs`). What the page shows is
what the program does: its processes, threads, queues, locks and output.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.experiments.spec import Experiment
from app.i18n import N_
from app.programs import source as src
from app.programs.model import fold
from app.programs.runtime import ProgramRuntime
from app.programs.state import ProgramState
from app.programs.view import view

# A small program for quick runs (tests): a thread, a queue and a print.
QUICK = """\
import queue
import threading

q = queue.Queue(2)


def make():
    for n in range(3):
        q.put(n)


t = threading.Thread(target=make, name="maker")
t.start()
for _ in range(3):
    print("got", q.get())
t.join()
"""


class ProgramParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        QUICK,
        title=N_("Program"),
        description=N_("the Python program to run, as it is"),
        max_length=src.MAX_SOURCE_BYTES,
    )
    args: list[Annotated[str, Field(max_length=src.MAX_ARG_CHARS)]] = Field(
        default_factory=list,
        title=N_("Arguments"),
        description=N_("the program's command-line arguments (sys.argv[1:])"),
        max_length=src.MAX_ARGS,
    )
    stdin: str = Field(
        "",
        title=N_("Input"),
        description=N_("what the program reads on stdin (input()), a line each"),
        max_length=src.MAX_STDIN_CHARS,
    )
    filename: str = Field(
        src.DEFAULT_FILENAME,
        title=N_("File name"),
        description=N_("the script's name, e.g. lesson.py"),
        pattern=src.FILENAME.pattern,
        json_schema_extra={
            "bounds": N_("a name like week-3.py or 作业3.py, with no space, slash or quote")
        },
    )

    @field_validator("source", mode="before")
    @classmethod
    def _plain(cls, value: Any) -> Any:
        return src.plain(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _compiles(self) -> ProgramParams:
        problem = src.check(self.source, self.filename)
        if problem is not None:
            raise ValueError(f"source: it does not compile: {problem}")
        return self


def _script(params: dict[str, Any]) -> str:
    """The download is the program itself: it runs with plain `python`."""
    return str(params["source"])


def _workers_needed(params: Any) -> int:
    return 1  # the program's first process; its own children are its limits' business


EXPERIMENT = Experiment(
    slug="program",
    title=N_("Your own program"),
    summary=N_("Paste any Python program and watch its real processes, threads, queues and locks."),
    lecture_part="4-12",
    params=ProgramParams,
    new_state=ProgramState,
    fold=fold,
    frame_template="partials/program/_frame.html",
    stylesheet="experiments/program.css",
    view=view,
    script=_script,
    workers_needed=_workers_needed,
    runtime=ProgramRuntime,
    watch_template="partials/program/_watch.html",
    notes={"finished": N_("the program ended")},
    quick_params={"source": QUICK, "args": []},
)
