"""Letters over /api/v1/letters: the resource, sending, immutability and the letter rules."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.kit.errors import Conflict
from app.letters import service as letters_service
from app.letters.schemas import Letter, LetterUpdate
from tests.factories import User, assert_problem, register
from tests.factories_letters import (
    DEFAULT_BODY,
    create_letter,
    make_contact,
    make_interview,
    make_referral,
    send_letter,
    set_interview,
)

URL = "/api/v1/letters"
NEEDS_INTERVIEW = ["request", "follow_up", "thank_you", "report_back", "update", "feeler"]


def post(client: TestClient, user: User, **body: Any) -> Any:
    body.setdefault("body", DEFAULT_BODY)
    return client.post(URL, json=body, headers=user.headers)


def listed_ids(client: TestClient, user: User, **params: Any) -> list[str]:
    r = client.get(URL, params={"limit": 100, **params}, headers=user.headers)
    assert r.status_code == 200, r.text
    return [letter["id"] for letter in r.json()["data"]]


class TestCreate:
    def test_a_new_letter_is_a_draft_with_defaults(self, client: TestClient) -> None:
        user = register(client)
        contact = make_contact(client, user)
        r = post(client, user, kind="keep_in_touch", recipient_id=contact["id"], subject="Hello")
        assert r.status_code == 201, r.text
        letter = r.json()
        assert r.headers["location"] == f"{URL}/{letter['id']}"
        assert r.headers["etag"] == '"1"'
        assert uuid.UUID(letter["id"]).version == 7
        assert letter["kind"] == "keep_in_touch"
        assert letter["recipient_id"] == contact["id"]
        assert letter["interview_id"] is None
        assert letter["channel"] == "email"
        assert letter["subject"] == "Hello"
        assert letter["body"] == DEFAULT_BODY
        assert letter["status"] == "draft"
        assert letter["sent_at"] is None
        assert letter["external_id"] is None and letter["source"] is None
        assert letter["created_at"].endswith("Z") and letter["updated_at"].endswith("Z")

        got = client.get(f"{URL}/{letter['id']}", headers=user.headers)
        assert got.status_code == 200
        assert got.json() == letter
        assert got.headers["etag"] == '"1"'

    def test_bad_input_is_a_422_and_writes_nothing(self, client: TestClient) -> None:
        user = register(client)
        recipient = make_contact(client, user)["id"]
        good = {"kind": "keep_in_touch", "recipient_id": recipient, "body": "Hi"}
        bad_bodies: list[dict[str, Any]] = [
            {**good, "kind": "love_letter"},
            {**good, "channel": "carrier_pigeon"},
            {**good, "colour": "blue"},
            {**good, "status": "sent"},
            {**good, "sent_at": "2026-01-01T00:00:00Z"},
            {**good, "id": str(uuid.uuid4())},
            {**good, "recipient_id": "not-a-uuid"},
            {**good, "interview_id": "12345"},
            {**good, "subject": "x" * 301},
            {**good, "body": "x" * 50001},
            {**good, "external_id": "abc"},
            {**good, "source": "crm"},
            {**good, "external_id": "", "source": "crm"},
            {**good, "kind": None},
            {k: v for k, v in good.items() if k != "kind"},
            {k: v for k, v in good.items() if k != "recipient_id"},
        ]
        for body in bad_bodies:
            r = client.post(URL, json=body, headers=user.headers)
            problem = assert_problem(r, 422, "validation_error")
            assert problem["errors"], body
        r = client.post(
            URL, content=b"{not json", headers={**user.headers, "content-type": "application/json"}
        )
        assert_problem(r, 422)
        assert listed_ids(client, user) == []

    def test_limits_are_inclusive(self, client: TestClient) -> None:
        user = register(client)
        letter = create_letter(client, user, subject="s" * 300, body="b " * 25000, channel="postal")
        assert len(letter["subject"]) == 300 and len(letter["body"]) == 50000
        assert letter["channel"] == "postal"

    def test_references_must_be_the_callers_own(self, client: TestClient) -> None:
        user, other = register(client), register(client)
        mine = make_contact(client, user)["id"]
        theirs = make_contact(client, other)["id"]
        their_interview = make_interview(client, other, theirs)["id"]

        r = post(client, user, kind="keep_in_touch", recipient_id=theirs)
        problem = assert_problem(r, 422, "invalid_reference")
        assert problem["errors"][0]["loc"] == ["body", "recipient_id"]
        r = post(client, user, kind="keep_in_touch", recipient_id=str(uuid.uuid4()))
        assert_problem(r, 422, "invalid_reference")
        r = post(
            client, user, kind="keep_in_touch", recipient_id=mine, interview_id=their_interview
        )
        problem = assert_problem(r, 422, "invalid_reference")
        assert problem["errors"][0]["loc"] == ["body", "interview_id"]
        assert listed_ids(client, user) == []

    def test_external_id_is_unique_per_user_and_source(self, client: TestClient) -> None:
        user, other = register(client), register(client)
        first = create_letter(client, user, external_id="m-1", source="crm")
        assert (first["external_id"], first["source"]) == ("m-1", "crm")
        r = post(
            client,
            user,
            kind="keep_in_touch",
            recipient_id=first["recipient_id"],
            external_id="m-1",
            source="crm",
        )
        assert_problem(r, 409, "external_id_taken")
        create_letter(client, user, external_id="m-1", source="mailer")  # another source
        create_letter(client, other, external_id="m-1", source="crm")  # another user


class TestRules:
    def test_every_kind_but_keep_in_touch_needs_an_interview(self, client: TestClient) -> None:
        user = register(client)
        interview = make_interview(client, user)
        contact = interview["contact_id"]
        for kind in NEEDS_INTERVIEW:
            r = post(client, user, kind=kind, recipient_id=contact)
            problem = assert_problem(r, 422, "interview_required")
            assert problem["errors"][0]["code"] == "interview_required"
        create_letter(client, user, kind="keep_in_touch", recipient_id=contact)
        create_letter(
            client, user, kind="keep_in_touch", recipient_id=contact, interview_id=interview["id"]
        )
        assert len(listed_ids(client, user)) == 2

    def test_request_follow_up_and_thank_you_go_to_the_interviewee(
        self, client: TestClient
    ) -> None:
        user = register(client)
        interview = make_interview(client, user)
        stranger = make_contact(client, user)["id"]
        for kind in ["request", "follow_up"]:
            r = post(client, user, kind=kind, recipient_id=stranger, interview_id=interview["id"])
            problem = assert_problem(r, 422, "wrong_recipient")
            assert interview["contact_id"] in problem["detail"]
            create_letter(
                client,
                user,
                kind=kind,
                recipient_id=interview["contact_id"],
                interview_id=interview["id"],
            )
        set_interview(client, interview["id"], state="held")
        r = post(
            client, user, kind="thank_you", recipient_id=stranger, interview_id=interview["id"]
        )
        assert_problem(r, 422, "wrong_recipient")
        create_letter(
            client,
            user,
            kind="thank_you",
            recipient_id=interview["contact_id"],
            interview_id=interview["id"],
        )

    def test_report_back_goes_to_a_referrer_of_the_interviewee(self, client: TestClient) -> None:
        user = register(client)
        interview = make_interview(client, user, state="held")
        interviewee = interview["contact_id"]
        referrer = make_contact(client, user)["id"]
        someone_else = make_contact(client, user)["id"]
        # A referral, but for another person: the referrer did not lead to this interviewee.
        make_referral(client, user, referrer, someone_else)

        def report(to: str) -> Any:
            return post(
                client, user, kind="report_back", recipient_id=to, interview_id=interview["id"]
            )

        assert_problem(report(referrer), 422, "not_a_referrer")
        assert_problem(report(interviewee), 422, "not_a_referrer")
        make_referral(client, user, referrer, interviewee)
        assert report(referrer).status_code == 201

    def test_thanks_reports_and_updates_wait_until_held(self, client: TestClient) -> None:
        user = register(client)
        interview = make_interview(client, user)
        interviewee = interview["contact_id"]
        referrer = make_contact(client, user)["id"]
        make_referral(client, user, referrer, interviewee)
        to = {"thank_you": interviewee, "report_back": referrer, "update": interviewee}
        for state in ["request", "prepared", "cancelled"]:
            set_interview(client, interview["id"], state=state)
            for kind, recipient in to.items():
                r = post(
                    client, user, kind=kind, recipient_id=recipient, interview_id=interview["id"]
                )
                problem = assert_problem(r, 409, "interview_not_held")
                assert state in problem["detail"]
                assert problem["missing"] == ["held"]
        for state in ["held", "thanked", "reported-back"]:
            set_interview(client, interview["id"], state=state)
            for kind, recipient in to.items():
                create_letter(
                    client, user, kind=kind, recipient_id=recipient, interview_id=interview["id"]
                )

    def test_a_feeler_needs_thanked_and_the_decision_to_pursue(self, client: TestClient) -> None:
        user = register(client)
        interview = make_interview(client, user)
        body = {"kind": "feeler", "recipient_id": interview["contact_id"]}
        cases = [
            ("held", "pursue", ["thanked"]),
            ("thanked", "undecided", ["decision_pursue"]),
            ("reported-back", "not_pursue", ["decision_pursue"]),
            ("request", "not_pursue", ["thanked", "decision_pursue"]),
        ]
        for state, decision, missing in cases:
            set_interview(client, interview["id"], state=state, decision=decision)
            r = post(client, user, **body, interview_id=interview["id"])
            problem = assert_problem(r, 409, "feeler_not_allowed")
            assert problem["missing"] == missing, (state, decision)
            assert problem["errors"] == [
                {"code": "feeler_not_allowed", "message": problem["detail"], "missing": missing}
            ]
        for state in ["thanked", "reported-back"]:
            set_interview(client, interview["id"], state=state, decision="pursue")
            create_letter(client, user, **body, interview_id=interview["id"])

    def test_a_refusal_names_every_broken_rule(self, client: TestClient) -> None:
        user = register(client)
        interview = make_interview(client, user)
        stranger = make_contact(client, user)["id"]
        r = post(
            client, user, kind="thank_you", recipient_id=stranger, interview_id=interview["id"]
        )
        problem = assert_problem(r, 422, "wrong_recipient")  # the letter's own fault first
        assert [e["code"] for e in problem["errors"]] == ["wrong_recipient", "interview_not_held"]


class TestUpdate:
    def test_patch_changes_only_the_given_fields(self, client: TestClient) -> None:
        user = register(client)
        letter = create_letter(client, user, subject="Hello")
        r = client.patch(
            f"{URL}/{letter['id']}",
            json={"body": "A better body.", "channel": "postal"},
            headers=user.headers,
        )
        assert r.status_code == 200, r.text
        assert r.headers["etag"] == '"2"'
        changed = r.json()
        assert changed["body"] == "A better body." and changed["channel"] == "postal"
        assert changed["subject"] == "Hello" and changed["kind"] == letter["kind"]
        assert changed["updated_at"] > letter["updated_at"]
        assert changed["created_at"] == letter["created_at"]
        r = client.patch(f"{URL}/{letter['id']}", json={"subject": None}, headers=user.headers)
        assert r.status_code == 200 and r.json()["subject"] is None
        assert client.get(f"{URL}/{letter['id']}", headers=user.headers).headers["etag"] == '"3"'

    def test_bad_patches_are_422s(self, client: TestClient) -> None:
        user = register(client)
        letter = create_letter(client, user)
        for body in [
            {"kind": None},
            {"body": None},
            {"recipient_id": None},
            {"channel": None},
            {"kind": "memo"},
            {"status": "sent"},
            {"sent_at": "2026-01-01T00:00:00Z"},
            {"nickname": "x"},
            {"subject": "x" * 301},
            {"interview_id": "nope"},
        ]:
            r = client.patch(f"{URL}/{letter['id']}", json=body, headers=user.headers)
            assert_problem(r, 422, "validation_error")
        got = client.get(f"{URL}/{letter['id']}", headers=user.headers)
        assert got.headers["etag"] == '"1"'

    def test_rules_hold_for_the_letter_as_it_would_become(self, client: TestClient) -> None:
        user, other = register(client), register(client)
        interview = make_interview(client, user)
        letter = create_letter(client, user, recipient_id=interview["contact_id"])
        url = f"{URL}/{letter['id']}"
        assert_problem(
            client.patch(url, json={"kind": "request"}, headers=user.headers),
            422,
            "interview_required",
        )
        r = client.patch(
            url, json={"kind": "request", "interview_id": interview["id"]}, headers=user.headers
        )
        assert r.status_code == 200, r.text
        assert_problem(
            client.patch(url, json={"interview_id": None}, headers=user.headers),
            422,
            "interview_required",
        )
        stranger = make_contact(client, user)["id"]
        assert_problem(
            client.patch(url, json={"recipient_id": stranger}, headers=user.headers),
            422,
            "wrong_recipient",
        )
        theirs = make_contact(client, other)["id"]
        assert_problem(
            client.patch(url, json={"recipient_id": theirs}, headers=user.headers),
            422,
            "invalid_reference",
        )
        assert_problem(
            client.patch(url, json={"kind": "thank_you"}, headers=user.headers),
            409,
            "interview_not_held",
        )
        got = client.get(url, headers=user.headers).json()
        assert (got["kind"], got["interview_id"]) == ("request", interview["id"])

    def test_external_id_on_update(self, client: TestClient) -> None:
        user = register(client)
        create_letter(client, user, external_id="x-1", source="crm")
        letter = create_letter(client, user)
        url = f"{URL}/{letter['id']}"
        problem = assert_problem(
            client.patch(url, json={"source": "crm"}, headers=user.headers), 422, "validation_error"
        )
        assert problem["errors"][0]["loc"] == ["body", "external_id"]
        assert_problem(
            client.patch(url, json={"source": "crm", "external_id": "x-1"}, headers=user.headers),
            409,
            "external_id_taken",
        )
        r = client.patch(url, json={"source": "crm", "external_id": "x-2"}, headers=user.headers)
        assert r.status_code == 200
        r = client.patch(url, json={"source": None, "external_id": None}, headers=user.headers)
        assert r.status_code == 200 and r.json()["source"] is None

    def test_if_match(self, client: TestClient) -> None:
        user = register(client)
        letter = create_letter(client, user)
        url = f"{URL}/{letter['id']}"
        r = client.patch(url, json={"body": "v2"}, headers={**user.headers, "If-Match": '"1"'})
        assert r.status_code == 200 and r.headers["etag"] == '"2"'
        stale = client.patch(url, json={"body": "v3"}, headers={**user.headers, "If-Match": '"1"'})
        assert_problem(stale, 412, "etag_mismatch")
        r = client.patch(url, json={"body": "v3"}, headers={**user.headers, "If-Match": "*"})
        assert r.status_code == 200 and r.json()["body"] == "v3"


class TestDelete:
    def test_delete_a_draft(self, client: TestClient) -> None:
        user = register(client)
        letter = create_letter(client, user)
        url = f"{URL}/{letter['id']}"
        assert_problem(client.delete(url, headers={**user.headers, "If-Match": '"7"'}), 412)
        r = client.delete(url, headers={**user.headers, "If-Match": '"1"'})
        assert r.status_code == 204 and r.content == b""
        assert_problem(client.get(url, headers=user.headers), 404, "letter_not_found")
        assert_problem(client.delete(url, headers=user.headers), 404, "letter_not_found")


class TestSend:
    def test_sending_stamps_the_letter_and_the_recipient(self, client: TestClient) -> None:
        user = register(client)
        letter = create_letter(client, user)
        r = client.post(f"{URL}/{letter['id']}/send", headers=user.headers)
        assert r.status_code == 200, r.text
        assert r.headers["etag"] == '"2"'
        sent = r.json()
        assert sent["status"] == "sent" and sent["sent_at"] is not None
        assert sent["body"] == letter["body"]
        contact = client.get(f"/api/v1/contacts/{letter['recipient_id']}", headers=user.headers)
        assert contact.status_code == 200, contact.text
        assert contact.json()["last_contacted_at"] == sent["sent_at"]
        assert listed_ids(client, user, status="sent") == [letter["id"]]

    def test_a_sent_letter_never_changes(self, client: TestClient) -> None:
        user = register(client)
        letter = send_letter(client, user, create_letter(client, user)["id"])
        url = f"{URL}/{letter['id']}"
        assert_problem(client.post(f"{url}/send", headers=user.headers), 409, "letter_already_sent")
        assert_problem(
            client.patch(url, json={"body": "x"}, headers=user.headers), 409, "letter_sent"
        )
        assert_problem(client.delete(url, headers=user.headers), 409, "letter_sent")
        with_tag = {**user.headers, "If-Match": '"2"'}
        assert_problem(client.patch(url, json={"body": "x"}, headers=with_tag), 409, "letter_sent")
        assert_problem(client.delete(url, headers=with_tag), 409, "letter_sent")
        got = client.get(url, headers=user.headers)
        assert got.json() == letter and got.headers["etag"] == '"2"'

    def test_send_honours_if_match(self, client: TestClient) -> None:
        user = register(client)
        letter = create_letter(client, user)
        url = f"{URL}/{letter['id']}/send"
        assert_problem(
            client.post(url, headers={**user.headers, "If-Match": '"0"'}), 412, "etag_mismatch"
        )
        assert client.get(f"{URL}/{letter['id']}", headers=user.headers).json()["status"] == "draft"
        r = client.post(url, headers={**user.headers, "If-Match": '"1"'})
        assert r.status_code == 200 and r.headers["etag"] == '"2"'

    def test_the_rules_are_checked_again_on_send(self, client: TestClient) -> None:
        user = register(client)
        interview = make_interview(client, user, state="thanked", decision="pursue")
        feeler = create_letter(
            client,
            user,
            kind="feeler",
            recipient_id=interview["contact_id"],
            interview_id=interview["id"],
        )
        referrer = make_contact(client, user)["id"]
        referral = make_referral(client, user, referrer, interview["contact_id"])
        report = create_letter(
            client, user, kind="report_back", recipient_id=referrer, interview_id=interview["id"]
        )
        set_interview(client, interview["id"], decision="undecided")
        problem = assert_problem(
            client.post(f"{URL}/{feeler['id']}/send", headers=user.headers),
            409,
            "feeler_not_allowed",
        )
        assert problem["missing"] == ["decision_pursue"]
        r = client.delete(f"/api/v1/referrals/{referral['id']}", headers=user.headers)
        assert r.status_code == 204, r.text
        assert_problem(
            client.post(f"{URL}/{report['id']}/send", headers=user.headers), 422, "not_a_referrer"
        )
        assert listed_ids(client, user, status="sent") == []

    def test_an_edit_racing_a_send_cannot_land(self, client: TestClient) -> None:
        # The editor read the draft before it was sent; its compare-and-set write must fail.
        user = register(client)
        letter = create_letter(client, user)
        engine = client.app.state.engine  # type: ignore[attr-defined]
        with Session(engine, expire_on_commit=False) as editor:
            owner = uuid.UUID(user.id)
            stale = letters_service.get(editor, owner, uuid.UUID(letter["id"]))
            assert stale.status == "draft"
            send_letter(client, user, letter["id"])
            with pytest.raises(Conflict) as refused:
                letters_service.update_letter(
                    editor, owner, stale.id, LetterUpdate(body="too late")
                )
            assert refused.value.code == "letter_sent"
        got = client.get(f"{URL}/{letter['id']}", headers=user.headers).json()
        assert got["status"] == "sent" and got["body"] == letter["body"]

    def test_the_job_ask_check_runs_on_send(self, client: TestClient) -> None:
        # A draft written before the phrase was listed: stored as it was, refused when sent.
        user = register(client)
        contact = make_contact(client, user)
        with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
            letter = Letter(
                owner_id=uuid.UUID(user.id),
                kind="keep_in_touch",
                recipient_id=uuid.UUID(contact["id"]),
                body="By the way, are you hiring?",
            )
            session.add(letter)
            session.commit()
            letter_id = str(letter.id)
        problem = assert_problem(
            client.post(f"{URL}/{letter_id}/send", headers=user.headers), 422, "job_ask"
        )
        assert problem["phrase"] == "are you hiring"


class TestList:
    def test_pages_run_newest_first_without_overlap(self, client: TestClient) -> None:
        user = register(client)
        recipient = make_contact(client, user)["id"]
        created = [create_letter(client, user, recipient_id=recipient)["id"] for _ in range(5)]
        seen: list[str] = []
        cursor = None
        pages = []
        while True:
            params: dict[str, Any] = {"limit": 2}
            if cursor:
                params["cursor"] = cursor
            r = client.get(URL, params=params, headers=user.headers)
            assert r.status_code == 200, r.text
            page = r.json()
            pages.append(len(page["data"]))
            seen += [letter["id"] for letter in page["data"]]
            cursor = page["next_cursor"]
            assert page["has_more"] == (cursor is not None)
            if not page["has_more"]:
                break
        assert pages == [2, 2, 1]
        assert seen == list(reversed(created))
        r = client.get(URL, headers=user.headers)
        assert len(r.json()["data"]) == 5 and r.json()["has_more"] is False

    def test_filters(self, client: TestClient) -> None:
        user = register(client)
        interview = make_interview(client, user)
        interviewee = interview["contact_id"]
        request = create_letter(
            client, user, kind="request", recipient_id=interviewee, interview_id=interview["id"]
        )
        other = create_letter(client, user, external_id="e-1", source="crm")
        sent = send_letter(
            client, user, create_letter(client, user, recipient_id=interviewee)["id"]
        )
        assert listed_ids(client, user, kind="request") == [request["id"]]
        assert listed_ids(client, user, kind="keep_in_touch") == [sent["id"], other["id"]]
        assert listed_ids(client, user, status="sent") == [sent["id"]]
        assert listed_ids(client, user, status="draft") == [other["id"], request["id"]]
        assert listed_ids(client, user, interview_id=interview["id"]) == [request["id"]]
        assert listed_ids(client, user, recipient_id=interviewee) == [sent["id"], request["id"]]
        assert listed_ids(client, user, source="crm") == [other["id"]]
        assert listed_ids(client, user, source="crm", external_id="e-1") == [other["id"]]
        assert listed_ids(client, user, external_id="e-2") == []
        assert listed_ids(client, user, kind="feeler", status="sent") == []

    def test_bad_list_parameters_are_422s(self, client: TestClient) -> None:
        user = register(client)
        for params in [
            {"kind": "memo"},
            {"status": "posted"},
            {"interview_id": "abc"},
            {"recipient_id": "1"},
            {"limit": 0},
            {"limit": 101},
            {"limit": "ten"},
        ]:
            assert_problem(client.get(URL, params=params, headers=user.headers), 422)
        problem = assert_problem(
            client.get(URL, params={"cursor": "!!not-a-cursor!!"}, headers=user.headers), 422
        )
        assert problem["code"] == "invalid_cursor"


class TestIsolation:
    def test_another_users_letter_is_not_found_on_every_method(self, client: TestClient) -> None:
        owner, intruder = register(client), register(client)
        letter = create_letter(client, owner)
        url = f"{URL}/{letter['id']}"
        for method, path, body in [
            ("GET", url, None),
            ("PATCH", url, {"body": "mine now"}),
            ("DELETE", url, None),
            ("POST", f"{url}/send", None),
        ]:
            r = client.request(method, path, json=body, headers=intruder.headers)
            assert_problem(r, 404, "letter_not_found")
        assert listed_ids(client, intruder) == []
        assert listed_ids(client, intruder, recipient_id=letter["recipient_id"]) == []
        got = client.get(url, headers=owner.headers)
        assert got.json() == letter and got.headers["etag"] == '"1"'

    def test_malformed_and_unknown_ids(self, client: TestClient) -> None:
        user = register(client)
        for method, path in [
            ("GET", f"{URL}/42"),
            ("PATCH", f"{URL}/not-a-uuid"),
            ("DELETE", f"{URL}/xyz"),
            ("POST", f"{URL}/1/send"),
        ]:
            body = {"body": "x"} if method == "PATCH" else None
            assert_problem(client.request(method, path, json=body, headers=user.headers), 422)
        unknown = f"{URL}/{uuid.uuid4()}"
        assert_problem(client.get(unknown, headers=user.headers), 404, "letter_not_found")
        assert_problem(client.post(f"{unknown}/send", headers=user.headers), 404)

    def test_every_operation_needs_a_token(self, client: TestClient) -> None:
        some_id = uuid.uuid4()
        for method, path in [
            ("GET", URL),
            ("POST", URL),
            ("GET", f"{URL}/{some_id}"),
            ("PATCH", f"{URL}/{some_id}"),
            ("DELETE", f"{URL}/{some_id}"),
            ("POST", f"{URL}/{some_id}/send"),
        ]:
            r = client.request(method, path, json={} if method in {"POST", "PATCH"} else None)
            assert_problem(r, 401)
