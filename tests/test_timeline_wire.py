"""The timeline on the wire: each drawing deflated against the one the
viewer had before inflates to the very drawing, in a fraction of its bytes."""

from __future__ import annotations

import random
import zlib

import httpx
import pytest
from ssereader import messages

from app.web import stagewire, timelinewire


def drawing(n: int) -> bytes:
    """A timeline of 400 segments, of which each period changes the last."""
    rng = random.Random(7)
    lanes = "".join(
        f'<rect x="{rng.randrange(10**6)}" width="{rng.randrange(10**6)}" class="s-{k % 4}"/>'
        for k in range(400)
    )
    return f'data: <svg>{lanes}<rect x="0" width="{n}"/><text>{n} s</text></svg>\n\n'.encode()


def test_a_drawing_deflated_against_the_last_one_inflates_to_itself_and_is_small() -> None:
    made = [drawing(n) for n in range(5)]
    wire, before = stagewire.DEFLATE_START, None
    for m in made:
        wire += timelinewire.deflated(m, before)
        before = m
    assert zlib.decompressobj(-15).decompress(wire) == b"".join(made)
    alone = len(timelinewire.deflated(made[4], None))
    chained = len(timelinewire.deflated(made[4], made[3]))
    assert chained * 4 < alone
    # The same pair, the same bytes for every viewer in step.
    assert timelinewire.deflated(made[4], made[3]) is timelinewire.deflated(made[4], made[3])


@pytest.mark.live
def test_a_deflated_timeline_stream_ends_on_the_same_drawing_as_a_plain_one(
    client: httpx.Client,
) -> None:
    fast = {"items_per_producer": 6, "produce_max_ms": 20, "consume_max_ms": 20, "speed": 20}
    run = client.post("/api/runs", json={"experiment": "producer-consumer", "params": fast})
    run_id = run.json()["id"]
    headers = {"accept-encoding": "deflate"}
    with client.stream("GET", f"/runs/{run_id}/timeline", headers=headers) as s:
        assert s.headers["content-encoding"] == "deflate"
        raw = b"".join(s.iter_raw())
    inflated = zlib.decompressobj(-15).decompress(raw)
    assert inflated.startswith(b"data: ")
    plain_headers = {"accept-encoding": "identity"}
    with client.stream("GET", f"/runs/{run_id}/timeline", headers=plain_headers) as s:  # ended
        assert "content-encoding" not in s.headers
        plain = [m.data for m in messages(s) if m.event != "end"]
    deflated = [m for m in inflated.decode().split("\n\n") if m.startswith("data: ")]
    assert deflated[-1].removeprefix("data: ").replace("\ndata: ", "\n") == plain[-1]
