"""The field brief, as JSON and as Markdown: what it gathers, its bound, its escaping."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from app.insights import briefs
from tests.factories import User, assert_problem, register
from tests.factories_interviews import create_contact, create_interview

API = "/api/v1/briefs"


def brief(client: TestClient, user: User, field: str) -> dict[str, Any]:
    r = client.get(API, params={"career_field": field}, headers=user.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def markdown(client: TestClient, user: User, field: str) -> str:
    r = client.get(f"{API}/markdown", params={"career_field": field}, headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/markdown; charset=utf-8"
    assert r.headers["content-disposition"].startswith("attachment")
    return r.text


def two_interviews(client: TestClient, user: User) -> tuple[dict[str, Any], dict[str, Any]]:
    star = create_contact(client, user, full_name="*Star*", title="Partner", organization="A&B")
    plain = create_contact(client, user, full_name="Paula Plain", career_field="Accounting")
    first = create_interview(
        client,
        user,
        contact_id=star["id"],
        career_field="ACCOUNTING",
        questions=[
            {
                "question": "What is a typical day?",
                "answer": "Audits.\nMany <script>alert(1)</script>",
            },
            {"question": "How did you start?", "answer": None},
        ],
        advice="Take the CPA <script>x</script> early.",
        next_steps="Call [Bob](https://evil.example)",
        decision="pursue",
    )
    # The interviewee's field stands in for an interview without one of its own.
    second = create_interview(
        client,
        user,
        contact_id=plain["id"],
        questions=[{"question": "what is a   typical DAY?", "answer": "Spreadsheets."}],
        advice="Learn Excel.",
    )
    return first, second


class TestBrief:
    def test_everything_learned_about_the_field(self, client: TestClient) -> None:
        user = register(client)
        first, second = two_interviews(client, user)
        create_interview(client, user, career_field="Nursing", advice="Not this one.")
        body = brief(client, user, "accounting")
        assert body["format"] == "infoview-field-brief" and body["version"] == 1
        assert body["interviews_total"] == 2 and body["interviews_left_out"] == 0
        # Newest first.
        assert [i["interview_id"] for i in body["interviews"]] == [second["id"], first["id"]]
        assert [(a["contact_name"], a["text"]) for a in body["advice"]] == [
            ("Paula Plain", "Learn Excel."),
            ("*Star*", "Take the CPA <script>x</script> early."),
        ]
        day, start = body["questions"]
        assert day["question"] == "what is a   typical DAY?"
        assert [a["contact_name"] for a in day["answers"]] == ["Paula Plain", "*Star*"]
        assert start == {
            "question": "How did you start?",
            "answers": [{"interview_id": first["id"], "contact_name": "*Star*", "answer": None}],
        }
        assert [n["text"] for n in body["next_steps"]] == ["Call [Bob](https://evil.example)"]
        assert {d["decision"]: d["interviews"] for d in body["decisions"]} == {
            "undecided": 1,
            "pursue": 1,
            "not_pursue": 0,
        }

    def test_markdown_escapes_what_the_user_typed(self, client: TestClient) -> None:
        user = register(client)
        two_interviews(client, user)
        text = markdown(client, user, "Accounting")
        assert text.startswith("# Career field brief: ")
        assert "\\*Star\\*" in text and "*Star*" not in text.replace("\\*Star\\*", "")
        assert "<script>" not in text
        assert "&lt;script&gt;alert\\(1\\)&lt;/script&gt;" in text
        assert "\\[Bob\\]\\(https://evil.example\\)" in text
        assert "A&amp;B" in text
        assert "_No answer._" in text
        assert "## Questions and answers" in text and "## Next steps" in text

    def test_bounded_to_the_newest(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user)
        for _ in range(briefs.MAX_INTERVIEWS + 2):
            create_interview(client, user, contact_id=contact["id"], career_field="Law")
        body = brief(client, user, "law")
        assert body["interviews_total"] == briefs.MAX_INTERVIEWS + 2
        assert len(body["interviews"]) == briefs.MAX_INTERVIEWS
        assert body["interviews_left_out"] == 2
        assert "2 older left out" in markdown(client, user, "LAW")


class TestRefused:
    def test_a_field_without_interviews_is_404(self, client: TestClient) -> None:
        user = register(client)
        create_interview(client, user, career_field="Nursing")
        r = client.get(API, params={"career_field": "Law"}, headers=user.headers)
        assert_problem(r, 404, "career_field_not_found")
        r = client.get(f"{API}/markdown", params={"career_field": "Law"}, headers=user.headers)
        assert_problem(r, 404, "career_field_not_found")

    def test_another_users_field_is_404(self, client: TestClient) -> None:
        owner, other = register(client), register(client)
        two_interviews(client, owner)
        r = client.get(API, params={"career_field": "Accounting"}, headers=other.headers)
        assert_problem(r, 404, "career_field_not_found")

    def test_bad_parameters(self, client: TestClient) -> None:
        user = register(client)
        for params in ({}, {"career_field": ""}, {"career_field": "x" * 101}):
            assert_problem(client.get(API, params=params, headers=user.headers), 422)
            r = client.get(f"{API}/markdown", params=params, headers=user.headers)
            assert_problem(r, 422)

    def test_a_token_needs_insights_read(self, client: TestClient) -> None:
        user = register(client)
        two_interviews(client, user)
        r = client.post(
            "/api/v1/tokens",
            json={"name": "brief", "scopes": ["interviews:read"]},
            headers=user.headers,
        )
        headers = {"Authorization": f"Bearer {r.json()['token']}"}
        params = {"career_field": "accounting"}
        assert_problem(client.get(API, params=params, headers=headers), 403, "insufficient_scope")
        r = client.get(f"{API}/markdown", params=params, headers=headers)
        assert_problem(r, 403, "insufficient_scope")
