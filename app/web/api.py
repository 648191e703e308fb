"""The JSON API (design.md, section 4)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from app.experiments import EXPERIMENTS
from app.i18n import _
from app.params import FieldError, ParamsError
from app.registry import RunRegistry
from app.web.errors import not_json

router = APIRouter(prefix="/api")


class StartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    experiment: str = Field(max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)


class PatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    params: dict[str, Any]


def registry(request: Request) -> RunRegistry:
    reg: RunRegistry = request.app.state.registry
    return reg


@router.get("/experiments")
async def list_experiments() -> list[dict[str, Any]]:
    return [
        {
            "slug": e.slug,
            "title": e.title,
            "summary": e.summary,
            "built": e.built,
            "schema": e.schema(),
            "defaults": e.params().model_dump() if e.params is not None else {},
            "live_params": sorted(e.live_params()),
        }
        for e in EXPERIMENTS.values()
    ]


@router.post("/runs", status_code=201)
async def start_run(body: StartRequest, request: Request) -> dict[str, Any]:
    return registry(request).start(body.experiment, body.params).to_dict()


@router.get("/runs")
async def list_runs(request: Request) -> list[dict[str, Any]]:
    return [r.to_dict() for r in registry(request).all()]


@router.get("/runs/{run_id}")
async def get_run(run_id: str, request: Request) -> dict[str, Any]:
    return registry(request).get(run_id).to_dict()


@router.patch("/runs/{run_id}")
async def patch_run(run_id: str, body: PatchRequest, request: Request) -> dict[str, Any]:
    return registry(request).patch(run_id, body.params).to_dict()


@router.post("/runs/{run_id}/stop")
async def stop_run(run_id: str, request: Request) -> dict[str, Any]:
    run = await registry(request).stop(run_id)
    return run.to_dict()


@router.post("/runs/{run_id}/calls", status_code=202)
async def call_run(run_id: str, request: Request) -> dict[str, Any]:
    """A call for a run that takes them (the queue playground); its outcome
    arrives as events."""
    try:
        body = await request.json()
    except json.JSONDecodeError as exc:
        raise ParamsError([not_json(exc.doc, exc.pos, exc.msg)]) from None
    except UnicodeDecodeError:
        raise ParamsError(
            [FieldError("body", _("the body is not valid JSON: it is not UTF-8 text"))]
        ) from None
    run = registry(request).call(run_id, body)
    return {"accepted": True, "run": run.id}


@router.post("/runs/{run_id}/pause")
async def pause_run(run_id: str, request: Request) -> dict[str, Any]:
    """Pause a run for real (SIGSTOP for its processes, a gate for threads)."""
    return registry(request).pause(run_id).to_dict()


@router.post("/runs/{run_id}/resume")
async def resume_run(run_id: str, request: Request) -> dict[str, Any]:
    return registry(request).resume(run_id).to_dict()


class StepRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on: bool


class HideRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    result_hidden: bool


@router.post("/runs/{run_id}/reveal")
async def hide_or_reveal(run_id: str, body: HideRequest, request: Request) -> dict[str, Any]:
    """Predict, then reveal: hide the run's result on the page, or show it."""
    return registry(request).hide(run_id, body.result_hidden).to_dict()


class PermitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    worker: str = Field(max_length=32)


class KillRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    worker: str = Field(max_length=64)


@router.post("/runs/{run_id}/kill")
async def kill_worker(run_id: str, body: KillRequest, request: Request) -> dict[str, Any]:
    """SIGKILL one process of a run (its worker's name as the stage shows it)."""
    return registry(request).kill(run_id, body.worker).to_dict()


@router.post("/runs/{run_id}/step")
async def step_mode(run_id: str, body: StepRequest, request: Request) -> dict[str, Any]:
    """Step mode on: every traced action of every worker waits for a permit."""
    return registry(request).set_stepping(run_id, body.on).to_dict()


@router.post("/runs/{run_id}/permit")
async def permit(run_id: str, body: PermitRequest, request: Request) -> dict[str, Any]:
    """Step mode: let one worker do exactly its next action."""
    return registry(request).permit(run_id, body.worker).to_dict()
