"""Reads serialised straight from database rows, byte for byte as the models would.

A list page of 50 interviews spent most of its time turning column values into Python objects
(SQLite's UUID text into ``uuid.UUID``, its timestamp text into ``datetime``, JSON text into
lists), then into models, only for pydantic to write them back out as the very same text.
Here each field of the public model gets, once, a converter from what the database driver
returns to what the model would write in JSON: SQLite's 32-digit UUID text gains its dashes,
its ``YYYY-MM-DD HH:MM:SS.ffffff`` UTC text becomes ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``, enums
and plain text pass through untouched. The converters also accept the typed values SQLAlchemy
or PostgreSQL's driver hand back (``uuid.UUID``, aware ``datetime``, decoded ``jsonb``), so the
same code serves rows read raw (:func:`app.kit.queries.stored_columns`) and typed, on
either database.

Fields holding nested models (an interview's questions) are still validated into them and
dumped again: a JSON column need not keep the model's key order (``jsonb`` sorts keys).
Columns the model does not have (``owner_id``, ``version``) are left out; the model's field
order is kept. What remains is plain JSON values, written by orjson (several times faster than
a schema-less pydantic dump, and byte-identical to pydantic for such values). The response
model declared on the route still documents the page; tests compare both serialisations on
both databases.
"""

from __future__ import annotations

import json
import types
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import cache
from operator import itemgetter
from typing import Annotated, Any, NamedTuple, Union, get_args, get_origin

import orjson
from fastapi import Response
from pydantic import BaseModel, TypeAdapter

Converter = Callable[[Any], Any]

_DATETIME: TypeAdapter[datetime] = TypeAdapter(datetime)


def _uuid(value: Any) -> str:
    """A UUID as JSON text: SQLite's stored hex gains its dashes; anything else via ``UUID``."""
    if value.__class__ is str and len(value) == 32:
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(value))


def _timestamp(value: Any) -> str:
    """A UTC timestamp as pydantic writes it: ``…T…`` with six fractional digits unless zero.

    SQLite's text, as :class:`app.db.UTCDateTime` stores it, is rearranged without parsing;
    anything else (an aware ``datetime`` from PostgreSQL, other text) goes through pydantic.
    """
    if value.__class__ is str and len(value) == 26 and value[10] == " " and value[19] == ".":
        if value.endswith("000000"):
            return f"{value[:10]}T{value[11:19]}Z"
        return f"{value[:10]}T{value[11:]}Z"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    text: str = _DATETIME.dump_python(value, mode="json")
    return text


def _nested(adapter: TypeAdapter[Any]) -> Converter:
    """Nested models from a JSON column (text on SQLite, decoded on PostgreSQL)."""

    def convert(value: Any) -> Any:
        if value == "[]" or value == []:
            return []
        if isinstance(value, str | bytes):
            value = json.loads(value)
        return adapter.dump_python(adapter.validate_python(value), mode="json")

    return convert


def _unwrap(annotation: Any) -> Any:
    """The annotation without ``Annotated`` and without ``None`` in a union."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return annotation


def _holds_model(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_holds_model(arg) for arg in get_args(annotation))


def _converter(annotation: Any) -> Converter | None:
    """How one field's column value becomes the field's JSON value (None: unchanged)."""
    plain = _unwrap(annotation)
    if plain is uuid.UUID:
        return _uuid
    if plain is datetime:
        return _timestamp
    if plain is bool:
        return bool  # SQLite's 0 and 1
    if _holds_model(annotation):
        return _nested(TypeAdapter(annotation))
    if isinstance(plain, type) and issubclass(plain, str | int):  # text, numbers, str enums
        return None
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    return lambda value: adapter.dump_python(adapter.validate_python(value), mode="json")


class _Plan(NamedTuple):
    names: tuple[str, ...]
    pick: Callable[[Mapping[Any, Any]], tuple[Any, ...]]  # a row's values in the model's order
    converters: tuple[tuple[str, Converter], ...]  # only the fields that need one


def _pick_one(name: str) -> Callable[[Mapping[Any, Any]], tuple[Any, ...]]:
    """What ``itemgetter`` of several names does, for one (it would give the bare value)."""

    def pick(row: Mapping[Any, Any]) -> tuple[Any, ...]:
        return (row[name],)

    return pick


@cache
def _plan(model: type[BaseModel]) -> _Plan:
    names = tuple(model.model_fields)
    pick = itemgetter(*names) if len(names) > 1 else _pick_one(names[0])
    converters = tuple(
        (name, convert)
        for name, info in model.model_fields.items()
        if (convert := _converter(info.annotation)) is not None
    )
    return _Plan(names, pick, converters)


def row_json_value(model: type[BaseModel], row: Mapping[Any, Any]) -> dict[str, Any]:
    """One row as the JSON value ``model`` would write for it (fields in the model's order)."""
    names, pick, converters = _plan(model)
    item = dict(zip(names, pick(row), strict=True))
    for name, convert in converters:
        value = item[name]
        if value is not None:
            item[name] = convert(value)
    return item


def row_response(
    model: type[BaseModel], row: Mapping[Any, Any], *, headers: Mapping[str, str] | None = None
) -> Response:
    """One row written as ``model`` would write it, as the response of a read."""
    return Response(
        orjson.dumps(row_json_value(model, row)), media_type="application/json", headers=headers
    )


def page_json(
    model: type[BaseModel],
    rows: Iterable[Mapping[Any, Any]],
    *,
    has_more: bool,
    next_cursor: str | None,
) -> bytes:
    """``Page[model](data=rows, …)`` as JSON, without validating the rows into models."""
    data = [row_json_value(model, row) for row in rows]
    return orjson.dumps({"data": data, "has_more": has_more, "next_cursor": next_cursor})


def page_response(
    model: type[BaseModel],
    rows: Iterable[Mapping[Any, Any]],
    *,
    has_more: bool,
    next_cursor: str | None,
) -> Response:
    """:func:`page_json` as the response of a list operation."""
    content = page_json(model, rows, has_more=has_more, next_cursor=next_cursor)
    return Response(content, media_type="application/json")
