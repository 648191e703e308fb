"""HTML pages and the page's form posts.

The form posts make the same registry calls as the JSON API and answer with
HTML: the stage as the main content, and `<hx-partial>`s for the message next
to each control. A start refused at a limit answers next to Start with the
runs that hold the limit, each with a Stop; a lesson page lists its runs
still going, each with a Stop too.
"""

from __future__ import annotations

import asyncio
import html
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.experiments import EXPERIMENTS, Experiment
from app.experiments.spec import Unavailable
from app.i18n import _
from app.params import ParamsError
from app.recording import Recorder
from app.registry import RunRegistry
from app.runs import ENDED, LimitReached, NotFound, NotLive, Run
from app.web import choices, runlist
from app.web.frames import live_stage
from app.web.presenter import presenting
from app.web.render import templates

router = APIRouter()

MAX_FORM_BYTES = 16 * 1024


def _registry(request: Request) -> RunRegistry:
    reg: RunRegistry = request.app.state.registry
    return reg


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _fields(exp: Experiment) -> list[str]:
    return list(exp.params.model_fields) if exp.params is not None else []


def _going(reg: RunRegistry, exp: Experiment) -> list[runlist.RunRow]:
    return [runlist.of_run(r) for r in reg.going(exp.slug)]


def _result(
    request: Request,
    exp: Experiment,
    status_code: int,
    *,
    run: Run | None = None,
    errors: dict[str, str] | None = None,
    message: str = "",
    offer: runlist.Offer | None = None,
) -> HTMLResponse:
    context: dict[str, Any] = {
        "run": run,
        "errors": errors or {},
        "message": message,
        "fields": _fields(exp),
        "experiment": exp,
        "offer": offer,
        "going": _going(_registry(request), exp),
    }
    if run is not None:
        context.update(live_stage(request, run))
    return templates.TemplateResponse(
        request, "partials/_form_result.html", context, status_code=status_code
    )


@router.get("/", response_class=HTMLResponse)
async def index(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "index.html", {"experiments": list(EXPERIMENTS.values())}
    )


def _shown_run(reg: RunRegistry, slug: str, wanted: str | None) -> Run | None:
    """The run the stage shows: the one asked for (`?run=`) if it is of this
    lesson, else the lesson's latest."""
    if wanted:
        try:
            run = reg.get(wanted)
        except NotFound:
            run = None
        if run is not None and run.experiment.slug == slug:
            return run
    return reg.latest(slug)


@router.get("/experiments/{slug}", response_class=HTMLResponse)
async def experiment_page(slug: str, request: Request, run: str | None = None) -> HTMLResponse:
    reg = _registry(request)
    exp = reg.experiment(slug)
    shown = _shown_run(reg, slug, run)
    is_presenter = presenting(request)
    if is_presenter:
        reg.follow(slug, shown.id if shown is not None else None)
    # The presenter's form starts from their own last choices, else the
    # lesson's defaults; a read-only form shows the run on the stage.
    if is_presenter or shown is None:
        values = choices.decode(exp, request.cookies.get(choices.COOKIE))
        if shown is not None and shown.status not in ENDED:
            # The live controls move the run on the stage: they start where it is.
            values |= {n: getattr(shown.params, n) for n in exp.live_params()}
    else:
        values = shown.params.model_dump() | {choices.HIDDEN: shown.result_hidden}
    context: dict[str, Any] = {
        "experiment": exp,
        "schema": exp.schema(),
        "values": values,
        "errors": {},
        "message": "",
        "run": shown,
        "going": _going(reg, exp),
        "offer": None,
        # Why it cannot run now (no broker): may ask a server, off the loop.
        "unavailable": await asyncio.to_thread(exp.why_unavailable),
    }
    if shown is not None:
        context.update(live_stage(request, shown))
    return templates.TemplateResponse(request, "experiment.html", context)


@router.get("/experiments/{slug}/going", response_class=HTMLResponse)
async def lesson_runs(slug: str, request: Request, shown: str | None = None) -> HTMLResponse:
    """The lesson's runs still going, for its page to keep up to date;
    `shown` is the run on its stage."""
    reg = _registry(request)
    exp = reg.experiment(slug)
    return templates.TemplateResponse(
        request,
        "partials/_going.html",
        {"experiment": exp, "going": _going(reg, exp), "run": _shown_run(reg, slug, shown)},
    )


@router.post("/experiments/{slug}/start", response_class=HTMLResponse)
async def start_from_form(slug: str, request: Request) -> HTMLResponse:
    reg = _registry(request)
    exp = reg.experiment(slug)
    form = await _form(request)
    try:
        run = reg.start(slug, {k: v for k, v in form.items() if k in _fields(exp)})
        if form.get("result_hidden"):
            # Before its first frame: the run starts with its result hidden.
            reg.hide(run.id, True)
    except ParamsError as exc:
        errors = {e.field: e.message for e in exc.errors}
        return _result(
            request, exp, 422, errors=errors, message=_("Not started: %(why)s") % {"why": exc}
        )
    except LimitReached as exc:
        offer = runlist.offer(exc, reg.settings)
        return _result(request, exp, 429, offer=offer)
    except Unavailable as exc:
        return _result(request, exp, 503, message=_("Not started: %(why)s") % {"why": exc})
    response = _result(
        request, exp, 201, run=run, message=_("Run %(id)s started.") % {"id": run.id}
    )
    chosen = run.params.model_dump() | {choices.HIDDEN: bool(form.get("result_hidden"))}
    choices.remember(response, exp, chosen)
    return response


@router.post("/experiments/{slug}/stop", response_class=HTMLResponse)
async def stop_from_form(slug: str, request: Request) -> HTMLResponse:
    reg = _registry(request)
    reg.experiment(slug)
    run_id = (await _form(request)).get("run_id", "")
    if not run_id:
        return _text(_("Nothing is running."))
    try:
        run = await reg.stop(run_id)
    except NotFound as exc:
        return _text(str(exc), 404)
    return _text(_("Run %(id)s: %(status)s.") % {"id": run.id, "status": _(run.status)})


@router.post("/experiments/{slug}/live", response_class=HTMLResponse)
async def live_from_form(slug: str, request: Request) -> HTMLResponse:
    """A live slider moved: change the running run, or say it waits for Start."""
    reg = _registry(request)
    exp = reg.experiment(slug)
    form = await _form(request)
    field = form.get("field", "")
    if field not in exp.live_params():
        return _text(_("'%(field)s' cannot change live.") % {"field": field}, 409)
    try:
        run = reg.get(form.get("run_id", ""))
    except NotFound:
        run = None
    if run is None or run.status in ENDED:
        return _text(_("Applies when you press Start."))
    try:
        reg.patch(run.id, {field: form.get(field, "")})
    except (ParamsError, LimitReached, NotLive) as exc:
        return _message(exc)
    response = _text("")
    # A slider moved on a run is this presenter's choice too; only that
    # field: the run itself may have been started by someone else.
    mine = choices.decode(exp, request.cookies.get(choices.COOKIE))
    choices.remember(response, exp, {**mine, field: getattr(run.params, field)})
    return response


@router.post("/experiments/{slug}/calls", response_class=HTMLResponse)
async def call_from_form(slug: str, request: Request) -> HTMLResponse:
    """A button that makes a call on the running run (the queue playground).
    Empty fields are left out, so that the call model's defaults apply."""
    reg = _registry(request)
    reg.experiment(slug)
    form = await _form(request)
    run_id = form.pop("run_id", "")
    call = {k: v for k, v in form.items() if v != ""}
    try:
        reg.call(run_id, call)
    except NotFound:
        return _text(_("Press Start first."), 409)
    except (ParamsError, LimitReached, NotLive) as exc:
        return _message(exc)
    return _text("", 202)


@router.post("/experiments/{slug}/kill", response_class=HTMLResponse)
async def kill_from_form(slug: str, request: Request) -> HTMLResponse:
    """A Kill button on a worker of the running run: SIGKILL its process."""
    reg = _registry(request)
    reg.experiment(slug)
    form = await _form(request)
    worker = form.get("worker", "")
    try:
        reg.kill(form.get("run_id", ""), worker)
    except NotFound:
        return _text(_("Press Start first."), 409)
    except (ParamsError, NotLive) as exc:
        return _message(exc)
    return _text(_("%(worker)s was killed (SIGKILL).") % {"worker": worker})


@router.post("/runs/{run_id}/stop", response_class=HTMLResponse)
async def stop_listed_run(run_id: str, request: Request) -> Response:
    """A Stop in a list of runs: stop it, and answer with its entry, ended.
    `view` says which list: `row` (the runs page) or `item` (a lesson's runs,
    or the runs that hold a limit; `prefix` keeps their ids apart)."""
    reg = _registry(request)
    form = await _form(request)
    try:
        run = await reg.stop(run_id)
    except NotFound as exc:
        return _text(str(exc), 404)
    if form.get("view") == "row":
        recorder: Recorder = request.app.state.recorder
        record = await asyncio.to_thread(recorder.run, run_id)
        return templates.TemplateResponse(
            request, "partials/_run_row.html", {"r": runlist.of_run(run, record)}
        )
    prefix = form.get("prefix", "")
    return templates.TemplateResponse(
        request,
        "partials/_run_item.html",
        {
            "r": runlist.of_run(run),
            "prefix": prefix if prefix in ("going", "holder") else "going",
            "with_title": form.get("with_title") == "1",
            "show_workers": form.get("show_workers") == "1",
        },
    )


@router.get("/runs/{run_id}/row", response_class=HTMLResponse)
async def run_row(run_id: str, request: Request) -> Response:
    """One row of the runs page, again: a run that goes on asks for its row
    every few seconds, until it has ended. Nothing (the row goes) for a run
    this server no longer knows."""
    reg = _registry(request)
    recorder: Recorder = request.app.state.recorder
    record = await asyncio.to_thread(recorder.run, run_id)
    try:
        row = runlist.of_run(reg.get(run_id), record)
    except NotFound:
        if record is None:
            return HTMLResponse("")
        row = runlist.of_record(record)
    return templates.TemplateResponse(request, "partials/_run_row.html", {"r": row})


def _message(exc: Exception) -> HTMLResponse:
    """A refused change, as the text shown next to the control."""
    status = {ParamsError: 422, LimitReached: 429, NotLive: 409}[type(exc)]
    return _text(str(exc), status)


def _text(message: str, status_code: int = 200) -> HTMLResponse:
    """Plain words for a message slot; escaped, since they may echo input."""
    return HTMLResponse(html.escape(message), status_code=status_code)


# Last: it would catch the routes above.
@router.post("/experiments/{slug}/{action}", response_class=HTMLResponse)
async def run_action_from_form(slug: str, action: str, request: Request) -> HTMLResponse:
    """Pause, resume, step mode on and off, and a permit in step mode."""
    if action not in ("pause", "resume", "step-on", "step-off", "permit", "hide", "reveal"):
        return _text(_("no such action: %(action)s") % {"action": action}, 404)
    reg = _registry(request)
    reg.experiment(slug)
    form = await _form(request)
    run_id = form.get("run_id", "")
    if not run_id and action in ("hide", "reveal"):
        # An ended run's result can still be hidden or revealed: the lesson's
        # latest run, the one its page shows.
        latest = reg.latest(slug)
        if latest is None:
            return _text(_("No run yet: tick “Hide the result” in the settings, then Start."))
        run_id = latest.id
    if not run_id:
        return _text(_("Nothing is running."))
    try:
        if action == "pause":
            run = reg.pause(run_id)
        elif action == "resume":
            run = reg.resume(run_id)
        elif action in ("hide", "reveal"):
            run = reg.hide(run_id, action == "hide")
            message = (
                _("Result hidden: ask the class to predict.")
                if action == "hide"
                else _("Result shown: compare it with the class's predictions.")
            )
            return templates.TemplateResponse(
                request,
                "partials/_reveal_result.html",
                {**live_stage(request, run), "message": message},
            )
        elif action == "permit":
            reg.permit(run_id, form.get("worker", ""))
            return _text("")
        else:
            run = reg.set_stepping(run_id, action == "step-on")
    except NotFound as exc:
        return _text(str(exc), 404)
    except NotLive as exc:
        return _message(exc)
    if action.startswith("step"):
        return _text(
            _("Step mode: pick who acts next.") if run.state.stepping else _("Running freely.")
        )
    if run.state.paused:
        return _text(_("Run %(id)s is paused.") % {"id": run.id})
    return _text(_("Run %(id)s goes on.") % {"id": run.id})
