"""Latest-frame-wins fan-out of one run's rendered frames.

Each subscriber holds one slot. Publishing overwrites the slot and wakes the
subscriber; a slow subscriber therefore skips frames and never builds a
backlog, and the memory a subscriber costs does not grow.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Frame:
    number: int
    html: str
    last: bool = False  # the run is over: nothing will follow
    # When it was made (Unix time, once rendered): a client's latency is its
    # receipt time minus this (the streams send it along).
    made: float = field(default_factory=time.time, compare=False)


class Subscriber:
    def __init__(self, first: Frame | None) -> None:
        self._slot = first
        self._ready = asyncio.Event()
        if first is not None:
            self._ready.set()

    def offer(self, frame: Frame) -> None:
        self._slot = frame
        self._ready.set()

    async def next(self) -> Frame:
        await self._ready.wait()
        self._ready.clear()
        frame = self._slot
        assert frame is not None
        return frame


class Broadcaster:
    def __init__(self) -> None:
        self._subscribers: set[Subscriber] = set()
        self.latest: Frame | None = None

    def subscribe(self) -> Subscriber:
        sub = Subscriber(self.latest)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    def publish(self, frame: Frame) -> None:
        self.latest = frame
        for sub in self._subscribers:
            sub.offer(frame)

    @property
    def count(self) -> int:
        return len(self._subscribers)
