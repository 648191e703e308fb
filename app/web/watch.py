"""The audience's page: it follows what the presenter shows.

`/watch` shows the presenter's current experiment and run, with the controls
read-only, and switches when the presenter switches (a server-sent stream of
the whole following area; the stage inside it has its own stream). The QR
code of the audience's address is made here, with no network.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from io import BytesIO
from typing import Any

import segno
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.sse import format_sse_event

from app.registry import RunRegistry
from app.runs import NotFound
from app.settings import Settings
from app.web.frames import live_stage
from app.web.presenter import audience_url
from app.web.render import env, templates
from app.web.streams import EventStream, stream

router = APIRouter()


def follow_context(request: Request) -> dict[str, Any]:
    registry: RunRegistry = request.app.state.registry
    slug, run_id = registry.current
    context: dict[str, Any] = {"experiment": None, "run": None, "readonly": True}
    if not slug:
        return context
    exp = registry.experiment(slug)
    context.update(
        experiment=exp, schema=exp.schema(), values={}, errors={}, message="", watching=True
    )
    if run_id:
        try:
            run = registry.get(run_id)
        except NotFound:
            return context
        context.update(live_stage(request, run), values=run.params.model_dump())
    return context


@router.get("/watch", response_class=HTMLResponse)
async def watch_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "watch.html", follow_context(request))


@router.get("/watch/stream", response_class=EventStream)
async def watch_stream(request: Request) -> EventStream:
    """The whole following area, again each time the presenter moves."""
    registry: RunRegistry = request.app.state.registry
    template = env.get_template("partials/_follow.html")

    async def messages() -> AsyncIterator[bytes]:
        while True:
            changed = registry.current_changed()
            yield format_sse_event(data_str=template.render(follow_context(request)))
            await changed

    return stream(request, messages())


@router.get("/qr.svg")
async def audience_qr(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    out = BytesIO()
    segno.make(audience_url(settings), error="m").save(
        out, kind="svg", scale=6, border=2, xmldecl=False
    )
    return Response(out.getvalue(), media_type="image/svg+xml")
