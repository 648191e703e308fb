"""A run's timeline on the wire: drawn once a period for all its viewers in a
language, and for a viewer that takes `deflate`, compressed against the
drawing that viewer had before.

The timeline is one SVG of about 30 KB that changes a little each period.
Deflated on its own it is still a few KB; but a viewer's inflater keeps
what it inflated last, so a drawing compressed with the previous one as
its dictionary is a few hundred bytes, and it is the same bytes for every
viewer that had the same previous drawing (cached by the pair). The stream
holds nothing else between two drawings (no keepalive: one is sent every
period while the run goes), so the previous drawing is always what the
inflater has last.
"""

from __future__ import annotations

import functools
import time
import zlib

from fastapi.sse import format_sse_event

from app import i18n
from app.runs import Run
from app.web.render import render_timeline
from app.web.stagewire import DEFLATE_LEVEL

# The timeline changes slowly to the eye; it is a larger drawing than a
# frame, so it is drawn twice a second rather than with every frame.
TIMELINE_PERIOD_S = 0.5
WINDOW = 32 * 1024  # how far back deflate reaches


def tick(now: float | None = None) -> int:
    """The period `now` (a monotonic time) falls in: every viewer of a run
    that wakes in the same one gets the same drawing."""
    return int((time.monotonic() if now is None else now) / TIMELINE_PERIOD_S)


def until_after(period: int) -> float:
    """Seconds until just after `period` ends (a moment more, so that
    `tick()` then says the next one)."""
    return max(0.0, (period + 1) * TIMELINE_PERIOD_S - time.monotonic()) + 0.001


@functools.lru_cache(maxsize=64)
def drawing(run: Run, lang: str, period: int, hidden: bool, last: bool) -> bytes:
    """The timeline message of `run` in `lang` for this period (and this
    state of its result and its end: either changes the drawing)."""
    with i18n.speaking(lang):
        return format_sse_event(data_str=render_timeline(run))


@functools.lru_cache(maxsize=64)
def deflated(message: bytes, after: bytes | None) -> bytes:
    """`message` compressed to follow `after` (the last message the viewer's
    inflater took; None: it took none) in a raw deflate stream, ending on a
    byte boundary with no final block."""
    if after:
        c = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -15, zdict=after[-WINDOW:])
    else:
        c = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -15)
    return c.compress(message) + c.flush(zlib.Z_SYNC_FLUSH)
