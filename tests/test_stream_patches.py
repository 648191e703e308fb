"""A run's HTML stream (app/web/streams.py `_frames`, app/web/stagewire.py):
the first message is the whole stage, then patches; a viewer that skips
frames ends with exactly the stage of the last frame, and viewers in step
get the very same bytes."""

from __future__ import annotations

import random
import zlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import run_async
from stagedom import Stage
from test_patches import stage

from app.web import stagewire, streams
from app.web.broadcast import HISTORY, Broadcaster, Frame


class Hub:
    """The part of `app.web.frames.Frames` a frame stream uses: one run, one language."""

    def __init__(self) -> None:
        self.broadcasters = {"en": Broadcaster()}

    def of(self, run: object) -> Hub:
        return self

    def latest(self, lang: str) -> Frame | None:
        return self.broadcasters[lang].latest


# What does not change from frame to frame, as a lesson's code view.
CODE = "".join(f'<li id="L{i}"><code>line {i} of the program</code></li>' for i in range(60))


def frames(n: int, seed: int = 0) -> list[Frame]:
    rng = random.Random(seed)
    out, items, log = [], ["a"], ["0"]
    for k in range(1, n + 1):
        items = items[rng.randint(0, 1) :] + [f"i{k}"] * rng.randint(0, 1)
        log = ([str(k)] + log)[:6]
        cards = {
            w: (rng.choice(["run", "wait"]), f"item {rng.randint(1, 9)}") for w in ("P1", "C1")
        }
        out.append(Frame(k, stage(k // 2, cards, items, log) + f"<ol>{CODE}</ol>", last=k == n))
    return out


def messages(data: bytes) -> list[dict[str, str]]:
    """The SSE messages in `data`: each one's fields (data lines joined)."""
    out = []
    for block in data.decode().split("\n\n")[:-1]:
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            name, _, value = line.partition(": ")
            fields[name] = (
                fields[name] + "\n" + value if name == "data" and name in fields else value
            )
        out.append(fields)
    return out


async def watch(hub: Hub, deflate: bool) -> AsyncIterator[bytes]:
    stream: Any = streams._frames(hub, None, "en", deflate)  # type: ignore[arg-type]
    async for chunk in stream:
        yield chunk


@pytest.mark.parametrize("deflate", [True, False])
@pytest.mark.parametrize("skip", [1, 3, HISTORY + 2])
def test_a_viewer_that_skips_frames_ends_with_the_whole_last_stage(
    deflate: bool, skip: int
) -> None:
    made = frames(40)

    async def main() -> bytes:
        hub = Hub()
        hub.broadcasters["en"].publish(made[0])
        stream = watch(hub, deflate)
        wire = await anext(stream) if deflate else b""  # a deflated stream's start
        wire += await anext(stream)  # the first frame
        for k, frame in enumerate(made[1:], 1):
            hub.broadcasters["en"].publish(frame)
            if k % skip == 0 or frame.last:  # the viewer reads now and then
                wire += await anext(stream)
        end = await anext(stream)
        assert end == (stagewire.DEFLATED_END if deflate else stagewire.END)
        return wire + end

    wire = run_async(main())
    if deflate:
        assert wire.startswith(stagewire.DEFLATE_START)
        wire = zlib.decompressobj(-15).decompress(wire)
    page = Stage()
    got = messages(wire)
    assert "<hx-partial" not in got[0]["data"]  # the first is the whole stage
    for m in got:
        if "data" in m and m.get("event") != "end":
            page.receive(m["data"])
    assert got[-1] == {"event": "end", "data": '""'}
    assert got[-2]["id"] == str(made[-1].number)
    assert page.html() == made[-1].html
    patched = sum("<hx-partial" in m.get("data", "") for m in got)
    # A viewer more than HISTORY frames behind gets the frame whole; others
    # mostly patches (a patch that would cost more than the frame is not sent).
    assert patched > len(got) // 2 if skip <= HISTORY else patched == 0


def test_viewers_in_step_get_the_same_bytes_and_a_new_one_the_whole_stage() -> None:
    made = frames(3)

    async def main() -> list[list[bytes]]:
        hub = Hub()
        hub.broadcasters["en"].publish(made[0])
        early = [watch(hub, True) for _ in range(2)]
        got: list[list[bytes]] = [[await anext(s), await anext(s)] for s in early]
        hub.broadcasters["en"].publish(made[1])
        for s, g in zip(early, got, strict=True):
            g.append(await anext(s))
        late = watch(hub, True)
        got.append([await anext(late), await anext(late)])
        return got

    first, second, late = run_async(main())
    assert first == second
    assert first[2] is second[2]  # made once
    assert first[2] == stagewire.message(made[0], made[1], True)
    assert late[1] == stagewire.message(None, made[1], True)
    text = zlib.decompressobj(-15).decompress(late[0] + late[1]).decode()
    assert made[1].html.splitlines()[1] in text


def test_after_the_result_is_hidden_or_revealed_every_viewer_gets_the_next_frame_whole() -> None:
    """The page that hid or revealed it swapped its own stage in: a patch
    from the frame it was sent would be applied to another stage."""
    made = frames(3)

    async def main() -> list[bytes]:
        hub = Hub()
        broadcaster = hub.broadcasters["en"]
        broadcaster.publish(made[0])
        stream = watch(hub, False)
        got = [await anext(stream)]
        broadcaster.publish(made[1])
        got.append(await anext(stream))
        broadcaster.forget_recent()  # as app.web.frames does then
        broadcaster.publish(made[2])
        got.append(await anext(stream))
        return got

    whole, patch, after = run_async(main())
    assert b"<hx-partial" not in whole
    assert b"<hx-partial" in patch
    assert after == stagewire.message(None, made[2], False)


@pytest.mark.parametrize(
    ("header", "takes"),
    [
        ("gzip, deflate, br, zstd", True),  # a browser's
        ("deflate;q=0.5", True),
        ("Deflate", True),
        ("gzip, deflate;q=0", False),
        ("gzip", False),
        (None, False),
    ],
)
def test_the_stream_is_deflated_for_a_client_that_takes_deflate(
    header: str | None, takes: bool
) -> None:
    assert stagewire.takes_deflate(header) is takes
