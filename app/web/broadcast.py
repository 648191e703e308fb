"""Latest-frame-wins fan-out of one run's rendered frames.

Each subscriber holds one slot. Publishing overwrites the slot and wakes the
subscriber; a slow subscriber therefore skips frames and never builds a
backlog, and the memory a subscriber costs does not grow.

The broadcaster also keeps its few most recent frames (`HISTORY`), so that a
viewer whose page has one of them can be sent what changed since (see
`app.web.stagewire`); a viewer further behind gets the newest frame whole.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from functools import cached_property

from app.web.markup import Element, parse

# How many recent frames a viewer may be behind and still get a patch: at
# 20 frames a second, 0.4 s. Each one kept costs its text and its tree
# (about 300 KB for a 16x16 producer/consumer stage); older frames keep only
# their text, while a message cache holds them.
HISTORY = 8


@dataclass(frozen=True)
class Frame:
    number: int
    html: str
    last: bool = False  # the run is over: nothing will follow
    # When it was made (Unix time, once rendered): a client's latency is its
    # receipt time minus this (the streams send it along).
    made: float = field(default_factory=time.time, compare=False)

    @cached_property
    def tree(self) -> Element | None:
        """Its elements (`app.web.markup`), read when first asked for."""
        return parse(self.html)

    def forget_tree(self) -> None:
        """Let its tree go (about 7 times its text in memory): it will not
        be patched from again."""
        self.__dict__.pop("tree", None)


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
        self._recent: deque[Frame] = deque(maxlen=HISTORY)

    def subscribe(self) -> Subscriber:
        sub = Subscriber(self.latest)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    def publish(self, frame: Frame) -> None:
        self.latest = frame
        if len(self._recent) == HISTORY:
            self._recent[0].forget_tree()
        self._recent.append(frame)
        for sub in self._subscribers:
            sub.offer(frame)

    def forget_recent(self) -> None:
        """Every subscriber gets the next frame whole."""
        for frame in self._recent:
            frame.forget_tree()
        self._recent.clear()

    def recent(self, frame: Frame | None) -> Frame | None:
        """`frame` if it is still one of the few most recent, else None."""
        if frame is not None and any(f is frame for f in self._recent):
            return frame
        return None

    @property
    def count(self) -> int:
        return len(self._subscribers)
