"""What a lesson's run takes from outside its program (`Experiment.prepare`:
the broker lesson's own Redis database) and why a lesson cannot run now
(`Experiment.unavailable`): given to the program, given back when the run
ends, and refused with the reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import run_async
from harness import start
from pydantic import BaseModel, ConfigDict

from app.experiments import EXPERIMENTS
from app.experiments.lesson import program_lesson
from app.experiments.spec import Unavailable
from app.programs.boot.concviz_tracer import kinds as K
from app.web.app import create_app

PROGRAM = 'import os\n\nprint("the address:", os.environ["LESSON_ADDRESS"])\n'


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Lease:
    def __init__(self) -> None:
        self.env = {"LESSON_ADDRESS": "somewhere:1"}
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def lesson(folder: Path, **extra: object):  # type: ignore[no-untyped-def]
    (folder / "program.py").write_text(PROGRAM, encoding="utf-8")
    return program_lesson(
        slug="resourceful",
        title="t",
        summary="s",
        lecture_part="-",
        folder=folder,
        params=Params,
        frame_template="partials/program/_frame.html",
        **extra,  # type: ignore[arg-type]
    )


def test_the_program_gets_what_was_prepared_and_it_is_given_back_at_the_end(
    tmp_path: Path,
) -> None:
    leases: list[Lease] = []

    def prepare() -> Lease:
        leases.append(Lease())
        return leases[-1]

    rt, recorder, _budget = start(lesson(tmp_path, prepare=prepare), Params())
    assert rt.join(20.0)
    said = [r[6]["text"] for r in recorder.raw if r[4] == K.OUT]
    assert "the address: somewhere:1\n" in "".join(said)
    assert [lease.closed for lease in leases] == [1]


def test_a_run_that_cannot_get_what_it_needs_does_not_start(tmp_path: Path) -> None:
    def prepare() -> Lease:
        raise Unavailable("no broker here")

    exp = lesson(tmp_path, prepare=prepare)
    with pytest.raises(Unavailable, match="no broker here"):
        start(exp, Params())


@pytest.fixture
def unavailable_lesson(tmp_path: Path) -> Iterator[str]:
    exp = lesson(tmp_path, unavailable=lambda: "the broker did not start: no redis-server")
    EXPERIMENTS[exp.slug] = exp
    yield exp.slug
    del EXPERIMENTS[exp.slug]


def test_a_lesson_that_cannot_run_says_why_and_refuses_start(unavailable_lesson: str) -> None:
    async def ask() -> tuple[httpx.Response, httpx.Response]:
        app = create_app()
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1))
            async with httpx.AsyncClient(
                transport=transport, base_url="http://127.0.0.1:8000"
            ) as c:
                run = await c.post(
                    "/api/runs", json={"experiment": unavailable_lesson, "params": {}}
                )
                page = await c.get(f"/experiments/{unavailable_lesson}")
        return run, page

    run, page = run_async(ask())
    assert run.status_code == 503
    assert run.json()["detail"] == "the broker did not start: no redis-server"
    assert page.status_code == 200
    assert "This lesson cannot run now: the broker did not start" in page.text
    assert '<button type="submit" class="start" form="controls" disabled' in page.text
