"""Interview reads are byte for byte what the public models write."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.interviews.schemas import InterviewPublic
from app.kit.schemas import Page
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
