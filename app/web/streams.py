"""The server-sent event streams of a run.

`/api/runs/{id}/events`: one JSON event per message, `id:` is the event's
`seq`; a client that reconnects with `Last-Event-ID` gets what followed, with
no gap and no duplicate. Events that have left the run's in-memory ring, and
every event of a run this server no longer holds (say it was restarted), come
from the recording. The stream ends after the run's last event.

`/runs/{id}/stream`: HTML frames for the page. The first message a client
gets is the whole stage; each later one only what changed since the frame
the client has (`app.web.stagewire`), but the run's last frame, whole again;
a slow client skips frames (latest frame wins) and gets every change since
its last. A message is encoded once for all the clients in the same place,
deflated for those that take it. After the last frame an `end` event tells
htmx to close instead of reconnecting.

Every stream here goes through `EventStream`: a client that does not take a
message within the `send_timeout` setting (it stopped reading, or its network went
away without closing) is dropped, and its subscription with it. Otherwise
such a client would hold its stream, and its place among the watchers, for
as long as the run lasts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.sse import format_sse_event
from starlette.responses import StreamingResponse
from starlette.types import Send

from app import events, i18n
from app.recording import FLUSH_S, Recorder
from app.registry import RunRegistry
from app.runs import NotFound, Run
from app.settings import Settings
from app.web import stagewire, timelinewire
from app.web.broadcast import Frame
from app.web.frames import Frames
from app.web.stagewire import END

log = logging.getLogger(__name__)
router = APIRouter()

# A comment on an idle event stream, so that proxies keep it open (as
# FastAPI's own SSE responses do).
KEEPALIVE_S = 15.0
PING = b": ping\n\n"
# Events read from a recording at a time.
RECORDED_PAGE = 1000
# At shutdown, how long a stream's last (empty) message may wait for its
# client before the connection is just closed.
CLOSING_SEND_S = 0.5


class _Watchdog:
    """Drops the streams whose client has not taken a message in time (the
    `send_timeout` setting): one timer for every stream of the server. An
    `asyncio.timeout` around each send (and one around each wait for a frame,
    for keepalives) took about 14% of the server's time with 1000 viewers
    (cProfile, bench/fanout.py). A send that does not wait, the usual case,
    is never seen here."""

    def __init__(self) -> None:
        self.waiting: dict[asyncio.Task[Any], float] = {}  # task -> drop after (monotonic)
        self.dropped: set[asyncio.Task[Any]] = set()
        self.streaming: set[asyncio.Task[Any]] = set()  # every open stream
        self.loop: asyncio.AbstractEventLoop | None = None
        self.tick = 1.0
        self.closing = False
        self._task: asyncio.Task[None] | None = None

    def close_all(self) -> None:
        """End every open stream now (the server is shutting down)."""
        self.closing = True
        for task in list(self.streaming):
            self.dropped.add(task)
            task.cancel()

    def ensure_running(self, send_timeout: float) -> None:
        self.tick = min(self.tick, send_timeout / 4)
        loop = asyncio.get_running_loop()
        self.loop = loop
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._watch(), name="stream-watchdog")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            now = time.monotonic()
            for task, deadline in list(self.waiting.items()):
                if now > deadline and task not in self.dropped:
                    self.dropped.add(task)
                    task.cancel()


_watchdog = _Watchdog()


class EventStream(StreamingResponse):
    """Server-sent events whose client must take each message within
    `send_timeout` seconds, or lose the connection. Frames are snapshots: a
    dropped page reconnects (htmx does) and gets the newest one."""

    media_type = "text/event-stream"

    # (`status_code`: FastAPI reads the default to document the route.)
    def __init__(
        self, messages: AsyncIterator[bytes], status_code: int = 200, *, send_timeout: float = 10.0
    ) -> None:
        headers = {"cache-control": "no-cache", "x-accel-buffering": "no"}
        super().__init__(messages, status_code, headers)
        self._messages = messages
        self._send_timeout = send_timeout

    async def stream_response(self, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        _watchdog.ensure_running(self._send_timeout)
        start = {
            "type": "http.response.start",
            "status": self.status_code,
            "headers": self.raw_headers,
        }
        if _watchdog.closing:
            # Opened after the shutdown began (its handler was still on the
            # way): it would hold the shutdown for the graceful timeout.
            await send(start)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        _watchdog.streaming.add(task)
        await send(start)
        # aclosing: the stream's own cleanup (unsubscribing) runs now, also
        # when the client is dropped or has gone, not whenever gc gets to it.
        try:
            async with contextlib.aclosing(self._messages):  # type: ignore[type-var]
                async for message in self._messages:
                    _watchdog.waiting[task] = time.monotonic() + self._send_timeout
                    await send({"type": "http.response.body", "body": message, "more_body": True})
                    del _watchdog.waiting[task]
        except asyncio.CancelledError:
            if task not in _watchdog.dropped:
                raise
            task.uncancel()
            if _watchdog.closing:  # the server is shutting down: end it properly
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(CLOSING_SEND_S):
                        await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            # Returning with the response unfinished makes uvicorn close the
            # connection (it logs that it did); nothing else can.
            log.warning("dropped a client that took no message for %g s", self._send_timeout)
            return
        finally:
            _watchdog.waiting.pop(task, None)
            _watchdog.dropped.discard(task)
            _watchdog.streaming.discard(task)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def close_all_streams() -> None:
    """Safe to call from a signal handler: ends every open stream on the
    loop, so that a shutdown need not wait out the graceful timeout for
    clients that would never hang up (a page keeps its streams open)."""
    loop = _watchdog.loop
    if loop is not None and not loop.is_closed():
        loop.call_soon_threadsafe(_watchdog.close_all)


def stream(request: Request, messages: AsyncIterator[bytes]) -> EventStream:
    """An event stream whose client has the server's `send_timeout`."""
    settings: Settings = request.app.state.settings
    return EventStream(messages, send_timeout=settings.send_timeout)


def the_run(run_id: str, request: Request) -> Run:
    reg: RunRegistry = request.app.state.registry
    return reg.get(run_id)  # NotFound -> 404 before the stream starts


def _event_message(event: events.Event) -> bytes:
    return format_sse_event(data_str=events.encode(event), id=str(event.seq))


@router.get("/api/runs/{run_id}/events", response_class=EventStream)
async def event_stream(
    run_id: str,
    request: Request,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventStream:
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0
    recorder: Recorder | None = getattr(request.app.state, "recorder", None)
    try:
        run = the_run(run_id, request)
    except NotFound:
        if recorder is None or await asyncio.to_thread(recorder.run, run_id) is None:
            raise
        return stream(request, _recorded_events(recorder, run_id, after))
    return stream(request, _live_events(run, recorder, after))


async def _recorded_events(recorder: Recorder, run_id: str, after: int) -> AsyncIterator[bytes]:
    while True:
        page = await asyncio.to_thread(recorder.events, run_id, after, RECORDED_PAGE)
        for event in page:
            yield _event_message(event)
            after = event.seq
        if len(page) < RECORDED_PAGE:
            return


async def _live_events(run: Run, recorder: Recorder | None, after: int) -> AsyncIterator[bytes]:
    waits_for_recorder = 0
    while True:
        new = run.events_after(after)
        if new and new[0].seq > after + 1 and recorder is not None and after < run.recorded:
            # Older than the ring: from the recording, which may lag the ring
            # by up to FLUSH_S. Past the recording's limit (`run.recorded`)
            # there is nothing to read, and the stream goes on from the ring.
            missing = new[0].seq - 1 - after
            page = await asyncio.to_thread(
                recorder.events, run.id, after, min(missing, RECORDED_PAGE)
            )
            if page:
                for event in page:
                    yield _event_message(event)
                    after = event.seq
                continue
            if waits_for_recorder < 4:
                waits_for_recorder += 1
                await asyncio.sleep(FLUSH_S)
                continue
            log.error(
                "run %s: events %d-%d are in neither memory nor the recording",
                run.id,
                after + 1,
                new[0].seq - 1,
            )
        for event in new:
            yield _event_message(event)
            after = event.seq
        # Batches ingested while a yield was suspended replaced the event that
        # `run.changed` waits on: waiting now would miss them.
        if after < run.last_seq:
            continue
        if run.ended.is_set():
            return
        try:
            async with asyncio.timeout(KEEPALIVE_S):
                await run.changed()
        except TimeoutError:
            yield PING


def deflatable(response: EventStream, deflate: bool) -> EventStream:
    """`response`, saying it is deflated if it is."""
    response.headers["vary"] = "accept-encoding"
    if deflate:
        response.headers["content-encoding"] = "deflate"
    return response


@router.get("/runs/{run_id}/stream", response_class=EventStream)
async def frame_stream(
    run: Annotated[Run, Depends(the_run)],
    request: Request,
    accept_encoding: Annotated[str | None, Header()] = None,
) -> EventStream:
    deflate = stagewire.takes_deflate(accept_encoding)
    frames = _frames(request.app.state.frames, run, i18n.current(), deflate)
    return deflatable(stream(request, frames), deflate)


async def _frames(hub: Frames, run: Run, lang: str, deflate: bool) -> AsyncIterator[bytes]:
    # No keepalive timer per client here: an idle run publishes its frame
    # again every FRAME_KEEPALIVE_S (app.web.frames). No await between
    # taking the run's frames and subscribing: its ticker stays on.
    frames = hub.of(run)
    broadcaster = frames.broadcasters[lang]
    frames.latest(lang)
    sub = broadcaster.subscribe()
    sent: Frame | None = None  # the frame the client's page has
    try:
        if deflate:
            yield stagewire.DEFLATE_START
        while True:
            frame = await sub.next()
            # The last frame goes whole: the page is left on the run's very
            # end (what the class discusses), whatever it missed on the way.
            base = None if frame.last else broadcaster.recent(sent)
            yield stagewire.message(base, frame, deflate)
            sent = frame
            if frame.last:
                yield stagewire.DEFLATED_END if deflate else END
                return
    finally:
        broadcaster.unsubscribe(sub)


@router.get("/runs/{run_id}/timeline", response_class=EventStream)
async def timeline_stream(
    run: Annotated[Run, Depends(the_run)],
    request: Request,
    accept_encoding: Annotated[str | None, Header()] = None,
) -> EventStream:
    deflate = stagewire.takes_deflate(accept_encoding)
    return deflatable(stream(request, _timeline(run, i18n.current(), deflate)), deflate)


async def _timeline(run: Run, lang: str, deflate: bool) -> AsyncIterator[bytes]:
    """The run's timeline each period (`app.web.timelinewire`), and at its end."""
    before: bytes | None = None  # the drawing the client has
    if deflate:
        yield stagewire.DEFLATE_START
    while True:
        last, hidden, period = run.final, run.result_hidden, timelinewire.tick()
        message = timelinewire.drawing(run, lang, period, hidden, last)
        yield timelinewire.deflated(message, before) if deflate else message
        before = message
        if last:
            yield stagewire.DEFLATED_END if deflate else END
            return
        if run.ended.is_set():
            # Ended with its result hidden: nothing changes until the reveal
            # (or it has ended just now: its last timeline is next).
            if not run.final and run.result_hidden == hidden:
                await run.changed()
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run.ended.wait(), timelinewire.until_after(period))
