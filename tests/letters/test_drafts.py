"""Letter drafts over POST /api/v1/letters/draft: a draft letter filled from the records.

Each kind is drafted at a point of the workflow where the letter rules allow it; the rules,
references and the job-ask check apply to drafts exactly as to letters typed by hand; a
user's own template is used for their drafts only; a template that turns out to be expensive
with real data is refused quickly. The last test walks one interview from request to
reported-back with every letter drafted, none typed.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.letters.template_schemas import LetterTemplate
from tests.factories import PASSWORD, User, assert_problem, login, register
from tests.factories_contacts import create_contact, create_referral
from tests.factories_interviews import (
    complete_checklist,
    create_interview,
    past,
    transition,
)
from tests.factories_letters import send_letter, set_interview

# 2**60 macro calls, no loop at all.
EXPONENTIAL = (
    "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(60) }}"
)
URL = "/api/v1/letters/draft"

QUESTIONS = [
    {"question": "What does a typical week look like in audit season?", "answer": "Busy."},
    {"question": "Which skills matter most early on?", "answer": "Careful documentation."},
]
ADVICE = "Take the intermediate accounting course first."
NEXT_STEPS = "Enrol in the spring course and read two audit reports."


def register_named(client: TestClient, full_name: str) -> User:
    """A user who gave their name at registration (letters are signed with it)."""
    email = f"named-{uuid.uuid4().hex[:10]}@example.com"
    body = {"email": email, "password": PASSWORD, "full_name": full_name}
    r = client.post("/api/v1/auth/register", json=body)
    assert r.status_code == 201, r.text
    tokens = login(client, email)
    return User(
        id=r.json()["id"],
        email=email,
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )


def draft(client: TestClient, user: User, kind: str, recipient_id: str, **body: Any) -> Any:
    return client.post(
        URL, json={"kind": kind, "recipient_id": recipient_id, **body}, headers=user.headers
    )


def drafted(client: TestClient, user: User, kind: str, recipient_id: str, **body: Any) -> Any:
    r = draft(client, user, kind, recipient_id, **body)
    assert r.status_code == 201, r.text
    return r.json()


def scene(
    client: TestClient, user: User, *, state: str = "request", decision: str | None = None
) -> dict[str, Any]:
    """An interviewee (referred by a friend) and an interview full of data, put in ``state``."""
    interviewee = create_contact(
        client,
        user,
        full_name="Dr. Priya Raman",
        organization="Harbor & Finch LLP",
        title="Audit Senior Manager",
        career_field="accounting",
    )
    referrer = create_contact(client, user, full_name="Sam Ortiz", organization="Lakeside U")
    referral = create_referral(client, user, referrer["id"], interviewee["id"], "faculty")
    interview = create_interview(
        client,
        user,
        contact_id=interviewee["id"],
        referral_id=referral["id"],
        mode="video",
        scheduled_at="2026-11-17T15:00:00Z",
        duration_minutes=25,
        location="https://meet.example/abc",
        questions=QUESTIONS,
        advice=ADVICE,
        next_steps=NEXT_STEPS,
    )
    if state != "request" or decision is not None:
        set_interview(client, interview["id"], state=state, decision=decision)
    return {"interviewee": interviewee, "referrer": referrer, "interview": interview}


class TestDraft:
    def test_a_request_is_filled_from_the_records(self, client: TestClient) -> None:
        user = register_named(client, "Alex Morgan")
        s = scene(client, user)
        r = draft(
            client, user, "request", s["interviewee"]["id"], interview_id=s["interview"]["id"]
        )
        assert r.status_code == 201, r.text
        letter = r.json()
        assert r.headers["location"] == f"/api/v1/letters/{letter['id']}"
        assert r.headers["etag"] == '"1"'
        assert letter["kind"] == "request" and letter["status"] == "draft"
        assert letter["recipient_id"] == s["interviewee"]["id"]
        assert letter["interview_id"] == s["interview"]["id"]
        assert letter["channel"] == "email" and letter["sent_at"] is None
        assert letter["subject"] == "A request for your advice about a career in accounting"
        body = letter["body"]
        assert body.startswith("Dear Dr. Priya Raman,\n")
        for words in (
            "Sam Ortiz suggested",
            "a career in accounting",
            "as Audit Senior Manager at Harbor & Finch LLP",
            "25 minutes to talk with me by video call",
            "Tuesday 17 November 2026, 3:00 p.m. UTC",
            "Alex Morgan",
            user.email,
        ):
            assert words in body, words
        got = client.get(f"/api/v1/letters/{letter['id']}", headers=user.headers)
        assert got.status_code == 200 and got.json() == letter

    def test_every_kind_in_its_place_in_the_workflow(self, client: TestClient) -> None:
        user = register(client)
        # Before the interview: request and follow-up, to the interviewee.
        s = scene(client, user)
        who, iid = s["interviewee"]["id"], s["interview"]["id"]
        follow_up = drafted(client, user, "follow_up", who, interview_id=iid, channel="postal")
        assert follow_up["channel"] == "postal"
        assert follow_up["subject"] == "Following up: a short conversation about accounting"
        assert "at Sam Ortiz's suggestion" in follow_up["body"]

        # Held: the thank-you, the report back to the referrer and an update.
        set_interview(client, iid, state="held")
        thanks = drafted(client, user, "thank_you", who, interview_id=iid)
        for words in (QUESTIONS[0]["question"], QUESTIONS[1]["question"], ADVICE, NEXT_STEPS):
            assert words in thanks["body"]
        held_on = thanks["subject"].removeprefix("Thank you for your time on ")
        assert held_on == f"{datetime.now(UTC).day} {datetime.now(UTC):%B %Y}"
        report = drafted(client, user, "report_back", s["referrer"]["id"], interview_id=iid)
        assert report["subject"] == "Thank you for introducing me to Dr. Priya Raman"
        assert report["body"].startswith("Dear Sam,\n")
        assert "We spoke by video call" in report["body"] and "Priya advised me" in report["body"]
        update = drafted(client, user, "update", who, interview_id=iid)
        assert "you advised me: " + ADVICE in update["body"]
        assert "I am still weighing my options" in update["body"]

        # Thanked, and the user decided to pursue: the feeler may ask about openings.
        set_interview(client, iid, state="thanked", decision="pursue")
        feeler = drafted(client, user, "feeler", who, interview_id=iid)
        assert feeler["subject"] == "Pursuing a career in accounting"
        assert "hear of any openings" in feeler["body"] and "resume" in feeler["body"]

        # Any time, with or without an interview.
        hello = drafted(client, user, "keep_in_touch", s["referrer"]["id"])
        assert hello["interview_id"] is None and hello["subject"] == "Keeping in touch"
        assert hello["body"].startswith("Dear Sam,\n")
        again = drafted(client, user, "keep_in_touch", who, interview_id=iid)
        assert "I am now pursuing a career in accounting" in again["body"]

    def test_letters_to_someone_other_than_the_interviewee_say_so(self, client: TestClient) -> None:
        user = register(client)
        s = scene(client, user, state="thanked", decision="pursue")
        iid, referrer = s["interview"]["id"], s["referrer"]["id"]
        update = drafted(client, user, "update", referrer, interview_id=iid)
        assert update["subject"].startswith("An update since my conversation with Dr. Priya Raman")
        assert "When I spoke with Dr. Priya Raman" in update["body"]
        assert "Priya advised me" in update["body"]
        feeler = drafted(client, user, "feeler", referrer, interview_id=iid)
        assert "Since my conversation with Dr. Priya Raman" in feeler["body"]

    def test_sparse_records_still_make_a_courteous_letter(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user, full_name="Jo")
        interview = create_interview(client, user, contact_id=contact["id"], mode="phone")
        letter = drafted(client, user, "request", contact["id"], interview_id=interview["id"])
        assert letter["subject"] == "A request for a short conversation about your work"
        assert "None" not in letter["body"] and "Dear Jo," in letter["body"]
        assert "20 minutes to talk with me by phone?" in letter["body"]


class TestRules:
    def test_the_letter_rules_apply_to_drafts(self, client: TestClient) -> None:
        user = register(client)
        s = scene(client, user)
        who, iid, referrer = s["interviewee"]["id"], s["interview"]["id"], s["referrer"]["id"]
        other = create_contact(client, user)["id"]
        cases = [
            ("thank_you", who, {}, 422, "interview_required"),
            ("thank_you", who, {"interview_id": iid}, 409, "interview_not_held"),
            ("report_back", referrer, {"interview_id": iid}, 409, "interview_not_held"),
            ("report_back", other, {"interview_id": iid}, 422, "not_a_referrer"),
            ("request", other, {"interview_id": iid}, 422, "wrong_recipient"),
            ("feeler", who, {"interview_id": iid}, 409, "feeler_not_allowed"),
        ]
        for kind, recipient, extra, status, code in cases:
            assert_problem(draft(client, user, kind, recipient, **extra), status, code)
        set_interview(client, iid, state="thanked", decision="undecided")
        body = assert_problem(draft(client, user, "feeler", who, interview_id=iid), 409)
        assert body["missing"] == ["decision_pursue"]
        listed = client.get("/api/v1/letters", headers=user.headers).json()["data"]
        assert listed == []

    def test_bad_bodies_are_422s(self, client: TestClient) -> None:
        user = register(client)
        who = create_contact(client, user)["id"]
        for body in (
            {"kind": "sonnet", "recipient_id": who},
            {"kind": "keep_in_touch"},
            {"kind": "keep_in_touch", "recipient_id": "nope"},
            {"kind": "keep_in_touch", "recipient_id": who, "body": "typed by hand"},
            {"kind": "keep_in_touch", "recipient_id": who, "channel": "fax"},
        ):
            assert_problem(
                client.post(URL, json=body, headers=user.headers), 422, "validation_error"
            )
        assert_problem(client.post(URL, json={"kind": "keep_in_touch", "recipient_id": who}), 401)

    def test_another_users_records_are_invalid_references(self, client: TestClient) -> None:
        alice, bob = register(client), register(client)
        theirs = scene(client, bob, state="held")
        mine = create_contact(client, alice)["id"]
        r = draft(client, alice, "keep_in_touch", theirs["interviewee"]["id"])
        body = assert_problem(r, 422, "invalid_reference")
        assert body["errors"][0]["loc"] == ["body", "recipient_id"]
        r = draft(client, alice, "keep_in_touch", mine, interview_id=theirs["interview"]["id"])
        body = assert_problem(r, 422, "invalid_reference")
        assert body["errors"][0]["loc"] == ["body", "interview_id"]
        r = draft(client, alice, "keep_in_touch", str(uuid.uuid4()))
        assert_problem(r, 422, "invalid_reference")


class TestCustomTemplates:
    def test_a_users_template_drafts_their_letters_only(self, client: TestClient) -> None:
        alice, bob = register(client), register(client)
        source = (
            "Subject: Thanks, {{ contact.first_name }}!\n\n"
            "Hi {{ contact.first_name }},\n\n"
            "{% for q in interview.discussed %}* {{ q.question }} -> {{ q.answer }}\n{% endfor %}"
            "\nCheers,\n{{ user.email }}\n"
        )
        r = client.put(
            "/api/v1/templates/thank_you", json={"source": source}, headers=alice.headers
        )
        assert r.status_code == 201, r.text
        mine = scene(client, alice, state="held")
        letter = drafted(
            client,
            alice,
            "thank_you",
            mine["interviewee"]["id"],
            interview_id=mine["interview"]["id"],
        )
        assert letter["subject"] == "Thanks, Priya!"
        assert letter["body"] == (
            "Hi Priya,\n\n"
            f"* {QUESTIONS[0]['question']} -> Busy.\n"
            f"* {QUESTIONS[1]['question']} -> Careful documentation.\n"
            f"Cheers,\n{alice.email}\n"  # trim_blocks: the newline after a block tag goes
        )
        theirs = scene(client, bob, state="held")
        letter = drafted(
            client,
            bob,
            "thank_you",
            theirs["interviewee"]["id"],
            interview_id=theirs["interview"]["id"],
        )
        assert letter["subject"].startswith("Thank you for your time")
        # Back to ours once Alice deletes hers.
        client.delete("/api/v1/templates/thank_you", headers=alice.headers)
        letter = drafted(
            client,
            alice,
            "thank_you",
            mine["interviewee"]["id"],
            interview_id=mine["interview"]["id"],
        )
        assert letter["subject"].startswith("Thank you for your time")

    def test_a_template_without_a_subject_line_and_a_long_subject(self, client: TestClient) -> None:
        user = register(client)
        put = client.put(
            "/api/v1/templates/keep_in_touch",
            json={"source": "Hello {{ contact.first_name }}!\n"},
            headers=user.headers,
        )
        assert put.status_code == 201, put.text
        contact = create_contact(client, user, full_name="Kim Lee", organization="O" * 200)
        letter = drafted(client, user, "keep_in_touch", contact["id"])
        assert letter["subject"] is None and letter["body"] == "Hello Kim!\n"
        source = "Subject: {{ contact.organization }} {{ contact.organization }}\n\nHi\n"
        client.put("/api/v1/templates/keep_in_touch", json={"source": source}, headers=user.headers)
        letter = drafted(client, user, "keep_in_touch", contact["id"])
        assert len(letter["subject"]) <= 300 and letter["subject"].endswith("…")

    def _store(self, client: TestClient, user: User, kind: str, source: str) -> None:
        """Write a template straight into the table, as if saved before today's checks."""
        app: Any = client.app
        with Session(app.state.engine) as session:
            session.add(LetterTemplate(owner_id=uuid.UUID(user.id), kind=kind, source=source))
            session.commit()

    def test_drafts_pass_the_job_ask_check(self, client: TestClient) -> None:
        user = register(client)
        self._store(client, user, "keep_in_touch", "Hi {{ contact.first_name }}, please hire me.\n")
        contact = create_contact(client, user)
        body = assert_problem(draft(client, user, "keep_in_touch", contact["id"]), 422, "job_ask")
        assert body["phrase"] == "hire me"

    @pytest.mark.parametrize(
        "source",
        [
            "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
            "{% for i in range(10000) %}{{ contact.full_name * 100 }}{% endfor %}",
            EXPONENTIAL,
        ],
    )
    def test_an_expensive_template_never_hangs_a_draft(
        self, client: TestClient, source: str
    ) -> None:
        user = register(client)
        self._store(client, user, "keep_in_touch", source)
        contact = create_contact(client, user)
        started = time.monotonic()
        r = draft(client, user, "keep_in_touch", contact["id"])
        assert time.monotonic() - started < 10
        body = assert_problem(r, 422, "template_too_expensive")
        assert body["detail"].startswith("Drafting from your template failed")

    def test_a_template_that_fails_with_real_data_names_its_line(self, client: TestClient) -> None:
        user = register(client)
        self._store(client, user, "keep_in_touch", "Hi\n\n{{ interview.advice }}\n")
        contact = create_contact(client, user)
        body = assert_problem(
            draft(client, user, "keep_in_touch", contact["id"]), 422, "invalid_template"
        )
        assert body["line"] == 3


def test_from_request_to_reported_back_without_typing_a_letter(client: TestClient) -> None:
    """Every letter of one interview drafted from the records, sent, and the workflow moved."""
    user = register(client)
    s = scene(client, user)
    who, iid, referrer = s["interviewee"]["id"], s["interview"]["id"], s["referrer"]["id"]
    r = client.patch(
        f"/api/v1/interviews/{iid}", json={"scheduled_at": past(2)}, headers=user.headers
    )
    assert r.status_code == 200, r.text

    send_letter(client, user, drafted(client, user, "request", who, interview_id=iid)["id"])
    complete_checklist(client, user, iid)
    for to in ("prepared", "held"):
        assert transition(client, user, iid, to).status_code == 200
    send_letter(client, user, drafted(client, user, "thank_you", who, interview_id=iid)["id"])
    assert transition(client, user, iid, "thanked").status_code == 200
    send_letter(
        client, user, drafted(client, user, "report_back", referrer, interview_id=iid)["id"]
    )
    r = transition(client, user, iid, "reported-back")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "reported-back"
    letters = client.get("/api/v1/letters", params={"interview_id": iid}, headers=user.headers)
    assert sorted(x["kind"] for x in letters.json()["data"]) == [
        "report_back",
        "request",
        "thank_you",
    ]
    assert all(x["status"] == "sent" for x in letters.json()["data"])
