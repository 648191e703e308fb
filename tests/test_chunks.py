"""A recorded run's events in chunks (`app.chunks`): what goes in comes out,
and a chunk holds plain values only."""

from __future__ import annotations

import pickle
import zlib

import pytest

from app.chunks import CHUNK_EVENTS, chunks, pack, unpack
from app.events import Event


def put(seq: int) -> Event:
    return Event(seq, seq / 1000, "P1", 101, 101, "put", "101.1", {"v": f"'P1#{seq}'", "size": 1})


def test_a_chunk_gives_back_its_events_without_their_seq() -> None:
    evs = [put(seq) for seq in range(5, 25)]
    assert unpack(pack(evs)) == [e[1:] for e in evs]


def test_events_go_in_chunks_of_consecutive_seq_each_at_most_chunk_events() -> None:
    evs = [put(seq) for seq in range(1, 2 * CHUNK_EVENTS + 11)]
    assert [len(c) for c in chunks(evs)] == [CHUNK_EVENTS, CHUNK_EVENTS, 10]
    gap = [put(1), put(2), put(5), put(6), put(9)]
    assert [[e.seq for e in c] for c in chunks(gap)] == [[1, 2], [5, 6], [9]]
    assert list(chunks([])) == []


def test_data_that_is_not_plain_is_kept_as_json_would_keep_it() -> None:
    class Odd:
        def __repr__(self) -> str:
            return "<odd>"

    odd = Event(1, 0.0, "main", 1, 1, "out", None, {"x": Odd(), "pair": (1, 2)})
    assert unpack(pack([odd])) == [(0.0, "main", 1, 1, "out", None, {"x": "<odd>", "pair": [1, 2]})]


def test_a_chunk_that_names_a_class_is_refused() -> None:
    naming_a_class = zlib.compress(pickle.dumps([(0.0, "main", 1, 1, "out", None, Event)]), 1)
    with pytest.raises(pickle.UnpicklingError):
        unpack(naming_a_class)  # reading a recording runs no code
