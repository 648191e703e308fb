"""A live stage on the wire: the message a viewer gets for a frame.

A viewer that has one of the broadcaster's recent frames gets a patch, only
what changed since (`app.web.patches`, applied by htmx as `<hx-partial>`s);
one that has none (it is new, it reconnected, it fell far behind) gets the
frame whole, which the stage morphs in. Either way the page ends with the
very stage the frame is. Each message is made once for every viewer that
has the same frame (the cache holds the newest pairs of a few runs and
languages): viewers in step share one patch.

For a browser that takes `deflate` (every browser does), each message is
also compressed on its own: a fresh compressor, flushed at its end, so that
the same bytes continue any viewer's stream. The stream is raw deflate:
browsers take it for `Content-Encoding: deflate`, and its first bytes (an
empty stored block) can never be read as a zlib header.

Each message carries the time its frame was made as a comment line
(`: made <unix time>`, which browsers ignore), so that a client can measure
its latency; a patch with nothing in it (the frame sent again, to keep an
idle stream open) is only that and the frame's `id:`.
"""

from __future__ import annotations

import functools
import zlib

from fastapi.sse import format_sse_event

from app.web import patches
from app.web.broadcast import Frame
from app.web.render import env

END = format_sse_event(event="end", data_str='""')
# Where a deflated stream starts: an empty stored block (not a zlib header).
DEFLATE_START = b"\x00\x00\x00\xff\xff"
# Where it ends: an empty final block.
DEFLATE_END = b"\x03\x00"
# zlib's default: a message is compressed once for all its viewers.
DEFLATE_LEVEL = 6


def takes_deflate(accept_encoding: str | None) -> bool:
    """Whether an Accept-Encoding header takes `deflate` (not refused as q=0)."""
    for part in (accept_encoding or "").lower().split(","):
        name, _, params = part.strip().partition(";")
        if name.strip() == "deflate":
            q = params.strip().removeprefix("q=")
            return not params.strip().startswith("q=") or _quality(q) > 0
    return False


def _quality(q: str) -> float:
    try:
        return float(q)
    except ValueError:
        return 1.0


def deflated(message: bytes) -> bytes:
    """`message` compressed on its own, to follow anything in a raw deflate
    stream (it ends on a byte boundary, with no final block)."""
    c = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -15)
    return c.compress(message) + c.flush(zlib.Z_SYNC_FLUSH)


DEFLATED_END = deflated(END) + DEFLATE_END


@functools.lru_cache(maxsize=32)
def message(base: Frame | None, frame: Frame, deflate: bool) -> bytes:
    """What a viewer whose page has `base` (None: nothing yet) is sent for
    `frame`."""
    data = _message(base, frame)
    return deflated(data) if deflate else data


@functools.lru_cache(maxsize=16)
def _message(base: Frame | None, frame: Frame) -> bytes:
    made = f"made {frame.made:.6f}"
    found = None
    if base is not None and base.tree is not None and frame.tree is not None:
        found = patches.diff(base.html, base.tree, frame.html, frame.tree)
    if found is None:
        return format_sse_event(data_str=frame.html, id=str(frame.number), comment=made)
    if not found:
        return format_sse_event(id=str(frame.number), comment=made)
    html = env.get_template("partials/_patch.html").render(patches=found)
    return format_sse_event(data_str=html, id=str(frame.number), comment=made)
