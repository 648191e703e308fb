"""The two server-sent event streams of a run.

`/api/runs/{id}/events`: one JSON event per message, `id:` is the event's
`seq`; a client that reconnects with `Last-Event-ID` gets what followed, with
no gap and no duplicate (as long as the events are still in the run's
buffer). The stream ends after the run's last event.

`/runs/{id}/stream`: HTML frames for the page. Every frame is a full
snapshot of the stage, so the first message a client gets is one; a slow
client skips frames (latest frame wins). After the last frame an `end`
event tells htmx to close instead of reconnecting.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

from app import events, i18n
from app.runs import Run, RunRegistry
from app.web.render import render_timeline

router = APIRouter()


def the_run(run_id: str, request: Request) -> Run:
    reg: RunRegistry = request.app.state.registry
    return reg.get(run_id)  # NotFound -> 404 before the stream starts


@router.get("/api/runs/{run_id}/events", response_class=EventSourceResponse)
async def event_stream(
    run: Annotated[Run, Depends(the_run)],
    last_event_id: Annotated[str | None, Header()] = None,
) -> AsyncIterator[ServerSentEvent]:
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0
    while True:
        for event in run.events_after(after):
            yield ServerSentEvent(raw_data=events.encode(event), id=str(event.seq))
            after = event.seq
        # Batches ingested while a yield was suspended replaced the event that
        # `run.changed` waits on: waiting now would miss them.
        if after < run.last_seq:
            continue
        if run.ended.is_set():
            return
        await run.changed()


@router.get("/runs/{run_id}/stream", response_class=EventSourceResponse)
async def frame_stream(run: Annotated[Run, Depends(the_run)]) -> AsyncIterator[ServerSentEvent]:
    broadcaster = run.broadcasters[i18n.current()]
    run.latest_frame(i18n.current())
    sub = broadcaster.subscribe()
    try:
        while True:
            frame = await sub.next()
            yield ServerSentEvent(raw_data=frame.html, id=str(frame.number))
            if frame.last:
                yield ServerSentEvent(event="end", data="")
                return
    finally:
        broadcaster.unsubscribe(sub)


# The timeline changes slowly to the eye; it is a larger drawing than a
# frame, so it is sent twice a second rather than with every frame.
TIMELINE_PERIOD_S = 0.5


@router.get("/runs/{run_id}/timeline", response_class=EventSourceResponse)
async def timeline_stream(run: Annotated[Run, Depends(the_run)]) -> AsyncIterator[ServerSentEvent]:
    while True:
        last = run.ended.is_set()
        yield ServerSentEvent(raw_data=render_timeline(run.state))
        if last:
            yield ServerSentEvent(event="end", data="")
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run.ended.wait(), TIMELINE_PERIOD_S)
