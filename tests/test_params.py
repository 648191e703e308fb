"""Parameter validation messages (app/params.py) with the producer-consumer model."""

from __future__ import annotations

from typing import Any

import pytest

from app.experiments.producer_consumer import Params
from app.params import FieldError, ParamsError, bounds, validate

FIELDS = (
    "producers, consumers, capacity, items_per_producer, produce_min_ms, produce_max_ms,"
    " consume_min_ms, consume_max_ms, speed, backend"
)


def errors_for(data: Any) -> list[FieldError]:
    with pytest.raises(ParamsError) as info:
        validate(Params, data)
    return info.value.errors


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("producers", 40, "producers must be an integer from 1 to 16 (got 40)"),
        ("producers", 0, "producers must be an integer from 1 to 16 (got 0)"),
        ("consumers", 17, "consumers must be an integer from 1 to 16 (got 17)"),
        ("consumers", 0, "consumers must be an integer from 1 to 16 (got 0)"),
        ("capacity", -1, "capacity must be an integer from 0 to 20 (got -1)"),
        ("capacity", 21, "capacity must be an integer from 0 to 20 (got 21)"),
        (
            "items_per_producer",
            1001,
            "items_per_producer must be an integer from 0 to 1000 (got 1001)",
        ),
        ("items_per_producer", -1, "items_per_producer must be an integer from 0 to 1000 (got -1)"),
        ("produce_min_ms", -1, "produce_min_ms must be an integer from 0 to 10000 (got -1)"),
        ("produce_max_ms", 10001, "produce_max_ms must be an integer from 0 to 10000 (got 10001)"),
        ("consume_min_ms", -5, "consume_min_ms must be an integer from 0 to 10000 (got -5)"),
        ("consume_max_ms", 20000, "consume_max_ms must be an integer from 0 to 10000 (got 20000)"),
        ("speed", 0.05, "speed must be a number from 0.1 to 20 (got 0.05)"),
        ("speed", 21, "speed must be a number from 0.1 to 20 (got 21)"),
    ],
)
def test_a_value_out_of_bounds_names_the_field_and_its_bounds(
    field: str, value: Any, message: str
) -> None:
    assert errors_for({field: value}) == [FieldError(field, message)]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("producers", "x", "producers must be an integer from 1 to 16 (got 'x')"),
        ("producers", 2.5, "producers must be an integer from 1 to 16 (got 2.5)"),
        ("speed", "fast", "speed must be a number from 0.1 to 20 (got 'fast')"),
        ("capacity", "", "capacity must be an integer from 0 to 20 (got an empty value)"),
        ("consumers", None, "consumers must be an integer from 1 to 16 (got nothing)"),
    ],
)
def test_a_value_of_the_wrong_type_names_the_field_and_what_it_accepts(
    field: str, value: Any, message: str
) -> None:
    assert errors_for({field: value}) == [FieldError(field, message)]


def test_an_unknown_field_is_named_with_the_known_ones() -> None:
    assert errors_for({"threads": 4}) == [
        FieldError("threads", f"unknown field 'threads'; known fields: {FIELDS}")
    ]


def test_a_backend_outside_the_enum_lists_the_allowed_values() -> None:
    assert errors_for({"backend": "greenlet"}) == [
        FieldError("backend", "backend must be one of 'process', 'thread' (got 'greenlet')")
    ]


@pytest.mark.parametrize("side", ["produce", "consume"])
def test_a_min_above_its_max_blames_the_min_and_names_both(side: str) -> None:
    errors = errors_for({f"{side}_min_ms": 50, f"{side}_max_ms": 10})
    assert len(errors) == 1
    assert errors[0].field == f"{side}_min_ms"
    assert f"{side}_min_ms" in errors[0].message
    assert f"{side}_max_ms" in errors[0].message
    assert errors[0].message == (f"{side}_min_ms (50) must not be greater than {side}_max_ms (10)")


def test_min_equal_to_max_is_fine() -> None:
    params = validate(Params, {"produce_min_ms": 7, "produce_max_ms": 7})
    assert isinstance(params, Params)
    assert (params.produce_min_ms, params.produce_max_ms) == (7, 7)


def test_every_bad_field_is_reported_at_once() -> None:
    errors = errors_for({"producers": 40, "capacity": -1})
    assert {e.field for e in errors} == {"producers", "capacity"}


def test_the_error_text_joins_every_message() -> None:
    with pytest.raises(ParamsError) as info:
        validate(Params, {"producers": 40, "capacity": -1})
    text = str(info.value)
    assert "producers must be an integer from 1 to 16 (got 40)" in text
    assert "capacity must be an integer from 0 to 20 (got -1)" in text
    assert [e.to_dict() for e in info.value.errors][0].keys() == {"field", "message"}


def test_numbers_as_strings_from_a_form_are_accepted() -> None:
    params = validate(Params, {"producers": "5", "consumers": "3", "capacity": "0", "speed": "2.5"})
    assert isinstance(params, Params)
    assert (params.producers, params.consumers, params.capacity, params.speed) == (5, 3, 0, 2.5)


def test_defaults_fill_what_is_missing() -> None:
    assert validate(Params, {}) == Params()


@pytest.mark.parametrize("data", [[1, 2], "producers=3", None, 5])
def test_params_that_are_not_an_object_are_rejected(data: Any) -> None:
    assert errors_for(data) == [FieldError("params", "params must be an object of name: value")]


@pytest.mark.parametrize(
    ("field", "words"),
    [
        ("producers", "an integer from 1 to 16"),
        ("speed", "a number from 0.1 to 20"),
        ("backend", "one of 'process', 'thread'"),
        ("no_such_field", "a value"),
    ],
)
def test_bounds_in_words(field: str, words: str) -> None:
    assert bounds(Params, field) == words
