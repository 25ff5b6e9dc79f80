"""Shapes shared by every resource: list pages."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list. Pass ``next_cursor`` back as ``cursor`` for the next page."""

    data: list[T]
    has_more: bool
    next_cursor: str | None = None
