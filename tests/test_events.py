"""The one wire encoding of events (app/events.py) and the SSE framing around it."""

from __future__ import annotations

from fastapi.sse import format_sse_event

from app import events
from app.events import Event, encode, from_raw
from app.programs.boot.concviz_tracer import kinds as K


def test_encode_pins_the_exact_bytes_with_item_and_data() -> None:
    event = Event(7, 1.2345678, "P1", 4242, 4243, K.PUT, "P1#3", {"b": 2, "a": [1, None]})
    assert encode(event) == (
        '{"seq":7,"t":1.234568,"worker":"P1","pid":4242,"tid":4243,'
        '"kind":"put","item":"P1#3","data":{"b":2,"a":[1,null]}}'
    )


def test_encode_leaves_out_a_missing_item_and_data() -> None:
    event = Event(1, 0.0, "main", 10, 11, events.RUN_START)
    assert encode(event) == '{"seq":1,"t":0.0,"worker":"main","pid":10,"tid":11,"kind":"run_start"}'


def test_encode_keeps_data_without_item() -> None:
    event = Event(3, 0.5, "C1", 1, 2, K.END, None, {"error": None})
    assert encode(event) == (
        '{"seq":3,"t":0.5,"worker":"C1","pid":1,"tid":2,"kind":"end","data":{"error":null}}'
    )


def test_encode_writes_non_ascii_as_is() -> None:
    event = Event(2, 0.25, "C1", 1, 2, K.EXC, None, {"error": "ValueError: café ✗"})
    text = encode(event)
    assert text.endswith('"data":{"error":"ValueError: café ✗"}}')
    assert text.encode() == (
        b'{"seq":2,"t":0.25,"worker":"C1","pid":1,"tid":2,"kind":"exc",'
        b'"data":{"error":"ValueError: caf\xc3\xa9 \xe2\x9c\x97"}}'
    )


def test_from_raw_numbers_the_event_and_counts_seconds_from_the_run_start() -> None:
    start_ns = 5_000_000_000_000
    raw: events.RawEvent = (start_ns + 1_500_000_000, "P2", 77, 78, K.GET, "P1#1", None)
    assert from_raw(raw, 12, start_ns) == Event(12, 1.5, "P2", 77, 78, K.GET, "P1#1", None)


def test_from_raw_keeps_an_event_stamped_before_the_run_start_negative() -> None:
    event = from_raw((999_000_000, "main", 1, 1, events.RUN_START, None, {"x": 1}), 1, 10**9)
    assert event.t == -0.001
    assert event.data == {"x": 1}


def test_every_kind_is_listed() -> None:
    names = {
        value for name, value in vars(events).items() if name.isupper() and isinstance(value, str)
    }
    assert names == events.KINDS


# The SSE framing that FastAPI gives `ServerSentEvent(raw_data=..., id=...)`;
# both of our streams rely on it.


def test_sse_frame_of_a_json_event() -> None:
    event = Event(7, 0.125, "C2", 300, 301, K.GET, "P1#4")
    frame = format_sse_event(data_str=encode(event), id=str(event.seq))
    assert frame == (
        b'data: {"seq":7,"t":0.125,"worker":"C2","pid":300,"tid":301,"kind":"get","item":"P1#4"}\n'
        b"id: 7\n"
        b"\n"
    )


def test_sse_frame_of_multi_line_html_has_one_data_line_per_line() -> None:
    html = '<div id="stage" hx-swap-oob="innerMorph">\n  <p>P1 &amp; C1</p>\n</div>'
    frame = format_sse_event(data_str=html, id="3")
    assert frame == (
        b'data: <div id="stage" hx-swap-oob="innerMorph">\n'
        b"data:   <p>P1 &amp; C1</p>\n"
        b"data: </div>\n"
        b"id: 3\n"
        b"\n"
    )


def test_sse_frame_of_a_named_event() -> None:
    assert format_sse_event(event="end", data_str='""') == b'event: end\ndata: ""\n\n'
