"""Joining a running run from another machine (`app.joining`): the
worker's two routes, which carry their own credential (the run's join
token, in the path), and the presenter's, who sees the join command and
revokes it.

Worker (no presenter cookie; the PresenterGate lets its batches through):

- ``GET /join/{run}/{token}``: what the worker runs (the program, its file
  name, the roles, REDIS_URL, the speed) and the server's clock;
- ``POST /join/{run}/{token}/events``: a batch of its events, checked,
  translated and folded into the run; answers its label and the speed.
  422 for a wrong body, 403 for a wrong or revoked token, 410 once the run
  has ended, 429 past MAX_JOINED workers.

Presenter: ``GET /runs/{run}/join`` (the page's panel: the command and
Revoke), ``POST /runs/{run}/join/revoke`` and ``/open``; the same as JSON at
``GET``, ``DELETE`` and ``POST /api/runs/{run}/join``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from app.events import RawEvent
from app.joining.desk import HEARTBEAT_S, JoinBoard, JoinDesk, JoinRefused
from app.joining.translate import ended, redis_prefix, translate
from app.joining.wire import MAX_BODY_BYTES, MAX_EVENTS, parse_batch
from app.params import FieldError, ParamsError
from app.registry import RunRegistry
from app.runs import Run
from app.settings import Settings
from app.web.addresses import base_url
from app.web.errors import not_json
from app.web.presenter import presenting
from app.web.render import templates

log = logging.getLogger(__name__)
router = APIRouter()


class Joins:
    """The server's joining: the board of every run's desk, and for each run
    with joined workers a watcher that ends the silent ones on its stage."""

    def __init__(self) -> None:
        self.board = JoinBoard()
        self._watchers: dict[str, asyncio.Task[None]] = {}

    def watch(self, run: Run, desk: JoinDesk) -> None:
        task = self._watchers.get(run.id)
        if task is None or task.done():
            self._watchers[run.id] = asyncio.get_running_loop().create_task(
                self._watch(run, desk), name=f"run-{run.id}-joins"
            )

    async def _watch(self, run: Run, desk: JoinDesk) -> None:
        while desk.workers and not run.ended.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(run.ended.wait(), HEARTBEAT_S)
            if not run.ended.is_set():
                _end_on_stage(run, desk.silent(time.monotonic()))
        if run.ended.is_set():
            desk.revoke()


def _joins(request: Request) -> Joins:
    joins: Joins = request.app.state.joins
    return joins


def _registry(request: Request) -> RunRegistry:
    reg: RunRegistry = request.app.state.registry
    return reg


def _going(run: Run) -> bool:
    return run.runtime is not None and not run.ended.is_set()


def _end_on_stage(run: Run, workers: list[Any]) -> None:
    """Show the processes of workers that can no longer say so as ended."""
    now = time.monotonic_ns()
    gone: list[RawEvent] = []
    for w in workers:
        gone += ended(w.translation, w.pids, now)
        w.pids.clear()
    if gone and _going(run):
        run.ingest(gone)


def _refused(exc: JoinRefused) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=exc.status)


def _admitted(request: Request, run_id: str, token: str) -> tuple[Run, JoinDesk]:
    """The run and its desk, if `token` is its join token and it goes on."""
    run = _registry(request).get(run_id)
    if not _going(run):
        raise JoinRefused(410, f"run {run_id} has ended ({run.status})")
    desk = _joins(request).board.get(run_id)
    if desk is None:
        raise JoinRefused(403, "joining is not open for this run: ask the presenter")
    desk.check(token)
    return run, desk


@router.get("/join/{run_id}/{token}", include_in_schema=False)
async def join(run_id: str, token: str, request: Request) -> Response:
    try:
        run, desk = _admitted(request, run_id, token)
    except JoinRefused as exc:
        return _refused(exc)
    exp = run.experiment
    assert exp.script is not None
    assert run.runtime is not None
    params = run.params.model_dump()
    left = max(1.0, run.settings.run_time_limit - run.clock_s)
    return JSONResponse(
        {
            "run": run.id,
            "experiment": exp.slug,
            "filename": exp.script_name(params),
            "program": exp.script(params),
            "roles": list(desk.roles),
            "env": {k: v for k, v in run.runtime.outside.guest_env().items() if k == "REDIS_URL"},
            "speed": float(params.get("speed", 1.0)),
            "time_limit_s": left,
            "heartbeat_s": HEARTBEAT_S,
            "max_events": MAX_EVENTS,
            "events": f"/join/{run.id}/{token}/events",
            "server_ns": time.monotonic_ns(),
        },
        headers={"cache-control": "no-store"},
    )


@router.post("/join/{run_id}/{token}/events", include_in_schema=False)
async def join_events(run_id: str, token: str, request: Request) -> Response:
    body = await request.body()
    try:
        run, desk = _admitted(request, run_id, token)
    except JoinRefused as exc:
        return _refused(exc)
    if len(body) > MAX_BODY_BYTES:
        raise ParamsError([FieldError("body", f"the body is longer than {MAX_BODY_BYTES} bytes")])
    try:
        text = body.decode("utf-8")
        decoded = json.loads(text)
    except UnicodeDecodeError:
        raise ParamsError([FieldError("body", "the body is not UTF-8 text")]) from None
    except json.JSONDecodeError as exc:
        raise ParamsError([not_json(text, exc.pos, exc.msg)]) from None
    batch = parse_batch(decoded, desk.roles)
    now = time.monotonic()
    try:
        joined = desk.worker(batch.worker, batch.host, batch.role, batch.offset_ns, now)
    except JoinRefused as exc:
        return _refused(exc)
    assert run.runtime is not None
    evs = translate(
        batch.events,
        joined.translation,
        start_ns=run.runtime.started_ns,
        now_ns=time.monotonic_ns(),
    )
    joined.saw(evs)
    if evs:
        run.ingest(evs)
    if batch.last:
        desk.leave(batch.worker)
        _end_on_stage(run, [joined])
    else:
        _joins(request).watch(run, desk)
    answer = {"label": joined.label, "speed": float(getattr(run.params, "speed", 1.0))}
    if joined.kills:  # the presenter's Kill on one of its processes
        answer["kill"], joined.kills = joined.kills, []
    return JSONResponse(answer)


# The presenter's side.


def join_base(settings: Settings) -> str:
    """This server as a worker on another machine (or, without --lan, in
    another terminal of this one) reaches it."""
    return base_url(settings.host, settings.port)


def offer(request: Request, run: Run, desk: JoinDesk | None) -> dict[str, Any]:
    """The join command of a run, as the panel and the API show it."""
    url = ""
    if desk is not None and desk.token is not None and _going(run):
        url = f"{join_base(request.app.state.settings)}/join/{run.id}/{desk.token}"
    return {
        "run": run.id,
        "open": bool(url),
        "going": _going(run),
        "url": url,
        "command": f"concviz worker --join {url}" if url else "",
        "roles": list(run.experiment.joins),
        "workers": [
            {"label": w.label, "host": w.host, "role": w.role, "pids": sorted(w.pids)}
            for w in (desk.workers.values() if desk is not None else ())
        ],
    }


def _desk(request: Request, run: Run) -> JoinDesk:
    """The run's desk, made (and joining opened) on the presenter's first look."""
    board = _joins(request).board
    desk = board.get(run.id)
    if desk is None:
        url = run.runtime.outside.env.get("REDIS_URL", "") if run.runtime is not None else ""
        desk = board.desk(run.id, run.experiment.joins, redis_prefix(url) if url else "")
        desk.open_joining()
        run.kill_elsewhere = desk.kill
    return desk


def _presenters_run(request: Request, run_id: str) -> Run:
    if not presenting(request):
        raise JoinRefused(403, "only the presenter sees and changes a run's joining")
    run = _registry(request).get(run_id)
    if not run.experiment.joins:
        raise JoinRefused(404, f"{run.experiment.slug} runs take no joined workers")
    return run


def _change(request: Request, run: Run, how: str) -> JoinDesk | None:
    if not _going(run):
        return _joins(request).board.get(run.id)
    desk = _desk(request, run)
    if how == "open":
        desk.open_joining()
    elif how == "revoke":
        _end_on_stage(run, desk.revoke())
        if run.runtime is not None:
            run.runtime.outside.revoke_guest()  # a revoked machine no longer reaches Redis
    return desk


def _panel(request: Request, run_id: str, how: str = "") -> Response:
    try:
        run = _presenters_run(request, run_id)
    except JoinRefused as exc:
        return Response(status_code=exc.status)
    context = {"run": run, "join": offer(request, run, _change(request, run, how))}
    return templates.TemplateResponse(request, "partials/join/_panel.html", context)


@router.get("/runs/{run_id}/join", response_class=HTMLResponse, include_in_schema=False)
async def join_panel(run_id: str, request: Request) -> Response:
    return _panel(request, run_id)


@router.post("/runs/{run_id}/join/revoke", response_class=HTMLResponse, include_in_schema=False)
async def revoke_from_page(run_id: str, request: Request) -> Response:
    return _panel(request, run_id, "revoke")


@router.post("/runs/{run_id}/join/open", response_class=HTMLResponse, include_in_schema=False)
async def open_from_page(run_id: str, request: Request) -> Response:
    return _panel(request, run_id, "open")


def _api(request: Request, run_id: str, how: str = "") -> Response:
    try:
        run = _presenters_run(request, run_id)
    except JoinRefused as exc:
        return _refused(exc)
    return JSONResponse(offer(request, run, _change(request, run, how)))


@router.get("/api/runs/{run_id}/join")
async def get_joining(run_id: str, request: Request) -> Response:
    """The run's join command (opening joining on the first look), and its
    joined workers: the presenter's only."""
    return _api(request, run_id)


@router.post("/api/runs/{run_id}/join")
async def open_joining(run_id: str, request: Request) -> Response:
    """Open joining (a new token, if it was revoked)."""
    return _api(request, run_id, "open")


@router.delete("/api/runs/{run_id}/join")
async def revoke_joining(run_id: str, request: Request) -> Response:
    """Revoke the run's join token: its workers are refused from their next
    batch on, and stop; the stage shows them ended."""
    return _api(request, run_id, "revoke")
