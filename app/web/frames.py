"""A run's frames: its stage rendered at most `fps` times a second, once for
each language someone watches it in, and the same bytes fanned out to every
viewer of that language (latest frame wins, `app.web.broadcast`).

One `Frames` is kept on `app.state`. A run's frames are made only while
someone asks for them: the first viewer starts its ticker, which stops once
the run has ended and its last frame is out (or nobody watches an ended
run any more); a later viewer starts it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from typing import Any

from fastapi import Request

from app import i18n
from app.runs import Run
from app.web.broadcast import Broadcaster, Frame
from app.web.render import stage_context

# An idle run's frame is sent again after this long, so that proxies keep
# the viewers' streams open.
FRAME_KEEPALIVE_S = 15.0

Render = Callable[[Run, int], str]  # the frame of a run with this many watching


class RunFrames:
    """One run's broadcasters (one per language) and its ticker."""

    def __init__(self, run: Run, fps: float, render: Render) -> None:
        self.run = run
        self.broadcasters = {lang: Broadcaster() for lang in i18n.LANGUAGES}
        self._period = 1.0 / fps
        self._render = render
        self._numbers = itertools.count(1)
        self._drawn = -1  # the run's revision in the latest frame
        self._hidden = run.result_hidden  # whether the latest frame hides the result
        self.done = False  # the ticker has stopped: a viewer needs a new one

    @property
    def watchers(self) -> int:
        return sum(b.count for b in self.broadcasters.values())

    def publish(self) -> None:
        """Render the frame for every language in use; a language nobody
        watches in is rendered when someone first asks for it."""
        self._drawn = self.run.revision
        number, last = next(self._numbers), self.run.final
        # Hiding or revealing the result also swaps the stage in the page that
        # asked (templates/partials/_reveal_result.html): no viewer's page is
        # then known to be a frame sent, so each gets the next one whole.
        restart = self.run.result_hidden != self._hidden
        self._hidden = self.run.result_hidden
        for lang, broadcaster in self.broadcasters.items():
            if restart:
                broadcaster.forget_recent()
            if broadcaster.count:
                with i18n.speaking(lang):
                    broadcaster.publish(Frame(number, self._render(self.run, self.watchers), last))
            else:
                broadcaster.latest = None

    def latest(self, lang: str = i18n.DEFAULT) -> Frame:
        broadcaster = self.broadcasters[lang]
        if broadcaster.latest is None:
            with i18n.speaking(lang):
                html = self._render(self.run, self.watchers)
                frame = Frame(next(self._numbers), html, self.run.final)
            broadcaster.publish(frame)
            return frame
        return broadcaster.latest

    async def tick(self) -> None:
        try:
            await self._tick()
        finally:
            self.done = True

    async def _tick(self) -> None:
        run = self.run
        loop = asyncio.get_running_loop()
        next_at = published = loop.time()
        while True:
            # An idle run (paused, say) sends its frame again now and then.
            if run.revision != self._drawn or loop.time() - published > FRAME_KEEPALIVE_S:
                self.publish()
                published = loop.time()
            if run.ended.is_set():
                if run.final or not self.watchers:
                    return
                # Ended with its result hidden: nothing changes until the reveal.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(run.changed(), FRAME_KEEPALIVE_S)
                continue
            # Ticks on a fixed cadence: sleeping a whole period after each
            # render made 18 frames a second at fps=20 (bench/fanout.py).
            # A loop that fell behind skips the ticks it missed, no burst.
            next_at += self._period
            now = loop.time()
            if next_at < now:
                next_at = now + self._period
            await asyncio.sleep(next_at - now)


class Frames:
    """The frames of every run someone watches."""

    def __init__(self, fps: float, render: Render) -> None:
        self.fps = fps
        self._render = render
        self._runs: dict[str, RunFrames] = {}

    def of(self, run: Run) -> RunFrames:
        """The run's frames, its ticker started if it was not going."""
        frames = self._runs.get(run.id)
        if frames is None or frames.done or frames.run is not run:
            frames = self._runs[run.id] = RunFrames(run, self.fps, self._render)
            task = asyncio.get_running_loop().create_task(
                frames.tick(), name=f"run-{run.id}-frames"
            )
            task.add_done_callback(lambda _task: self._forget(frames))
        return frames

    def watching(self, run: Run) -> int:
        frames = self._runs.get(run.id)
        return frames.watchers if frames is not None and frames.run is run else 0

    def _forget(self, frames: RunFrames) -> None:
        if self._runs.get(frames.run.id) is frames:
            del self._runs[frames.run.id]


def live_stage(request: Request, run: Run) -> dict[str, Any]:
    """A live run's stage for a page: `stage_context`, with how many watch it."""
    frames: Frames = request.app.state.frames
    return stage_context(run, watchers=frames.watching(run))
