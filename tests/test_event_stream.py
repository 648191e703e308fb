"""An event stream and a server's shutdown: every stream ends as the
shutdown begins, also one whose handler was still on the way then."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from conftest import run_async

from app.web import streams


async def endless(begun: asyncio.Event | None = None) -> AsyncIterator[bytes]:
    if begun is not None:
        begun.set()
    while True:
        yield b"data: tick\n\n"
        await asyncio.sleep(0.01)


async def serve(response: streams.EventStream) -> list[dict[str, Any]]:
    """The response as uvicorn runs it (ASGI 2.3: it listens for the client
    leaving, who never does here); what it sent."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()  # the page keeps its stream open
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"spec_version": "2.3"}}
    await asyncio.wait_for(response(scope, receive, send), 5)
    return sent


def test_a_stream_opened_after_the_shutdown_began_ends_at_once() -> None:
    async def main() -> list[dict[str, Any]]:
        streams._watchdog.close_all()  # the shutdown begins
        try:
            return await serve(streams.EventStream(endless()))
        finally:
            streams._watchdog.closing = False

    sent = run_async(main())
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert streams._watchdog.streaming == set()


def test_an_open_stream_ends_when_the_shutdown_begins() -> None:
    async def main() -> list[dict[str, Any]]:
        begun = asyncio.Event()
        task = asyncio.create_task(serve(streams.EventStream(endless(begun))))
        await begun.wait()
        streams._watchdog.close_all()
        try:
            return await task
        finally:
            streams._watchdog.closing = False

    sent = run_async(main())
    assert b"tick" in sent[1]["body"]
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
