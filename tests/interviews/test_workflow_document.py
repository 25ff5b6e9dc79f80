"""GET /api/v1/workflow: the interview workflow as data, and the refusals it documents.

The document is checked against the API itself: a real interview is walked through every
state, and at each one the moves the transitions endpoint offers, the moves it accepts and
every code a refused move answers must be the ones the document lists.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from app.cli import render_openapi
from app.vocabulary import InterviewState
from tests.factories import User, assert_problem, register
from tests.factories_interviews import (
    complete_checklist,
    create_contact,
    create_interview,
    create_referral,
    future,
    past,
    send,
    transition,
)

URL = "/api/v1/workflow"
API = "/api/v1/interviews"


def workflow(client: TestClient, user: User) -> dict[str, Any]:
    r = client.get(URL, headers=user.headers)
    assert r.status_code == 200, r.text
    document: dict[str, Any] = r.json()
    return document


def moves_from(document: dict[str, Any], state: str) -> dict[str, dict[str, Any]]:
    return {m["to_state"]: m for m in document["moves"] if m["from_state"] == state}


def every_code(document: dict[str, Any]) -> set[str]:
    return {c["code"] for m in document["moves"] for c in m["checks"]} | {
        c["code"] for c in document["any_move"]
    }


class Walk:
    """An interview walked through the API, checking each state against the document."""

    def __init__(self, client: TestClient, user: User, document: dict[str, Any], iid: str):
        self.client, self.user, self.document, self.iid = client, user, document, iid
        self.seen: set[str] = set()

    def offered(self, state: str) -> None:
        """The transitions endpoint offers exactly the document's moves from ``state``."""
        r = self.client.get(f"{API}/{self.iid}/transitions", headers=self.user.headers)
        assert r.status_code == 200, r.text
        moves = moves_from(self.document, state)
        assert [o["to"] for o in r.json()] == list(moves)
        for option in r.json():
            assert option["required_fields"] == moves[option["to"]]["required_fields"]
            documented = {c["code"] for c in moves[option["to"]]["checks"]}
            assert {u["code"] for u in option["unmet"]} <= documented

    def refused(self, state: str, to: str, **body: Any) -> list[str]:
        """A refused move: every code it answers is documented for it, in its own words."""
        problem = assert_problem(
            transition(self.client, self.user, self.iid, to, **body), 409, "transition_refused"
        )
        assert problem["current_state"] == state
        assert problem["allowed_transitions"] == list(moves_from(self.document, state))
        move = moves_from(self.document, state).get(to)
        checks = {c["code"]: c["message"] for c in (move["checks"] if move else [])}
        checks |= {c["code"]: c["message"] for c in self.document["any_move"]}
        codes = [e["code"] for e in problem["errors"]]
        for error in problem["errors"]:
            assert error["code"] in checks, (state, to, error)
            sentence = checks[error["code"]]
            if error["code"] == "checklist_incomplete":  # the sentence, naming the items
                assert error["message"].startswith(sentence.removesuffix("."))
            elif error["code"] != "invalid_transition":  # names the two states
                assert error["message"] == sentence
        self.seen.update(codes)
        return codes

    def moves(self, state: str, to: str, **body: Any) -> None:
        assert to in moves_from(self.document, state)
        r = transition(self.client, self.user, self.iid, to, **body)
        assert r.status_code == 200, r.text
        assert r.json()["state"] == to


class TestDocument:
    def test_states_moves_and_caching(self, client: TestClient) -> None:
        user = register(client)
        r = client.get(URL, headers=user.headers)
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "public, max-age=3600"
        document = r.json()
        assert document["initial_state"] == "request"
        assert [s["state"] for s in document["states"]] == [s.value for s in InterviewState]
        assert all(s["description"] for s in document["states"])
        final = {s["state"] for s in document["states"] if s["final"]}
        assert final == {"reported-back", "cancelled"}
        assert {m["from_state"] for m in document["moves"]}.isdisjoint(final)
        assert all(c["message"] for m in document["moves"] for c in m["checks"])
        assert [i["item"] for i in document["checklist"]] == [
            "research",
            "website",
            "self_assessment",
            "opening_statement",
            "attire",
        ]

        etag = r.headers["etag"]
        again = client.get(URL, headers={**user.headers, "If-None-Match": etag})
        assert again.status_code == 304
        assert again.headers["etag"] == etag
        assert again.content == b""
        other = register(client)
        assert client.get(URL, headers=other.headers).headers["etag"] == etag
        stale = client.get(URL, headers={**user.headers, "If-None-Match": '"stale"'})
        assert stale.status_code == 200
        assert stale.json() == document

    def test_needs_a_token(self, client: TestClient) -> None:
        assert_problem(client.get(URL), 401)

    def test_a_personal_token_needs_interviews_read(self, client: TestClient) -> None:
        user = register(client)
        secrets = {}
        for scope in ("interviews:read", "contacts:read"):
            body = {"name": scope, "scopes": [scope]}
            r = client.post("/api/v1/tokens", json=body, headers=user.headers)
            assert r.status_code == 201, r.text
            secrets[scope] = {"Authorization": f"Bearer {r.json()['token']}"}
        assert client.get(URL, headers=secrets["interviews:read"]).status_code == 200
        problem = assert_problem(
            client.get(URL, headers=secrets["contacts:read"]), 403, "insufficient_scope"
        )
        assert problem["required_scope"] == "interviews:read"


class TestAgainstTheApi:
    def test_walk_to_reported_back(self, client: TestClient) -> None:
        user = register(client)
        document = workflow(client, user)
        interviewee = create_contact(client, user)
        friend = create_contact(client, user)
        create_referral(client, user, friend["id"], interviewee["id"])
        iid = create_interview(client, user, contact_id=interviewee["id"], mode="in_person")["id"]
        walk = Walk(client, user, document, iid)

        walk.offered("request")
        assert walk.refused("request", "held") == ["invalid_transition"]
        assert walk.refused("request", "prepared") == [
            "request_letter_not_sent",
            "not_scheduled",
            "checklist_incomplete",
        ]
        assert walk.refused("request", "cancelled") == ["reason_required"]
        assert walk.refused("request", "cancelled", reason="   ") == ["reason_required"]
        send(client, user, "request", interviewee["id"], iid)
        r = client.patch(f"{API}/{iid}", json={"scheduled_at": future()}, headers=user.headers)
        assert r.status_code == 200, r.text
        complete_checklist(client, user, iid)
        walk.moves("request", "prepared")

        walk.offered("prepared")
        assert walk.refused("prepared", "request") == ["invalid_transition"]
        assert walk.refused("prepared", "held", held_at=future(1)) == [
            "scheduled_in_future",
            "held_at_in_future",
        ]
        r = client.patch(f"{API}/{iid}", json={"scheduled_at": past(2)}, headers=user.headers)
        assert r.status_code == 200, r.text
        walk.moves("prepared", "held", held_at=past(1))

        walk.offered("held")
        assert walk.refused("held", "cancelled", reason="no") == ["invalid_transition"]
        assert walk.refused("held", "thanked") == ["thank_you_not_sent"]
        send(client, user, "thank_you", interviewee["id"], iid)
        walk.moves("held", "thanked")

        walk.offered("thanked")
        assert walk.refused("thanked", "reported-back") == ["referrer_not_reported"]
        send(client, user, "report_back", friend["id"], iid)
        walk.moves("thanked", "reported-back")

        walk.offered("reported-back")
        assert walk.refused("reported-back", "thanked") == ["invalid_transition"]

        # Every code a move here was refused with is one the document lists, and the
        # document lists no code beyond the ones the API declares.
        assert walk.seen <= every_code(document)
        assert every_code(document) == declared_codes()

    def test_walk_to_cancelled(self, client: TestClient) -> None:
        user = register(client)
        document = workflow(client, user)
        interview = create_interview(client, user, scheduled_at=past(1))
        walk = Walk(client, user, document, interview["id"])
        send(client, user, "request", interview["contact_id"], interview["id"])
        complete_checklist(client, user, interview["id"])
        walk.moves("request", "prepared")
        assert walk.refused("prepared", "cancelled") == ["reason_required"]
        walk.moves("prepared", "cancelled", reason="They moved abroad.")
        walk.offered("cancelled")
        assert walk.refused("cancelled", "prepared") == ["invalid_transition"]

    def test_every_table_move_is_accepted_somewhere(self, client: TestClient) -> None:
        """The moves the document lists are exactly the (from, to) pairs the API accepts."""
        user = register(client)
        document = workflow(client, user)
        states = [s["state"] for s in document["states"]]
        for state in states:
            interview = create_interview(client, user)
            walk_to(client, user, interview, state)
            walk = Walk(client, user, document, interview["id"])
            walk.offered(state)
            for to in states:
                if to not in moves_from(document, state):
                    assert walk.refused(state, to, reason="A reason.") == ["invalid_transition"]


def walk_to(client: TestClient, user: User, interview: dict[str, Any], state: str) -> None:
    """Take a fresh interview to ``state`` through the API."""
    iid, contact = interview["id"], interview["contact_id"]
    path = {
        "request": [],
        "prepared": ["prepared"],
        "held": ["prepared", "held"],
        "thanked": ["prepared", "held", "thanked"],
        "reported-back": ["prepared", "held", "thanked", "reported-back"],
        "cancelled": ["cancelled"],
    }[state]
    for to in path:
        if to == "prepared":
            r = client.patch(f"{API}/{iid}", json={"scheduled_at": past(2)}, headers=user.headers)
            assert r.status_code == 200, r.text
            send(client, user, "request", contact, iid)
            complete_checklist(client, user, iid)
        if to == "thanked":
            send(client, user, "thank_you", contact, iid)
        body = {"reason": "A reason."} if to == "cancelled" else {}
        r = transition(client, user, iid, to, **body)
        assert r.status_code == 200, r.text


def declared_codes() -> set[str]:
    """The codes the OpenAPI document declares for a refused move's errors[]."""
    spec = json.loads(render_openapi())
    problem = resolve(spec, refused_move_schema(spec))
    error = resolve(spec, nullable(problem["properties"]["errors"])["items"])
    return set(resolve(spec, error["properties"]["code"])["enum"])


def refused_move_schema(spec: dict[str, Any]) -> dict[str, Any]:
    operation = spec["paths"][f"{API}/{{interview_id}}/transitions"]["post"]
    schema: dict[str, Any] = operation["responses"]["409"]["content"]["application/problem+json"][
        "schema"
    ]
    return schema


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """The non-null branch of an ``anyOf [X, null]``."""
    if "anyOf" in schema:
        (branch,) = [s for s in schema["anyOf"] if s.get("type") != "null"]
        return branch
    return schema


class TestOpenApi:
    def test_a_refused_move_is_typed_with_the_workflow(self, client: TestClient) -> None:
        user = register(client)
        document = workflow(client, user)
        spec = json.loads(render_openapi())
        problem = resolve(spec, refused_move_schema(spec))
        states = [s["state"] for s in document["states"]]
        current = resolve(spec, nullable(problem["properties"]["current_state"]))
        assert current["enum"] == states
        allowed = nullable(problem["properties"]["allowed_transitions"])
        assert resolve(spec, allowed["items"])["enum"] == states
        assert declared_codes() == every_code(document)

        # The transitions endpoint's unmet requirements carry the same codes.
        operation = spec["paths"][f"{API}/{{interview_id}}/transitions"]["get"]
        listing = operation["responses"]["200"]["content"]["application/json"]["schema"]
        option = resolve(spec, listing["items"])
        unmet = resolve(spec, option["properties"]["unmet"]["items"])
        assert set(resolve(spec, unmet["properties"]["code"])["enum"]) == every_code(document)

        # The document itself is described with the same enumerations.
        workflow_schema = spec["paths"][URL]["get"]["responses"]["200"]["content"]
        assert resolve(spec, workflow_schema["application/json"]["schema"])[
            "properties"
        ].keys() >= {
            "states",
            "moves",
            "any_move",
        }
