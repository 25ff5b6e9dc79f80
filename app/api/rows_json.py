"""Reads serialised straight from database rows, byte for byte as the models would.

A list page of 50 interviews spent a quarter of its time validating rows the service had just
read from our own database into ``XPublic`` models, only to serialise them again. Here the
public model's shape is turned, once, into a plain typed dict (enums as their string values;
fields of nested models, such as questions, are still validated into them), and pydantic-core
writes the rows' values against that shape directly: the same field order, formats and
``null``s as the model, without building it. Columns the model does not have (``owner_id``,
``version``) are left out. The response model declared on the route still documents the page;
tests compare both serialisations.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping
from enum import Enum
from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import Response
from pydantic import BaseModel, TypeAdapter
from typing_extensions import TypedDict

# Built at run time from a model's fields, so called through an untyped handle.
_typed_dict: Any = TypedDict


def _plain(annotation: Any) -> Any:
    """The annotation to serialise a raw column value of this field's type with."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _plain(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return Union[tuple(_plain(arg) for arg in get_args(annotation))]  # noqa: UP007
    if origin is list:
        return list[_plain(get_args(annotation)[0])]  # type: ignore[misc]
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        # Columns hold the value; the model would write the same string.
        return str if issubclass(annotation, str) else annotation
    return annotation


def _holds_model(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_holds_model(arg) for arg in get_args(annotation))


@cache
def row_type(model: type[BaseModel]) -> Any:
    """A typed dict with the model's fields, in order, for serialising its rows.

    Fields holding nested models (an interview's questions) keep their model type: their
    values are validated on the way (:func:`_nested_adapters`), because a JSON column need
    not keep the model's key order (PostgreSQL's ``jsonb`` sorts keys).
    """
    fields = {
        name: info.annotation if _holds_model(info.annotation) else _plain(info.annotation)
        for name, info in model.model_fields.items()
    }
    return _typed_dict(f"{model.__name__}Row", fields)


@cache
def _nested_adapters(model: type[BaseModel]) -> tuple[tuple[str, TypeAdapter[Any]], ...]:
    annotations: dict[str, Any] = {n: i.annotation for n, i in model.model_fields.items()}
    return tuple((n, TypeAdapter(a)) for n, a in annotations.items() if _holds_model(a))


@cache
def page_adapter(model: type[BaseModel]) -> TypeAdapter[Any]:
    """The adapter writing ``Page[model]`` from row mappings."""
    row = row_type(model)
    page = _typed_dict(
        f"{model.__name__}RowPage",
        {"data": list[row], "has_more": bool, "next_cursor": str | None},  # type: ignore[valid-type]
    )
    return TypeAdapter(page)


@cache
def _row_adapter(model: type[BaseModel]) -> TypeAdapter[Any]:
    return TypeAdapter(row_type(model))


def _with_nested(model: type[BaseModel], row: Mapping[Any, Any]) -> dict[str, Any]:
    item = dict(row)
    for name, adapter in _nested_adapters(model):
        item[name] = adapter.validate_python(item[name])
    return item


def row_response(
    model: type[BaseModel], row: Mapping[Any, Any], *, headers: Mapping[str, str] | None = None
) -> Response:
    """One row written as ``model`` would write it, as the response of a read."""
    content = _row_adapter(model).dump_json(_with_nested(model, row))
    return Response(content, media_type="application/json", headers=headers)


def page_json(
    model: type[BaseModel],
    rows: Iterable[Mapping[Any, Any]],
    *,
    has_more: bool,
    next_cursor: str | None,
) -> bytes:
    """``Page[model](data=rows, …)`` as JSON, without validating the rows into models."""
    data = [_with_nested(model, row) for row in rows]
    page = {"data": data, "has_more": has_more, "next_cursor": next_cursor}
    return page_adapter(model).dump_json(page)


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
