"""HTML pages and the page's form posts.

The form posts make the same registry calls as the JSON API and answer with
HTML: the stage as the main content, and `<hx-partial>`s for the message next
to each control.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.experiments import EXPERIMENTS, Experiment
from app.i18n import _
from app.params import ParamsError
from app.runs import ENDED, LimitReached, NotFound, NotLive, Run, RunRegistry
from app.web.render import stage_context, templates

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


def _result(
    request: Request,
    exp: Experiment,
    status_code: int,
    *,
    run: Run | None = None,
    errors: dict[str, str] | None = None,
    message: str = "",
) -> HTMLResponse:
    context: dict[str, Any] = {
        "run": run,
        "errors": errors or {},
        "message": message,
        "fields": _fields(exp),
    }
    if run is not None:
        context.update(stage_context(run))
    return templates.TemplateResponse(
        request, "partials/_form_result.html", context, status_code=status_code
    )


@router.get("/", response_class=HTMLResponse)
async def index(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "index.html", {"experiments": list(EXPERIMENTS.values())}
    )


@router.get("/experiments/{slug}", response_class=HTMLResponse)
async def experiment_page(slug: str, request: Request) -> HTMLResponse:
    reg = _registry(request)
    exp = reg.experiment(slug)
    run = reg.latest(slug)
    presenter = request.app.state.presenter
    if presenter.is_presenter(request.headers.get("cookie", "")):
        reg.follow(slug, run.id if run is not None else None)
    context: dict[str, Any] = {
        "experiment": exp,
        "schema": exp.schema(),
        "values": run.params.model_dump() if run is not None else {},
        "errors": {},
        "message": "",
        "run": run,
    }
    if run is not None:
        context.update(stage_context(run))
    return templates.TemplateResponse(request, "experiment.html", context)


@router.post("/experiments/{slug}/start", response_class=HTMLResponse)
async def start_from_form(slug: str, request: Request) -> HTMLResponse:
    reg = _registry(request)
    exp = reg.experiment(slug)
    form = await _form(request)
    try:
        run = reg.start(slug, {k: v for k, v in form.items() if k in _fields(exp)})
    except ParamsError as exc:
        errors = {e.field: e.message for e in exc.errors}
        return _result(
            request, exp, 422, errors=errors, message=_("Not started: %(why)s") % {"why": exc}
        )
    except LimitReached as exc:
        return _result(request, exp, 429, message=_("Not started: %(why)s") % {"why": exc})
    return _result(request, exp, 201, run=run, message=_("Run %(id)s started.") % {"id": run.id})


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
    return _text("")


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
    if not run_id:
        return _text(_("Nothing is running."))
    try:
        if action == "pause":
            run = reg.pause(run_id)
        elif action == "resume":
            run = reg.resume(run_id)
        elif action in ("hide", "reveal"):
            reg.hide(run_id, action == "hide")
            return _text(_("Result hidden: ask the class to predict.") if action == "hide" else "")
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
