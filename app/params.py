"""Validating an experiment's parameters, with messages a person can act on.

Every message names the field and its bounds, taken from the same pydantic
model whose JSON Schema drives the page's form. A message names a field as
the form does, by its title in the reader's language ("Produce time min
(ms)"); the field's key (`produce_min_ms`) goes with it, in `FieldError.field`,
for API clients to act on.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.i18n import N_, _


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class ParamsError(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(e.message for e in errors))


SPEED_MIN, SPEED_MAX = 0.1, 20.0
SHOWN_CHARS = 40  # a value given is quoted up to this long, else by its size


def live(description: str) -> dict[str, Any]:
    """A field's `json_schema_extra` when it may change while a run goes
    (the form marks it LIVE, and `PATCH /api/runs/{id}` takes it)."""
    return {"live": True, "description": description}


def speed_field(title: str, description: str, default: float = 1.0) -> Any:
    """A lesson's speed: it scales its program's sleeps, and changes live."""
    return Field(
        default, ge=SPEED_MIN, le=SPEED_MAX, title=title, json_schema_extra=live(description)
    )


def number_field(
    default: float | None, lo: float, hi: float, title: str, description: str | None = None
) -> Any:
    """A number from `lo` to `hi` (an int, if the field's type says so)."""
    return Field(default, ge=lo, le=hi, title=title, description=description)


def choice_field(default: Any, title: str, description: str) -> Any:
    """One of the values its type allows (a Literal's, or True/False): the
    form draws a select of them."""
    extra: dict[str, Any] | None = {"enum": [True, False]} if isinstance(default, bool) else None
    return Field(default, title=title, description=description, json_schema_extra=extra)


def ms_field(default: int, title: str, description: str | None = None, most: int = 10_000) -> Any:
    """A time in milliseconds, from 0 to `most` (10 s)."""
    return number_field(default, 0, most, title, description)


def workers_field(default: int, most: int, title: str, description: str) -> Any:
    """How many workers of one role a run keeps, from 1 to `most`; it changes live."""
    return Field(default, ge=1, le=most, title=title, json_schema_extra=live(description))


def capacity_field(default: int, most: int, title: str, description: str) -> Any:
    """A queue's maxsize, from 0 (unbounded) to `most`."""
    return number_field(default, 0, most, title, description)


class LessonParams(BaseModel):
    """A lesson's parameters: a name it does not know is refused, and so is
    true or false for a number (pydantic would take it as 1 or 0)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) and info.field_name is not None:
            annotation = cls.model_fields[info.field_name].annotation
            if {int, float} & set(get_args(annotation) or (annotation,)):
                raise ValueError("a number, not true or false")
        return value


class QueueWork(LessonParams):
    """The parameters of a lesson whose producers make items and whose
    consumers take them, each in a time drawn from a range
    (`produce_min_ms` .. `produce_max_ms`, and the same for `consume`):
    each range's min is no greater than its max."""

    @model_validator(mode="after")
    def _ranges_ordered(self) -> QueueWork:
        check_ranges(self, ("produce", "consume"))
        return self


NOT_AN_OBJECT = N_("params must be an object of name: value")
# The error type of a check across fields that blames one (see check_ranges).
BLAME = "blames_field"


def label(model: type[BaseModel], field: str) -> str:
    """A field as the form names it: its title in the reader's language, or
    its key if it has no title (or is no field of the model)."""
    info = model.model_fields.get(field)
    title = info.title if info is not None else None
    return _(title) if title else field


def _num(value: float) -> str:
    """64 MiB as 67108864, not 6.71089e+07; 0.1 as 0.1."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _sizes(kind: str, lo: int | None, hi: int | None) -> str:
    """'text of at most 100 characters', 'a list of 1 to 32 items'."""
    words = {
        "string": (
            _("text of %(lo)s to %(hi)s characters"),
            _("text of at most %(hi)s characters"),
            _("text of at least %(lo)s characters"),
            _("text"),
        ),
        "array": (
            _("a list of %(lo)s to %(hi)s items"),
            _("a list of at most %(hi)s items"),
            _("a list of at least %(lo)s items"),
            _("a list"),
        ),
    }[kind]
    at = 0 if lo and hi is not None else 1 if hi is not None else 2 if lo else 3
    return words[at] % {"lo": lo, "hi": hi}


def bounds(model: type[BaseModel], field: str) -> str:
    """What a field accepts, in words: 'an integer from 1 to 16'. A field
    may say it in words of its own (`json_schema_extra` "bounds")."""
    return _words(model.model_json_schema().get("properties", {}).get(field, {}))


def _words(prop: dict[str, Any]) -> str:
    """`bounds` of a field's JSON Schema; an optional one's "or null" last."""
    options = prop.get("anyOf", [])
    if any(o.get("type") == "null" for o in options):
        given = [o for o in options if o.get("type") != "null"]
        if len(given) == 1:
            return _("%(bounds)s, or null") % {"bounds": _words({**prop, "anyOf": [], **given[0]})}
    if "bounds" in prop:
        return _(prop["bounds"])
    if "enum" in prop:
        return _("one of %(values)s") % {"values": ", ".join(repr(v) for v in prop["enum"])}
    if prop.get("type") in ("string", "array"):
        said = _sizes(
            prop["type"],
            prop.get("minLength", prop.get("minItems")),
            prop.get("maxLength", prop.get("maxItems")),
        )
        item = prop.get("items", {})
        if item.get("type") == "string" and "maxLength" in item:
            said = _("%(list)s, each %(item)s") % {
                "list": said,
                "item": _sizes("string", item.get("minLength"), item["maxLength"]),
            }
        return said
    kind = {"integer": _("an integer"), "number": _("a number"), "boolean": _("true or false")}.get(
        prop.get("type", ""), _("a value")
    )
    lo, hi = prop.get("minimum"), prop.get("maximum")
    if lo is not None and hi is not None:
        return _("%(kind)s from %(lo)s to %(hi)s") % {
            "kind": kind,
            "lo": _num(lo),
            "hi": _num(hi),
        }
    if lo is not None:
        return _("%(kind)s of at least %(lo)s") % {"kind": kind, "lo": _num(lo)}
    if hi is not None:
        return _("%(kind)s of at most %(hi)s") % {"kind": kind, "hi": _num(hi)}
    return kind


def shown(value: Any) -> str:
    """A value given, as a message quotes it: a long one by its size, never
    whole (a program of 300,000 characters is not said back)."""
    if value is None:
        return _("nothing")
    if value == "":
        return _("an empty value")
    if isinstance(value, str) and len(value) > SHOWN_CHARS:
        return _("text of %(n)s characters") % {"n": len(value)}
    if isinstance(value, list | tuple) and len(repr(value)) > SHOWN_CHARS:
        return _("a list of %(n)s items") % {"n": len(value)}
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def describe(model: type[BaseModel], exc: ValidationError) -> list[FieldError]:
    known = list(model.model_fields)
    out: list[FieldError] = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"]]
        if not loc:
            # A check across fields: it names the field it blames (check_ranges),
            # or its message starts with that field's key, said here by its label.
            text = err["msg"].removeprefix("Value error, ")
            blamed = str((err.get("ctx") or {}).get("field", "")) if err["type"] == BLAME else ""
            if not blamed:
                blamed = text.split(" ", 1)[0]
                if blamed in known:
                    text = _joined(label(model, blamed), text[len(blamed) :])
            out.append(FieldError(blamed, text))
            continue
        field = loc[0]
        if err["type"] == "extra_forbidden":
            out.append(
                FieldError(
                    field,
                    _("unknown field '%(field)s'; known fields: %(known)s")
                    % {"field": field, "known": ", ".join(known)},
                )
            )
            continue
        got = shown(err.get("input"))
        if len(loc) > 1 and loc[1].isdigit():  # one item of a list
            got = _("item %(n)s: %(got)s") % {"n": int(loc[1]) + 1, "got": got}
        message = _("%(field)s must be %(bounds)s (got %(got)s)") % {
            "field": label(model, field),
            "bounds": bounds(model, field),
            "got": got,
        }
        out.append(FieldError(field, message))
    return out


def _joined(label: str, rest: str) -> str:
    """A field's label put before the rest of a message about it: no space
    between two Chinese words (生产者必须是), as there is between two of
    English or between Chinese and a word of English (params 必须是)."""
    wide = ("W", "F")
    if (
        label
        and rest[:1] == " "
        and unicodedata.east_asian_width(label[-1]) in wide
        and unicodedata.east_asian_width(rest[1:2] or "a") in wide
    ):
        rest = rest[1:]
    return label + rest


def validate(model: type[BaseModel], data: Any) -> BaseModel:
    if not isinstance(data, dict):
        raise ParamsError([FieldError("params", _(NOT_AN_OBJECT))])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ParamsError(describe(model, exc)) from None


def check_ranges(params: BaseModel, sides: tuple[str, ...]) -> None:
    """Each `<side>_min_ms` no greater than its `<side>_max_ms`; the error
    blames the min (see `describe`) and names both by their labels."""
    model = type(params)
    for side in sides:
        lo_key, hi_key = f"{side}_min_ms", f"{side}_max_ms"
        lo, hi = getattr(params, lo_key), getattr(params, hi_key)
        if lo > hi:
            message = _("%(lo_field)s must be at most %(hi)s, the %(hi_field)s (got %(lo)s)") % {
                "lo_field": label(model, lo_key),
                "lo": lo,
                "hi_field": label(model, hi_key),
                "hi": hi,
            }
            # "{message}" is the template, filled from the context: the text
            # is made (and translated) here.
            raise PydanticCustomError(BLAME, "{message}", {"field": lo_key, "message": message})
