"""A lesson that takes joined workers (`Experiment.joins`), for the join
tests: a program that waits in its main role and, run as
``python FILE ROLE LABEL``, sleeps in that role until it is stopped; its
"broker" is an address in its environment, as the broker lesson's
REDIS_URL is."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from app.experiments.lesson import program_lesson
from app.experiments.spec import Experiment
from app.params import speed_field

SLUG = "joined-test"
REDIS_URL = "redis://:secret@127.0.0.1:6390/3"
PROGRAM = """import os
import sys
import time

if len(sys.argv) > 2:  # one worker of a running lesson: ROLE LABEL
    print(sys.argv[1], sys.argv[2], "on", os.environ["REDIS_URL"], flush=True)
while True:
    time.sleep(0.05)
"""


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    speed: float = speed_field("Speed", "time factor for the program's sleeps")


class Lease:
    env = {"REDIS_URL": REDIS_URL}

    def close(self) -> None:
        pass


def joined_lesson(folder: Path) -> Experiment:
    (folder / "program.py").write_text(PROGRAM, encoding="utf-8")
    return program_lesson(
        slug=SLUG,
        title="t",
        summary="s",
        lecture_part="-",
        folder=folder,
        params=Params,
        frame_template="partials/program/_frame.html",
        prepare=Lease,
        joins=("consumer", "producer"),
    )
