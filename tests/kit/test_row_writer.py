"""The row writer: rows read back from the database are written exactly as their response
models would write them, without being read into those models first."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field, TypeAdapter, computed_field, field_serializer

from app.interviews.schemas import InterviewPublic
from app.kit.schemas import Page, page_writer, row_writer

# Instants as the database hands them back: aware, in UTC, with or without microseconds.
_INSTANTS = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 12, 31), timezones=st.just(UTC)
)
_TEXT = st.text(max_size=40)


def _stored(value: Any) -> Any:
    """A value as a row holds it: an enum as its text, a nested model as a JSON object whose
    keys come back in another order (as PostgreSQL's ``jsonb`` hands them back)."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, BaseModel):
        names = reversed(type(value).model_fields)
        return {name: _stored(getattr(value, name)) for name in names}
    if isinstance(value, list):
        return [_stored(item) for item in value]
    return value


def _row(interview: InterviewPublic) -> dict[str, Any]:
    # A row: its columns in the model's order, and columns the response leaves out.
    columns = {name: _stored(getattr(interview, name)) for name in InterviewPublic.model_fields}
    return {"owner_id": interview.contact_id, **columns, "version": 3}


_INTERVIEWS = st.builds(
    InterviewPublic,
    scheduled_at=st.none() | _INSTANTS,
    requested_at=_INSTANTS,
    held_at=st.none() | _INSTANTS,
    created_at=_INSTANTS,
    updated_at=_INSTANTS,
    location=st.none() | _TEXT,
    notes=st.none() | _TEXT,
    questions=st.lists(
        st.fixed_dictionaries({"question": _TEXT.filter(bool), "answer": st.none() | _TEXT}),
        max_size=3,
    ),
)


@given(_INTERVIEWS)
def test_one_row_is_written_as_its_model(interview: InterviewPublic) -> None:
    expected = TypeAdapter(InterviewPublic).dump_json(interview)
    assert row_writer(InterviewPublic).dump_json(_row(interview)) == expected


@given(st.lists(_INTERVIEWS, max_size=5), st.booleans(), st.none() | _TEXT)
def test_a_page_of_rows_is_written_as_its_model(
    interviews: list[InterviewPublic], has_more: bool, next_cursor: str | None
) -> None:
    page = Page[InterviewPublic](data=interviews, has_more=has_more, next_cursor=next_cursor)
    rows = {"data": [_row(i) for i in interviews], "has_more": has_more, "next_cursor": next_cursor}
    expected = TypeAdapter(Page[InterviewPublic]).dump_json(page)
    assert page_writer(InterviewPublic).dump_json(rows) == expected


class _Aliased(BaseModel):
    name: str = Field(serialization_alias="fullName")


class _Serialized(BaseModel):
    at: datetime

    @field_serializer("at")
    def _date_only(self, value: datetime) -> str:
        return value.date().isoformat()


class _Computed(BaseModel):
    first: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def initial(self) -> str:
        return self.first[:1]


@pytest.mark.parametrize("model", [_Aliased, _Serialized, _Computed])
def test_a_model_that_writes_otherwise_gets_no_writer(model: type[BaseModel]) -> None:
    """An alias, a serializer or a computed field would be lost on a dict: refused up front."""
    with pytest.raises(TypeError):
        row_writer(model)
