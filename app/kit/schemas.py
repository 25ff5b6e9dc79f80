"""Shapes shared by every resource: list pages, the timestamps clients send, and the writer
that answers with rows read back from the database."""

from __future__ import annotations

import re
import types
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from functools import cache
from typing import Annotated, Any, Generic, TypeVar, Union, get_args, get_origin

from fastapi import Query
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    Field,
    PlainSerializer,
    TypeAdapter,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError, core_schema
from typing_extensions import TypedDict

from app.kit.queries import MAX_LIMIT

T = TypeVar("T")

# The start of an RFC 3339 date-time; pydantic checks the rest, the offset included.
_RFC3339_START = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _rfc3339_only(value: Any) -> Any:
    """An RFC 3339 string (or a datetime, from code); never a number taken as epoch seconds.

    Left alone, pydantic reads ``1700000000`` or ``"0.5"`` as seconds since 1970, which the
    document (``format: date-time``) does not allow: a client that sends one has a bug we
    should name, not a timestamp in 1970.
    """
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _RFC3339_START.match(value):
        return value
    raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-11-25T19:21:16Z")


# The instants a client may send: years 1900 to 2200, in UTC. Far inside what Python, SQLite and
# PostgreSQL can hold, so that converting a value to UTC, or adding the agenda's and the
# calendar's days to it, never overflows: ``0001-01-01T00:00:00+14:00`` parses, but is a year
# before 1 in UTC.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
_RANGE = "between 1900-01-01T00:00:00Z and 2200-12-31T23:59:59Z"


def _in_range(value: datetime) -> datetime:
    """``value`` in UTC, if it lies between :data:`EARLIEST` and :data:`LATEST`.

    The comparison subtracts the offsets without building a datetime, so it cannot overflow
    however far out the value is; only a value found in range is converted.
    """
    if not EARLIEST <= value <= LATEST:
        raise PydanticCustomError("datetime_out_of_range", f"must lie {_RANGE}")
    return value.astimezone(UTC)


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339_only),
    AfterValidator(_in_range),
    Field(
        description=f"RFC 3339 with an offset, {_RANGE}.",
        # The years the range spans (its ends are instants in UTC; the offset may move one).
        json_schema_extra={"pattern": r"^(19[0-9]{2}|2[01][0-9]{2}|2200)-"},
    ),
]
"""A timestamp in a request (body or query): RFC 3339 with an offset, in years 1900 to 2200
(UTC), nothing else. Every date-time a request can carry is one of these."""


# A cursor is the last id of a page: sixteen bytes in base64url without padding, so twenty-two
# characters of which the last carries two bits. Every string of that shape is a cursor (a page
# after an id that is not there starts where that id would be); anything else is a 422
# ``invalid_cursor``.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{21}[AQgw]$"
_CURSOR_DESCRIPTION = "A `next_cursor` from the previous page, passed back exactly as received."

PageLimit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, 1 to {MAX_LIMIT}.")]
"""The ``limit`` of every list."""

PageCursor = Annotated[
    str | None,
    Query(max_length=200, description=_CURSOR_DESCRIPTION),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": CURSOR_PATTERN,
            "minLength": 22,
            "maxLength": 22,
            "description": _CURSOR_DESCRIPTION,
        }
    ),
]
"""The ``cursor`` of every list: its shape is in the document; the list reads it back."""


def _integral(value: Any) -> Any:
    # JSON Schema's integer is any number without a fraction: 30.0 is 30 ("30" and true are not).
    if type(value) is float and value.is_integer():
        return int(value)
    return value


@dataclass(frozen=True)
class Whole:
    """``Annotated[int, Whole(ge=..., le=...)]``: an integer in a request, within the bounds. A
    JSON number without a fraction (30.0 is 30), never a string or a boolean. The bounds sit on
    the integer itself, so the document states them as ``minimum`` and ``maximum``."""

    ge: int | None = None
    le: int | None = None

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(
            _integral, core_schema.int_schema(strict=True, ge=self.ge, le=self.le)
        )


WholeNumber = Annotated[int, Whole()]


def never_null(*names: str) -> Callable[[dict[str, Any]], None]:
    """``json_schema_extra`` for a partial update whose ``names`` may be left out, never null.

    Leaving a field out leaves it alone; the model's validator refuses an explicit null for
    these (it would erase something the resource needs). The document says so: their schemas
    lose the ``null`` branch and the ``null`` default.
    """

    def drop_null(schema: dict[str, Any]) -> None:
        for name in names:
            field = schema["properties"][name]
            options = [o for o in field.get("anyOf", ()) if o != {"type": "null"}]
            if len(options) == 1:
                del field["anyOf"]
                field.update(options[0])
            if field.get("default", 0) is None:
                del field["default"]

    return drop_null


def together(first: str, second: str) -> Callable[[dict[str, Any]], None]:
    """``json_schema_extra`` for a body where ``first`` and ``second`` come both or neither.

    The model's validator refuses one without the other (null counting as not given); the
    document states the same rule: either neither is a string, or both are. It does so with
    ``dependentSchemas``, which validators and test generators read and SDK generators pass
    over (a top-level ``anyOf`` would turn the body into a union of two models).
    """

    def given(field: str, other: str) -> dict[str, Any]:
        return {
            "anyOf": [
                {"properties": {field: {"type": "null"}, other: {"type": "null"}}},
                {
                    "required": [other],
                    "properties": {field: {"type": "string"}, other: {"type": "string"}},
                },
            ]
        }

    def pair(schema: dict[str, Any]) -> None:
        schema["dependentSchemas"] = {first: given(first, second), second: given(second, first)}

    return pair


class Page(BaseModel, Generic[T]):
    """One page of a list. Pass ``next_cursor`` back as ``cursor`` for the next page."""

    data: list[T]
    has_more: bool
    next_cursor: str | None = None


# Keys a small request body (a login, a refresh token) may carry before it is refused whole:
# refusing each unknown key of a body with ninety thousand of them costs the server a
# fraction of a second, on the event loop and before any authentication.
MAX_SMALL_BODY_KEYS = 16


def few_keys(data: Any) -> Any:
    """A ``mode="before"`` model check: an object with more than :data:`MAX_SMALL_BODY_KEYS`
    keys is one error, not one per key."""
    if isinstance(data, dict) and len(data) > MAX_SMALL_BODY_KEYS:
        raise PydanticCustomError(
            "too_many_keys",
            "At most {limit} keys are accepted here; this object has {count}.",
            {"limit": MAX_SMALL_BODY_KEYS, "count": len(data)},
        )
    return data


@cache
def row_writer(model: type[BaseModel]) -> TypeAdapter[Any]:
    """What writes a row read back from the database as the JSON ``model`` would give it.

    The row was checked on its way in, so reading it again into ``model`` before writing it
    out (pydantic's validation, about as costly as the writing) proves nothing. The writer is a
    ``TypeAdapter`` over the model's fields as a ``TypedDict``: it takes the row as a dict of
    column values in the table's column order, which is the model's field order (a state as
    its text), and writes the same bytes as ``TypeAdapter(model).dump_json`` of the validated
    model. Keys the model has not (``owner_id``, ``version``) are left out. A field holding
    models (a JSON column: an interview's questions) is still read into them, since the
    database may hand its objects back with their keys in another order (PostgreSQL's
    ``jsonb`` does).

    ``model`` must write its fields plainly: no alias, serializer or computed field, which
    the dict would not know of (a ``TypeError`` says so).
    """
    return TypeAdapter(_row_shape(model))


@cache
def page_writer(model: type[BaseModel]) -> TypeAdapter[Any]:
    """:func:`row_writer` for a :class:`Page` of ``model``: ``{"data": rows, "has_more": …,
    "next_cursor": …}`` written as ``Page[model]`` would write it."""
    fields = {
        name: list[_row_shape(model)] if name == "data" else field.annotation  # type: ignore[misc]
        for name, field in Page[model].model_fields.items()  # type: ignore[valid-type]
    }
    return TypeAdapter(TypedDict(f"{model.__name__}RowPage", fields))  # type: ignore[operator]


@cache
def _row_shape(model: type[BaseModel]) -> Any:
    decorators = model.__pydantic_decorators__
    if decorators.field_serializers or decorators.model_serializers or decorators.computed_fields:
        raise TypeError(f"{model.__name__} has serializers of its own")
    fields: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if field.alias not in (None, name) or field.serialization_alias not in (None, name):
            raise TypeError(f"{model.__name__}.{name} is written under an alias")
        fields[name] = _as_stored(field.annotation)
    return TypedDict(f"{model.__name__}Row", fields)  # type: ignore[operator]


def _as_stored(annotation: Any) -> Any:
    """A field's type as the database hands its value back: an enum as its value's type; a
    value holding models, read into them when it is written."""
    if _holds_models(annotation):
        return Annotated[Any, PlainSerializer(_into(annotation), return_type=annotation)]
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return Union[tuple(_as_stored(arg) for arg in get_args(annotation))]  # noqa: UP007
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        kinds = {type(member.value) for member in annotation}
        if len(kinds) != 1:
            raise TypeError(f"{annotation.__name__} has values of several types")
        return kinds.pop()
    return annotation


def _into(annotation: Any) -> Callable[[Any], Any]:
    validate = TypeAdapter(annotation).validate_python

    def into(value: Any) -> Any:
        # None or an empty list (most interviews' questions) has nothing to read.
        return value if value is None or value == [] else validate(value)

    return into


def _holds_models(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_holds_models(arg) for arg in get_args(annotation))
