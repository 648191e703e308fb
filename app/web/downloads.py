"""What a run gives to take away: its recording as JSON, its trace for
Perfetto, and its program as a file that runs with plain `python`."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from app.events import Event
from app.experiments import EXPERIMENTS
from app.model import fold as default_fold
from app.registry import RunRegistry
from app.runs import NotFound
from app.trace import chrome_trace
from app.web.presenter import presenting
from app.web.replays import hidden, recorded, recorder

router = APIRouter()


def _not_while_hidden(request: Request, run_id: str) -> None:
    """The class gets nothing that tells a hidden result (the teacher, who
    hid it, does): 403 until the reveal."""
    if hidden(request, run_id) and not presenting(request):
        raise HTTPException(403, "the run's result is hidden until the teacher reveals it")


@router.get("/api/recordings/{run_id}/export")
async def export_recording(run_id: str, request: Request) -> JSONResponse:
    _not_while_hidden(request, run_id)
    record = await recorded(request, run_id)
    if record is None:
        raise HTTPException(404, f"no recorded run '{run_id}'")
    evs: list[Event] = await asyncio.to_thread(recorder(request).events, run_id)
    body = {"run": record.to_dict(), "events": [e.to_dict() for e in evs]}
    return JSONResponse(
        json.loads(json.dumps(body)),
        headers={"content-disposition": attachment(f"concviz-{run_id}.json")},
    )


@router.get("/api/runs/{run_id}/trace")
async def run_trace(run_id: str, request: Request) -> JSONResponse:
    """The run as Chrome Trace Event JSON: open it in Perfetto's UI."""
    _not_while_hidden(request, run_id)
    record = await recorded(request, run_id)  # its events, not a replay's checkpoints
    if record is None or record.experiment not in EXPERIMENTS:
        raise HTTPException(404, f"no recorded run '{run_id}'")
    exp = EXPERIMENTS[record.experiment]
    evs = await asyncio.to_thread(recorder(request).events, run_id)
    trace = chrome_trace(evs, exp.new_state, exp.fold or default_fold, f"concviz {exp.slug}")
    return JSONResponse(
        trace,
        headers={"content-disposition": attachment(f"concviz-{run_id}.trace.json")},
    )


def attachment(filename: str) -> str:
    """A download's header for `filename`, in any script (作业3.py): an
    HTTP header is Latin-1, so the name goes percent-encoded as RFC 6266
    says, with an ASCII stand-in for old clients."""
    plain = filename.encode("ascii", "replace").decode().replace("?", "_")
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename)}"


@router.get("/runs/{run_id}/script")
async def run_script(run_id: str, request: Request) -> Response:
    """The plain program with this run's parameters, as a file to download."""
    registry: RunRegistry = request.app.state.registry
    try:
        run = registry.get(run_id)
        exp, params = run.experiment, run.params.model_dump()
    except NotFound:
        record = await asyncio.to_thread(recorder(request).run, run_id)
        if record is None or record.experiment not in EXPERIMENTS:
            raise HTTPException(404, f"no run '{run_id}'") from None
        exp, params = EXPERIMENTS[record.experiment], record.params
    if exp.script is None:
        raise HTTPException(404, f"{exp.slug} has no script yet")
    filename = exp.script_name(params)
    return Response(
        exp.script(params),
        media_type="text/x-python; charset=utf-8",
        headers={"content-disposition": attachment(filename)},
    )
