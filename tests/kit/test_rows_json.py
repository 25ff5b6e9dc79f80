"""List pages written straight from rows are byte for byte what the public models would write."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import orjson
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter

from app.interviews.schemas import InterviewPublic, InterviewQuestion
from app.kit.rows_json import _timestamp, _uuid, page_json, row_json_value
from app.kit.schemas import Page
from app.vocabulary import InterviewMode
from tests.factories import register
from tests.factories_interviews import create_interview, future, prepared_interview, transition


def test_the_interview_list_is_the_models_json_exactly(client: TestClient) -> None:
    user = register(client)
    # Every kind of value a row holds: nulls and set times, each enum, questions with and
    # without answers, a cancelled interview's reason, unicode text.
    create_interview(client, user)
    create_interview(
        client,
        user,
        mode="in_person",
        scheduled_at=future(48),
        location="Café Ümlaut, 2nd floor",
        career_field="nursing",
        questions=[
            {"question": "What does a typical day look like?", "answer": "Rounds, then charts."},
            {"question": "How did you start?"},
        ],
        advice="Shadow someone first.",
    )
    prepared = prepared_interview(client, user)
    cancelled = create_interview(client, user, mode="phone")
    assert (
        transition(client, user, cancelled["id"], "cancelled", reason="no answer").status_code
        == 200
    )

    r = client.get("/api/v1/interviews", params={"limit": 3}, headers=user.headers)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["has_more"] is True and body["next_cursor"]
    rest = client.get(
        "/api/v1/interviews", params={"cursor": body["next_cursor"]}, headers=user.headers
    ).json()
    listed = {i["id"] for i in body["data"] + rest["data"]}
    assert {prepared["id"], cancelled["id"]} <= listed and len(listed) == 4

    for page in (body, rest):
        # The same page, validated into the models and written by them.
        expected = Page[InterviewPublic].model_validate(page).model_dump_json().encode()
        raw = client.get(
            "/api/v1/interviews",
            params={"limit": 3} if page is body else {"cursor": body["next_cursor"]},
            headers=user.headers,
        ).content
        assert raw == expected


def test_columns_the_model_lacks_are_left_out(client: TestClient) -> None:
    user = register(client)
    interview = create_interview(client, user, questions=[{"question": "Why this field?"}])
    # A row as the table holds it: the public fields (as Python values) and more columns.
    public = InterviewPublic.model_validate(interview)
    row = {"owner_id": user.id, **public.model_dump(), "version": 3}
    expected = Page[InterviewPublic](data=[public], has_more=False).model_dump_json().encode()
    assert page_json(InterviewPublic, [row], has_more=False, next_cursor=None) == expected
    assert page_json(InterviewPublic, [], has_more=True, next_cursor="abc") == (
        b'{"data":[],"has_more":true,"next_cursor":"abc"}'
    )


def test_one_interview_is_the_models_json_exactly(client: TestClient) -> None:
    user = register(client)
    interview = create_interview(
        client,
        user,
        mode="video",
        scheduled_at=future(5),
        questions=[{"question": "What surprised you?", "answer": "The paperwork."}],
    )
    r = client.get(f"/api/v1/interviews/{interview['id']}", headers=user.headers)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["etag"] == '"1"'
    assert r.content == InterviewPublic.model_validate(r.json()).model_dump_json().encode()
    assert r.json() == interview


# --- the converters, value by value --------------------------------------------------------

_UTC_TIMES = st.datetimes(
    min_value=datetime(1, 1, 1),
    max_value=datetime(9999, 12, 31),
    timezones=st.just(UTC),
)


@given(moment=_UTC_TIMES)
def test_stored_sqlite_timestamps_read_as_pydantic_writes_them(moment: datetime) -> None:
    """SQLite's text of a UTC timestamp (as SQLAlchemy stores it) becomes pydantic's JSON."""
    stored = moment.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    if moment.year < 1000:  # strftime does not pad years; SQLAlchemy's storage format does
        stored = f"{moment.year:04d}{stored[len(str(moment.year)) :]}"
    expected = TypeAdapter(datetime).dump_python(moment, mode="json")
    assert _timestamp(stored) == expected
    assert _timestamp(moment) == expected  # as SQLAlchemy or psycopg would hand it back
    assert _timestamp(moment.replace(tzinfo=None)) == expected  # naive means UTC here
    elsewhere = moment.astimezone(timezone(timedelta(hours=-5))) if moment.year > 1 else moment
    assert _timestamp(elsewhere) == expected  # PostgreSQL answers in the session's zone


@given(value=st.uuids())
def test_stored_uuids_read_as_pydantic_writes_them(value: uuid.UUID) -> None:
    expected = TypeAdapter(uuid.UUID).dump_python(value, mode="json")
    assert _uuid(value.hex) == expected  # SQLite's stored text
    assert _uuid(value) == expected
    assert _uuid(str(value)) == expected


class _Shape(BaseModel):
    """Every kind of field a public model has, for the converters' plan."""

    id: uuid.UUID
    flag: bool
    count: int | None
    kind: InterviewMode
    day: date | None
    at: datetime
    questions: list[InterviewQuestion]
    note: str | None


def test_a_row_of_stored_values_is_the_models_json() -> None:
    moment = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    ident = uuid.uuid4()
    stored = {
        "owner_id": "not in the model",
        "id": ident.hex,
        "flag": 1,
        "count": None,
        "kind": "video",
        "day": "2026-03-04",
        "at": "2026-03-04 05:06:07.000000",
        "questions": '[{"answer": "Yes.", "question": "Hiring?"}]',  # key order as jsonb keeps it
        "note": "Zoë \u2028 \x01",
    }
    model = _Shape(
        id=ident,
        flag=True,
        count=None,
        kind=InterviewMode.VIDEO,
        day=date(2026, 3, 4),
        at=moment,
        questions=[InterviewQuestion(question="Hiring?", answer="Yes.")],
        note="Zoë \u2028 \x01",
    )
    expected = model.model_dump_json().encode()
    assert orjson.dumps(row_json_value(_Shape, stored)) == expected
    # The typed values SQLAlchemy or psycopg return give the same JSON.
    typed = {**model.model_dump(), "questions": [{"answer": "Yes.", "question": "Hiring?"}]}
    assert orjson.dumps(row_json_value(_Shape, typed)) == expected
