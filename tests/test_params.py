"""Parameter validation messages (app/params.py) with the producer-consumer model."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, Field, model_validator

from app import i18n
from app.experiments.producer_consumer import Params
from app.experiments.program import ProgramParams
from app.params import FieldError, ParamsError, bounds, label, validate

FIELDS = (
    "producers, consumers, capacity, items_per_producer, produce_min_ms, produce_max_ms,"
    " consume_min_ms, consume_max_ms, speed, backend"
)


def errors_for_model(model: type[BaseModel], data: Any) -> list[FieldError]:
    with pytest.raises(ParamsError) as info:
        validate(model, data)
    return info.value.errors


def errors_for(data: Any) -> list[FieldError]:
    return errors_for_model(Params, data)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("producers", 40, "Producers must be an integer from 1 to 16 (got 40)"),
        ("producers", 0, "Producers must be an integer from 1 to 16 (got 0)"),
        ("consumers", 17, "Consumers must be an integer from 1 to 16 (got 17)"),
        ("consumers", 0, "Consumers must be an integer from 1 to 16 (got 0)"),
        ("capacity", -1, "Queue capacity must be an integer from 0 to 20 (got -1)"),
        ("capacity", 21, "Queue capacity must be an integer from 0 to 20 (got 21)"),
        (
            "items_per_producer",
            1001,
            "Items per producer must be an integer from 0 to 1000 (got 1001)",
        ),
        ("items_per_producer", -1, "Items per producer must be an integer from 0 to 1000 (got -1)"),
        ("produce_min_ms", -1, "Produce time min (ms) must be an integer from 0 to 10000 (got -1)"),
        (
            "produce_max_ms",
            10001,
            "Produce time max (ms) must be an integer from 0 to 10000 (got 10001)",
        ),
        ("consume_min_ms", -5, "Consume time min (ms) must be an integer from 0 to 10000 (got -5)"),
        (
            "consume_max_ms",
            20000,
            "Consume time max (ms) must be an integer from 0 to 10000 (got 20000)",
        ),
        ("speed", 0.05, "Speed must be a number from 0.1 to 20 (got 0.05)"),
        ("speed", 21, "Speed must be a number from 0.1 to 20 (got 21)"),
    ],
)
def test_a_value_out_of_bounds_names_the_field_and_its_bounds(
    field: str, value: Any, message: str
) -> None:
    assert errors_for({field: value}) == [FieldError(field, message)]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("producers", "x", "Producers must be an integer from 1 to 16 (got 'x')"),
        ("producers", 2.5, "Producers must be an integer from 1 to 16 (got 2.5)"),
        ("speed", "fast", "Speed must be a number from 0.1 to 20 (got 'fast')"),
        ("capacity", "", "Queue capacity must be an integer from 0 to 20 (got an empty value)"),
        ("consumers", None, "Consumers must be an integer from 1 to 16 (got nothing)"),
        ("producers", True, "Producers must be an integer from 1 to 16 (got True)"),
        ("speed", False, "Speed must be a number from 0.1 to 20 (got False)"),
    ],
)
def test_a_value_of_the_wrong_type_names_the_field_and_what_it_accepts(
    field: str, value: Any, message: str
) -> None:
    assert errors_for({field: value}) == [FieldError(field, message)]


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        (
            {"source": "x" * 300_000},
            "source",
            "Program must be text of at most 262144 characters (got text of 300000 characters)",
        ),
        (
            {"args": ["-v"] * 40},
            "args",
            "Arguments must be a list of at most 32 items, each text of at most 1000"
            " characters (got a list of 40 items)",
        ),
        (
            {"args": ["-v", "y" * 1001]},
            "args",
            "Arguments must be a list of at most 32 items, each text of at most 1000"
            " characters (got item 2: text of 1001 characters)",
        ),
        (
            {"filename": "my lesson.py"},
            "filename",
            "File name must be a name like week-3.py or 作业3.py, with no space, slash or"
            " quote (got 'my lesson.py')",
        ),
    ],
)
def test_text_and_lists_are_bounded_by_their_sizes_and_a_long_value_is_told_by_its_size(
    params: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ParamsError) as caught:
        validate(ProgramParams, {"source": "print(1)\n", **params})
    assert caught.value.errors == [FieldError(field, message)]


def test_an_unknown_field_is_named_with_the_known_ones() -> None:
    assert errors_for({"threads": 4}) == [
        FieldError("threads", f"unknown field 'threads'; known fields: {FIELDS}")
    ]


def test_a_backend_outside_the_enum_lists_the_allowed_values() -> None:
    assert errors_for({"backend": "greenlet"}) == [
        FieldError("backend", "Backend must be one of 'process', 'thread' (got 'greenlet')")
    ]


@pytest.mark.parametrize("side", ["Produce", "Consume"])
def test_a_min_above_its_max_blames_the_min_and_names_both_by_their_labels(side: str) -> None:
    key = side.lower()
    errors = errors_for({f"{key}_min_ms": 6000, f"{key}_max_ms": 5000})
    assert errors == [
        FieldError(
            f"{key}_min_ms",
            f"{side} time min (ms) must be at most 5000, the {side} time max (ms) (got 6000)",
        )
    ]


def test_a_message_names_the_field_by_its_label_in_the_readers_language() -> None:
    with i18n.speaking("zh"):
        errors = errors_for({"produce_min_ms": -1, "produce_max_ms": 10001, "producers": "x"})
        crossed = errors_for({"produce_min_ms": 6000, "produce_max_ms": 5000})
        not_an_object = errors_for([1])
    assert {e.field: e.message for e in errors} == {
        "produce_min_ms": "生产时间下限（毫秒）必须是 0 到 10000 之间的整数（收到 -1）",
        "produce_max_ms": "生产时间上限（毫秒）必须是 0 到 10000 之间的整数（收到 10001）",
        "producers": "生产者必须是 1 到 16 之间的整数（收到 'x'）",
    }
    assert crossed == [
        FieldError(
            "produce_min_ms",
            "生产时间下限（毫秒） 不能大于 生产时间上限（毫秒），即最多为 5000（收到 6000）",
        )
    ]
    assert not_an_object == [FieldError("params", "params 必须是由“名称: 值”组成的对象")]


class Sized(BaseModel):
    size: int = Field(8, title="Block size")

    @model_validator(mode="after")
    def _even(self) -> Sized:
        if self.size % 2:
            raise ValueError(f"size must be even (got {self.size})")  # starts with its key
        return self


def test_a_check_across_fields_that_starts_with_a_key_is_said_with_its_label() -> None:
    assert errors_for_model(Sized, {"size": 7}) == [
        FieldError("size", "Block size must be even (got 7)")
    ]


def test_a_field_without_a_title_is_named_by_its_key() -> None:
    class Untitled(BaseModel):
        n: int = Field(1, ge=1)

    assert label(Untitled, "n") == "n"
    assert label(Params, "capacity") == "Queue capacity"
    assert errors_for_model(Untitled, {"n": 0}) == [
        FieldError("n", "n must be an integer of at least 1 (got 0)")
    ]


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
    assert "Producers must be an integer from 1 to 16 (got 40)" in text
    assert "Queue capacity must be an integer from 0 to 20 (got -1)" in text
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


@pytest.mark.parametrize(
    "name", ["week-3.py", "hw_2-solution.py", "Lesson.py", "1_threads.py", "线程锁计数.py"]
)
def test_a_students_usual_file_names_are_taken(name: str) -> None:
    assert validate(ProgramParams, {"filename": name}).filename == name  # type: ignore[attr-defined]
