"""Latest-frame-wins fan-out (app/web/broadcast.py)."""

from __future__ import annotations

import asyncio

import pytest
from conftest import run_async

from app.web.broadcast import Broadcaster, Frame


def test_a_new_subscriber_gets_the_latest_frame_first() -> None:
    async def main() -> Frame:
        b = Broadcaster()
        b.publish(Frame(1, "<p>one</p>"))
        b.publish(Frame(2, "<p>two</p>"))
        sub = b.subscribe()
        return await asyncio.wait_for(sub.next(), timeout=1.0)

    assert run_async(main()) == Frame(2, "<p>two</p>")


def test_a_subscriber_before_any_frame_waits_for_the_first() -> None:
    async def main() -> tuple[bool, Frame]:
        b = Broadcaster()
        sub = b.subscribe()
        waiter = asyncio.ensure_future(sub.next())
        await asyncio.sleep(0.01)
        was_waiting = not waiter.done()
        b.publish(Frame(1, "first"))
        return was_waiting, await asyncio.wait_for(waiter, timeout=1.0)

    was_waiting, frame = run_async(main())
    assert was_waiting
    assert frame == Frame(1, "first")


def test_a_slow_subscriber_gets_only_the_newest_frame() -> None:
    async def main() -> tuple[Frame, bool]:
        b = Broadcaster()
        sub = b.subscribe()
        for n in range(1, 101):
            b.publish(Frame(n, f"frame {n}", last=n == 100))
        frame = await asyncio.wait_for(sub.next(), timeout=1.0)
        try:
            await asyncio.wait_for(sub.next(), timeout=0.05)
        except TimeoutError:
            backlog = False
        else:
            backlog = True
        return frame, backlog

    frame, backlog = run_async(main())
    assert frame == Frame(100, "frame 100", last=True)
    assert not backlog


def test_every_subscriber_gets_the_same_frame() -> None:
    async def main() -> list[Frame]:
        b = Broadcaster()
        subs = [b.subscribe() for _ in range(3)]
        frame = Frame(5, "same bytes")
        b.publish(frame)
        return [await asyncio.wait_for(s.next(), timeout=1.0) for s in subs]

    frames = run_async(main())
    assert all(f is frames[0] for f in frames)


def test_unsubscribe_lowers_the_count_and_stops_delivery() -> None:
    async def main() -> None:
        b = Broadcaster()
        first, second = b.subscribe(), b.subscribe()
        assert b.count == 2
        b.unsubscribe(first)
        assert b.count == 1
        b.unsubscribe(first)  # twice is harmless
        assert b.count == 1
        b.publish(Frame(1, "x"))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(first.next(), timeout=0.05)
        assert (await asyncio.wait_for(second.next(), timeout=1.0)).number == 1
        b.unsubscribe(second)
        assert b.count == 0

    run_async(main())
