"""Programs: the page where the presenter pastes one and runs it, and
`POST /api/programs`.

A program runs with the server user's rights, so only the presenter may
start one (the PresenterGate refuses every other control request), and it
is compiled first: one that does not compile gets 422 naming its line and
column, and nothing starts.
"""

from __future__ import annotations

import shlex
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.i18n import _
from app.params import ParamsError
from app.programs import gallery
from app.programs import source as src
from app.registry import RunRegistry
from app.runs import LimitReached, Run
from app.web import runlist
from app.web.frames import live_stage
from app.web.presenter import presenting
from app.web.render import templates

router = APIRouter()

SLUG = "program"
MAX_FORM_BYTES = src.MAX_SOURCE_BYTES + 16 * 1024


class ProgramRequest(BaseModel):
    """The body of `POST /api/programs`."""

    model_config = ConfigDict(extra="forbid")
    source: str = Field(min_length=1, max_length=src.MAX_SOURCE_BYTES)
    args: list[str] = Field(default_factory=list, max_length=src.MAX_ARGS)
    stdin: str = Field("", max_length=src.MAX_STDIN_CHARS)
    filename: str = src.DEFAULT_FILENAME

    @field_validator("source", mode="before")
    @classmethod
    def _plain(cls, value: Any) -> Any:
        return src.plain(value) if isinstance(value, str) else value


def _registry(request: Request) -> RunRegistry:
    reg: RunRegistry = request.app.state.registry
    return reg


def _compile_error(problem: src.CompileProblem) -> JSONResponse:
    return JSONResponse(
        {
            "detail": f"source: it does not compile: {problem}",
            "line": problem.line,
            "column": problem.column,
            "errors": [{"field": "source", "message": f"source: {problem}"}],
        },
        status_code=422,
    )


@router.post("/api/programs", status_code=201)
async def start_program(body: ProgramRequest, request: Request) -> Response:
    problem = src.check(body.source, body.filename)
    if problem is not None:
        return _compile_error(problem)
    run = _registry(request).start(SLUG, body.model_dump())
    return JSONResponse(run.to_dict(), status_code=201)


@router.get("/experiments/program", include_in_schema=False)
async def experiment_page(request: Request) -> RedirectResponse:
    """The lessons' address of a run (``?run=``, the runs page's links) keeps
    its query on the programs page."""
    query = request.url.query
    return RedirectResponse("/programs" + (f"?{query}" if query else ""), status_code=307)


def _page_context(request: Request, run: Run | None, **extra: Any) -> dict[str, Any]:
    reg = _registry(request)
    exp = reg.experiment(SLUG)
    context: dict[str, Any] = {
        "experiment": exp,
        "run": run,
        "examples": gallery.EXAMPLES,
        "limits": reg.settings,
        "stdin": "",
        "max_stdin": src.MAX_STDIN_CHARS,
        "default_filename": src.DEFAULT_FILENAME,
        "filename_pattern": src.FILENAME.pattern,
        "filename_bad": src.NOT_IN_NAME,
        "message": "",
        "error_line": 0,
        **extra,
    }
    if run is not None:
        context.update(live_stage(request, run))
    return context


@router.get("/programs", response_class=HTMLResponse)
async def programs_page(request: Request, run: str = "", example: str = "") -> HTMLResponse:
    reg = _registry(request)
    shown = None
    if run:
        shown = next((r for r in reg.all() if r.id == run and r.experiment.slug == SLUG), None)
    if shown is None and not example:
        shown = reg.latest(SLUG)
    chosen = gallery.find(example) if example else None
    stdin = ""
    if chosen is not None:
        text, filename, args = chosen.source(), chosen.filename, " ".join(chosen.args)
    elif shown is not None:
        p = shown.params.model_dump()
        text, filename, args = p["source"], p["filename"], shlex.join(p["args"])
        stdin = p.get("stdin", "")
    else:
        first = gallery.EXAMPLES[0]
        text, filename, args = first.source(), first.filename, " ".join(first.args)
    if presenting(request):
        reg.follow(SLUG, shown.id if shown is not None else None)
    context = _page_context(request, shown, source=text, filename=filename, args=args, stdin=stdin)
    return templates.TemplateResponse(request, "programs.html", context)


@router.post("/programs/run", response_class=HTMLResponse, include_in_schema=False)
async def run_from_form(request: Request) -> HTMLResponse:
    body = await request.body()
    form = (
        dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        if len(body) <= MAX_FORM_BYTES
        else {}
    )
    text = form.get("source", "").replace("\r\n", "\n")
    filename = form.get("filename", "").strip() or src.DEFAULT_FILENAME
    stdin = form.get("stdin", "").replace("\r\n", "\n")

    def answer(
        status: int, message: str, run: Run | None = None, line: int = 0, offer: Any = None
    ) -> HTMLResponse:
        context = _page_context(request, run, message=message, error_line=line, offer=offer)
        return templates.TemplateResponse(
            request, "partials/program/_run_result.html", context, status_code=status
        )

    if not body or not form:
        return answer(422, _("Not started: the program is too long or empty."))
    try:
        args = shlex.split(form.get("args", ""))
    except ValueError as exc:
        return answer(422, _("Not started: the arguments: %(why)s") % {"why": exc})
    problem = src.check(text, filename)
    if problem is not None:
        message = _("Not started: line %(line)s, column %(column)s: %(why)s") % {
            "line": problem.line,
            "column": problem.column,
            "why": problem.message,
        }
        twin = problem.twin
        if twin is not None:
            hint = _(src.FULL_WIDTH) % {"char": twin[0], "ascii": twin[1]}
            message = _("%(error)s. %(hint)s") % {"error": message, "hint": hint}
        return answer(422, message, line=problem.line)
    try:
        run = _registry(request).start(
            SLUG, {"source": text, "args": args, "stdin": stdin, "filename": filename}
        )
    except LimitReached as exc:  # which runs hold the limit, each with a Stop
        return answer(429, "", offer=runlist.offer(exc, _registry(request).settings))
    except ParamsError as exc:  # too many arguments, too much input, a bad file name
        return answer(422, _("Not started: %(why)s") % {"why": exc})
    return answer(201, _("Run %(id)s started.") % {"id": run.id}, run)
