"""The tracer's batches on the wire: their encoding and their frames."""

from __future__ import annotations

import pytest

from app.programs.boot.concviz_tracer import wire


def test_a_batch_of_events_decodes_to_the_events_a_reader_knows() -> None:
    main, child = ("main", 10, 11), ("P1/w", 12, 13)
    batch = [
        (1, main, "proc", None, {"name": "MainProcess"}),
        (2, main, "put", "10.1", (5,), "'a'", 1),
        (3, child, "put", "10.1", (3, "helper.py"), 7, 2),
        (4, child, "get", "10.1", (), 10**100, 1),
        (5, main, "get", "10.1", (6,), None, 0),
    ]
    assert wire.decode(wire.encode_events(batch)) == [
        (1, "main", 10, 11, "proc", None, {"name": "MainProcess"}),
        (2, "main", 10, 11, "put", "10.1", {"line": 5, "v": "'a'", "size": 1}),
        (3, "P1/w", 12, 13, "put", "10.1", {"line": 3, "file": "helper.py", "v": "7", "size": 2}),
        (4, "P1/w", 12, 13, "get", "10.1", {"v": repr(10**100)[:77] + "...", "size": 1}),
        (5, "main", 10, 11, "get", "10.1", {"line": 6, "v": "None", "size": 0}),
    ]


def test_an_event_marshal_cannot_write_goes_as_a_pickle() -> None:
    batch = [(1, ("main", 1, 2), "out", None, {"text": range(3)})]
    data = wire.encode_events(batch)
    assert data[1:2] == b"p"
    assert wire.decode(data) == [(1, "main", 1, 2, "out", None, {"text": range(3)})]


def messages(n: int) -> tuple[list[bytes], bytes]:
    """`n` batches' frames, and all of them as the pipe holds them."""
    out = []
    for k in range(n):
        data = wire.encode([k, "x" * (k * 1500)])  # some in several frames
        out += wire.messages(data, 100 + k, 7)
    return [m[wire.LENGTH.size :] for m in out], b"".join(out)


@pytest.mark.parametrize("cut", [1, 3, 4, 5, 1000, 4096, 1 << 16])
def test_frames_read_in_bulk_come_whole_wherever_the_reads_cut(cut: int) -> None:
    frames, stream = messages(6)
    unframer = wire.Unframer()
    got: list[bytes] = []
    for start in range(0, len(stream), cut):
        got += [bytes(f) for f in unframer.split(stream[start : start + cut])]
    assert got == frames
    reassembler = wire.Reassembler(pytest.fail)
    batches = [b for done, b in map(reassembler.feed, got) if done]
    assert batches == [[k, "x" * (k * 1500)] for k in range(6)]


def test_a_length_no_frame_has_is_refused() -> None:
    unframer = wire.Unframer()
    with pytest.raises(OSError, match="bad message length"):
        unframer.split(wire.LENGTH.pack(1 << 30) + b"x" * 10)
    with pytest.raises(OSError, match="bad message length"):
        wire.Unframer().split(wire.LENGTH.pack(0))
