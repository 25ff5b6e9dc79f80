"""The referral network: leads from an interview, chains, courtesy and warm paths.

Driven through the API on SQLite and PostgreSQL, the interviews walked through the real
workflow (``tests/factories_interviews.py``).
"""

from __future__ import annotations

import itertools
from typing import Any

from fastapi.testclient import TestClient

from tests.accounts.test_access_tokens import bearer, create_token
from tests.factories import User, assert_problem, register
from tests.factories_contacts import create_contact, create_referral
from tests.factories_interviews import (
    complete_checklist,
    create_interview,
    past,
    send,
    transition,
)

API = "/api/v1"


def leads_of(interview_id: str) -> str:
    return f"{API}/interviews/{interview_id}/leads"


def held_interview(
    client: TestClient, user: User, contact_id: str, referral_id: str | None = None
) -> dict[str, Any]:
    """An interview with ``contact_id`` walked to ``held`` (from the referral, if given)."""
    fields: dict[str, Any] = {"contact_id": contact_id, "mode": "phone", "scheduled_at": past(2)}
    if referral_id is not None:
        fields["referral_id"] = referral_id
    interview = create_interview(client, user, **fields)
    send(client, user, "request", contact_id, interview["id"])
    complete_checklist(client, user, interview["id"])
    for to, extra in (("prepared", {}), ("held", {"held_at": past(1)})):
        r = transition(client, user, interview["id"], to, **extra)
        assert r.status_code == 200, r.text
    held: dict[str, Any] = r.json()
    return held


def thank(client: TestClient, user: User, interview: dict[str, Any]) -> None:
    send(client, user, "thank_you", interview["contact_id"], interview["id"])
    r = transition(client, user, interview["id"], "thanked")
    assert r.status_code == 200, r.text


def courtesy(client: TestClient, user: User) -> list[dict[str, Any]]:
    r = client.get(f"{API}/courtesy", headers=user.headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["data"]
    return items


def owed(items: list[dict[str, Any]]) -> set[tuple[str, str, str | None]]:
    return {(item["letter_kind"], item["contact_id"], item["interview_id"]) for item in items}


def test_the_snowball_from_a_friend_to_a_lead_and_back(client: TestClient) -> None:
    """A refers B; at B's interview B suggests C and D; C's interview reaches thanked: B is
    owed a report back, as A is for B's; the chain and the paths follow the referrals."""
    user = register(client)
    a = create_contact(client, user, full_name="Ann Adler", organization="Lakeside University")
    b = create_contact(client, user, full_name="Ben Brook", organization="Northwind")
    ab = create_referral(client, user, a["id"], b["id"], relationship="colleague")
    b_interview = held_interview(client, user, b["id"], ab["id"])

    r = client.post(
        leads_of(b_interview["id"]),
        json={
            "leads": [
                {
                    "contact": {
                        "full_name": "Cleo Cho",
                        "organization": "Harbor & Finch",
                        "email": "cleo@harbor.example",
                    },
                    "notes": "Runs the audit practice.",
                },
                {
                    "contact": {"full_name": "Dev Das", "organization": "Harbor & Finch"},
                    "relationship": "colleague",
                },
            ]
        },
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["interview_id"] == b_interview["id"]
    assert body["referrer_id"] == b["id"]
    c_lead, d_lead = body["data"]
    for lead in (c_lead, d_lead):
        assert lead["contact_matched"] is False and lead["referral_matched"] is False
        assert lead["referral"]["referrer_id"] == b["id"]
        assert lead["referral"]["referred_id"] == lead["contact"]["id"]
        assert lead["referral"]["interview_id"] == b_interview["id"]
        assert lead["referral"]["referred_on"] == b_interview["held_at"][:10]
    assert c_lead["referral"]["relationship"] == "other"
    assert c_lead["referral"]["notes"] == "Runs the audit practice."
    assert d_lead["referral"]["relationship"] == "colleague"
    c, d = c_lead["contact"], d_lead["contact"]
    # They are ordinary contacts and referrals from here on.
    got = client.get(f"{API}/referrals/{c_lead['referral']['id']}", headers=user.headers)
    assert got.json()["interview_id"] == b_interview["id"]
    assert client.get(f"{API}/contacts/{c['id']}", headers=user.headers).status_code == 200

    # Sending the same lead again reuses the contact and the referral.
    again = client.post(
        leads_of(b_interview["id"]),
        json={"leads": [{"contact": {"full_name": "Cleo C.", "email": "CLEO@harbor.example"}}]},
        headers=user.headers,
    )
    assert again.status_code == 201, again.text
    (lead,) = again.json()["data"]
    assert lead["contact"]["id"] == c["id"] and lead["contact_matched"] is True
    assert lead["referral"]["id"] == c_lead["referral"]["id"] and lead["referral_matched"]
    r = client.get(f"{API}/referrals", params={"referrer_id": b["id"]}, headers=user.headers)
    assert len(r.json()["data"]) == 2

    # C's interview comes from B's referral and goes through to held: a thank-you is owed
    # to C (and to B, whose interview is held too); nobody is owed a report back yet.
    c_interview = held_interview(client, user, c["id"], c_lead["referral"]["id"])
    items = courtesy(client, user)
    assert owed(items) == {
        ("thank_you", b["id"], b_interview["id"]),
        ("thank_you", c["id"], c_interview["id"]),
    }
    assert [item["due_at"] for item in items] == sorted(item["due_at"] for item in items)

    # Both thanked: B is owed a report back on C's interview, A on B's, as the rules say.
    thank(client, user, b_interview)
    thank(client, user, c_interview)
    items = courtesy(client, user)
    assert owed(items) == {
        ("report_back", b["id"], c_interview["id"]),
        ("report_back", a["id"], b_interview["id"]),
    }
    to_b = next(item for item in items if item["contact_id"] == b["id"])
    assert to_b["kind"] == "report_back"
    assert to_b["draft"] == {
        "kind": "report_back",
        "recipient_id": b["id"],
        "interview_id": c_interview["id"],
    }
    # The agenda says the same.
    agenda = client.get(f"{API}/agenda", headers=user.headers).json()["data"]
    assert {(i["kind"], i["contact_id"], i["interview_id"]) for i in agenda} == {
        ("report_back", b["id"], c_interview["id"]),
        ("report_back", a["id"], b_interview["id"]),
    }
    # The draft is one call away; once the report back is sent, C's interview may close.
    drafted = client.post(f"{API}/letters/draft", json=to_b["draft"], headers=user.headers)
    assert drafted.status_code == 201, drafted.text
    assert transition(client, user, c_interview["id"], "reported-back").status_code == 409
    sent = client.post(f"{API}/letters/{drafted.json()['id']}/send", headers=user.headers)
    assert sent.status_code == 200, sent.text
    assert owed(courtesy(client, user)) == {("report_back", a["id"], b_interview["id"])}
    r = transition(client, user, c_interview["id"], "reported-back")
    assert r.status_code == 200, r.text

    # How C was reached: C <- B (at B's interview) <- A (known directly).
    r = client.get(f"{API}/contacts/{c['id']}/chain", headers=user.headers)
    assert r.status_code == 200, r.text
    chain = r.json()
    assert chain["contact"] == {
        "id": c["id"],
        "full_name": "Cleo Cho",
        "organization": "Harbor & Finch",
    }
    assert [link["referrer"]["id"] for link in chain["links"]] == [b["id"], a["id"]]
    assert [link["relationship"] for link in chain["links"]] == ["other", "colleague"]
    assert [link["interview_id"] for link in chain["links"]] == [b_interview["id"], None]
    assert chain["links"][0]["referral_id"] == c_lead["referral"]["id"]
    assert chain["has_more"] is False
    assert client.get(f"{API}/contacts/{a['id']}/chain", headers=user.headers).json()["links"] == []

    # Warm paths to Harbor & Finch: someone known directly there first, then through A and B,
    # to D (B is a colleague) before C (B's relationship on that lead is "other").
    e = create_contact(client, user, full_name="Eve Eng", organization=" HARBOR & finch ")
    r = client.get(f"{API}/paths", params={"organization": "harbor & FINCH"}, headers=user.headers)
    assert r.status_code == 200, r.text
    found = r.json()
    assert found["has_more"] is False
    people = [[step["contact"]["id"] for step in path["steps"]] for path in found["data"]]
    assert people == [[e["id"]], [a["id"], b["id"], d["id"]], [a["id"], b["id"], c["id"]]]
    assert [path["length"] for path in found["data"]] == [1, 3, 3]
    to_d = found["data"][1]["steps"]
    assert to_d[0]["referral_id"] is None and to_d[0]["relationship"] is None
    assert to_d[1]["referral_id"] == ab["id"] and to_d[1]["relationship"] == "colleague"
    assert to_d[2]["referral_id"] == d_lead["referral"]["id"]
    assert to_d[2]["interview_id"] == b_interview["id"]
    # B's last contact came from the letters and the interview; A was never written to.
    assert to_d[0]["last_contacted_at"] is None and to_d[1]["last_contacted_at"] is not None
    r = client.get(
        f"{API}/paths", params={"organization": "Harbor & Finch", "limit": 1}, headers=user.headers
    )
    assert r.json()["has_more"] is True and len(r.json()["data"]) == 1
    # By field: nobody in it yet, then B.
    r = client.get(f"{API}/paths", params={"career_field": "audit"}, headers=user.headers)
    assert r.json() == {"data": [], "has_more": False}
    client.patch(f"{API}/contacts/{b['id']}", json={"career_field": "Audit"}, headers=user.headers)
    r = client.get(f"{API}/paths", params={"career_field": "audit"}, headers=user.headers)
    assert [[s["contact"]["id"] for s in p["steps"]] for p in r.json()["data"]] == [
        [a["id"], b["id"]]
    ]


def test_leads_wait_for_the_interview_to_be_held(client: TestClient) -> None:
    user = register(client)
    interview = create_interview(client, user, mode="phone")
    r = client.post(
        leads_of(interview["id"]),
        json={"leads": [{"contact": {"full_name": "Too Soon"}}]},
        headers=user.headers,
    )
    body = assert_problem(r, 409, "interview_not_held")
    assert body["state"] == "request"
    contacts = client.get(f"{API}/contacts", headers=user.headers).json()["data"]
    assert [c["full_name"] for c in contacts] != ["Too Soon"]
    assert all(c["full_name"] != "Too Soon" for c in contacts)


def test_another_users_interview_or_contact_is_not_found(client: TestClient) -> None:
    owner, other = register(client), register(client)
    contact = create_contact(client, owner)
    interview = held_interview(client, owner, contact["id"])
    body = {"leads": [{"contact": {"full_name": "Someone"}}]}
    assert_problem(
        client.post(leads_of(interview["id"]), json=body, headers=other.headers),
        404,
        "interview_not_found",
    )
    assert_problem(
        client.get(f"{API}/contacts/{contact['id']}/chain", headers=other.headers),
        404,
        "contact_not_found",
    )
    # Another user's contact named as a lead is no record of the caller's.
    stranger = create_contact(client, other)
    r = client.post(
        leads_of(interview["id"]),
        json={"leads": [{"contact_id": stranger["id"]}]},
        headers=owner.headers,
    )
    problem = assert_problem(r, 422, "invalid_reference")
    assert problem["errors"][0]["loc"] == ["body", "leads", 0, "contact_id"]
    # Paths and courtesy see only the caller's own records.
    create_contact(client, other, full_name="Theirs", organization="Globex")
    r = client.get(f"{API}/paths", params={"organization": "Globex"}, headers=owner.headers)
    assert r.json()["data"] == []
    assert courtesy(client, other) == []


def test_leads_are_bounded_and_each_names_one_person_once(client: TestClient) -> None:
    user = register(client)
    interviewee = create_contact(client, user, email="iv@example.com")
    interview = held_interview(client, user, interviewee["id"])
    url = leads_of(interview["id"])

    many = [{"contact": {"full_name": f"Person {i}"}} for i in range(21)]
    assert_problem(client.post(url, json={"leads": many}, headers=user.headers), 422)
    assert_problem(client.post(url, json={"leads": []}, headers=user.headers), 422)
    for lead in (
        {},
        {"relationship": "friend"},
        {"contact_id": interviewee["id"], "contact": {"full_name": "Both"}},
        {"contact": {"full_name": "X"}, "relationship": "rival"},
    ):
        r = client.post(url, json={"leads": [lead]}, headers=user.headers)
        assert_problem(r, 422)

    twice = [
        {"contact": {"full_name": "Al", "email": "al@example.com"}},
        {"contact": {"full_name": "Alan", "email": "AL@example.com"}},
    ]
    problem = assert_problem(
        client.post(url, json={"leads": twice}, headers=user.headers), 422, "duplicate_lead"
    )
    assert problem["errors"][0]["loc"] == ["body", "leads", 1, "contact"]
    for lead in (
        {"contact_id": interviewee["id"]},
        {"contact": {"full_name": "Me Again", "email": "IV@example.com"}},
    ):
        r = client.post(url, json={"leads": [lead]}, headers=user.headers)
        assert_problem(r, 422, "self_referral")
    # Nothing of the refused requests was written.
    contacts = client.get(f"{API}/contacts", headers=user.headers).json()["data"]
    assert [c["id"] for c in contacts] == [interviewee["id"]]

    twenty = [{"contact": {"full_name": f"Person {i}"}} for i in range(20)]
    r = client.post(url, json={"leads": twenty}, headers=user.headers)
    assert r.status_code == 201, r.text
    assert len(r.json()["data"]) == 20


def test_a_lead_matches_a_contact_already_recorded(client: TestClient) -> None:
    user = register(client)
    interviewee = create_contact(client, user)
    interview = held_interview(client, user, interviewee["id"])
    by_email = create_contact(client, user, full_name="Xia Xu", email="xia@example.com")
    by_name = create_contact(client, user, full_name="Yan Li", organization="Acme")
    other_email = create_contact(
        client, user, full_name="Zoe Zimmer", organization="Acme", email="zoe@old.example"
    )
    pushed = create_contact(client, user, full_name="Pushed", source="crm", external_id="p-7")
    known = create_contact(client, user, full_name="Known")
    existing = create_referral(client, user, interviewee["id"], known["id"], relationship="friend")

    r = client.post(
        leads_of(interview["id"]),
        json={
            "leads": [
                {"contact": {"full_name": "X. Xu", "email": "XIA@Example.com"}},
                {"contact": {"full_name": "  yan li", "organization": "ACME "}},
                {
                    "contact": {
                        "full_name": "Zoe Zimmer",
                        "organization": "Acme",
                        "email": "zoe@new.example",
                    }
                },
                {"contact": {"full_name": "Other name", "source": "crm", "external_id": "p-7"}},
                {"contact_id": known["id"], "relationship": "family"},
                {"contact": {"full_name": "Yan Li"}},
            ]
        },
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    xia, yan, zoe, crm, kn, bare = r.json()["data"]
    assert (xia["contact"]["id"], xia["contact_matched"]) == (by_email["id"], True)
    assert xia["contact"]["full_name"] == "Xia Xu"  # a match is kept as it is
    assert (yan["contact"]["id"], yan["contact_matched"]) == (by_name["id"], True)
    # Same name and organization, but another email on record: another person.
    assert zoe["contact_matched"] is False and zoe["contact"]["id"] != other_email["id"]
    assert zoe["contact"]["email"] == "zoe@new.example"
    assert (crm["contact"]["id"], crm["contact_matched"]) == (pushed["id"], True)
    assert (kn["contact"]["id"], kn["referral"]["id"]) == (known["id"], existing["id"])
    assert kn["referral_matched"] is True and kn["referral"]["relationship"] == "friend"
    assert kn["referral"]["interview_id"] is None
    # A name without an organization is too little to go on: a new contact.
    assert bare["contact_matched"] is False and bare["contact"]["id"] != by_name["id"]
    for lead in (xia, yan, zoe, crm, bare):
        assert lead["referral_matched"] is False
        assert lead["referral"]["interview_id"] == interview["id"]

    # Each new contact and new referral announced itself to webhooks.
    events = outbox_types(client)
    assert events.count("referral.created") == 6  # the one recorded before, and five leads
    assert events.count("contact.created") == 6 + 2  # six before, Zoe and the bare Yan Li


def outbox_types(client: TestClient) -> list[str]:
    from sqlalchemy import select

    from app.webhooks.repository import OUTBOX

    engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        return [row.type for row in connection.execute(select(OUTBOX.c.type))]


def test_personal_access_tokens_need_every_scope_the_operation_touches(
    client: TestClient,
) -> None:
    user = register(client)
    interviewee = create_contact(client, user, organization="Initech")
    interview = held_interview(client, user, interviewee["id"])
    body = {"leads": [{"contact": {"full_name": "Via Token"}}]}

    def token(*scopes: str) -> dict[str, str]:
        return bearer(create_token(client, user, list(scopes))["token"])

    for scopes, missing in (
        (("contacts:write", "referrals:write"), "interviews:write"),
        (("interviews:write", "referrals:write"), "contacts:write"),
        (("interviews:write", "contacts:write"), "referrals:write"),
    ):
        r = client.post(leads_of(interview["id"]), json=body, headers=token(*scopes))
        problem = assert_problem(r, 403, "insufficient_scope")
        assert problem["required_scope"] == missing
    every = token("interviews:write", "contacts:write", "referrals:write")
    assert client.post(leads_of(interview["id"]), json=body, headers=every).status_code == 201

    chain = f"{API}/contacts/{interviewee['id']}/chain"
    assert_problem(client.get(chain, headers=token("contacts:read")), 403, "insufficient_scope")
    assert_problem(client.get(chain, headers=token("referrals:read")), 403, "insufficient_scope")
    assert client.get(chain, headers=token("contacts:read", "referrals:read")).status_code == 200

    for url in (f"{API}/courtesy", f"{API}/paths?organization=Initech"):
        assert_problem(client.get(url, headers=token("interviews:read")), 403, "insufficient_scope")
        assert client.get(url, headers=token("insights:read")).status_code == 200


def test_paths_take_exactly_one_filter(client: TestClient) -> None:
    user = register(client)
    for params in ({}, {"organization": "Acme", "career_field": "audit"}):
        r = client.get(f"{API}/paths", params=params, headers=user.headers)
        assert_problem(r, 422, "exactly_one_filter")
    for params in (
        {"organization": ""},
        {"organization": "   "},
        {"organization": "x" * 201},
        {"career_field": "x" * 101},
        {"organization": "Acme", "limit": 51},
        {"organization": "Acme", "limit": 0},
    ):
        r = client.get(f"{API}/paths", params=params, headers=user.headers)
        assert_problem(r, 422)


def test_a_chain_is_bounded_and_never_loops(client: TestClient) -> None:
    user = register(client)
    people = [create_contact(client, user, full_name=f"P{i}") for i in range(13)]
    # P0 <- P1 <- … <- P12: the chain of P0 shows ten links, and says there are more.
    for below, above in itertools.pairwise(people):
        create_referral(client, user, above["id"], below["id"])
    r = client.get(f"{API}/contacts/{people[0]['id']}/chain", headers=user.headers)
    chain = r.json()
    assert [link["referrer"]["full_name"] for link in chain["links"]] == [
        f"P{i}" for i in range(1, 11)
    ]
    assert chain["has_more"] is True

    # X and Y referred the user to each other: the chain ends where it comes back.
    x = create_contact(client, user, full_name="X")
    y = create_contact(client, user, full_name="Y")
    create_referral(client, user, x["id"], y["id"])
    create_referral(client, user, y["id"], x["id"])
    chain = client.get(f"{API}/contacts/{y['id']}/chain", headers=user.headers).json()
    assert [link["referrer"]["id"] for link in chain["links"]] == [x["id"]]
    assert chain["has_more"] is False

    # Several referrers: the earliest recorded is followed.
    z = create_contact(client, user, full_name="Z")
    first = create_referral(client, user, people[5]["id"], z["id"])
    create_referral(client, user, x["id"], z["id"])
    chain = client.get(f"{API}/contacts/{z['id']}/chain", headers=user.headers).json()
    assert chain["links"][0]["referral_id"] == first["id"]

    # Nobody known directly at the end of a loop: no warm path through it.
    client.patch(f"{API}/contacts/{y['id']}", json={"organization": "Loop"}, headers=user.headers)
    r = client.get(f"{API}/paths", params={"organization": "loop"}, headers=user.headers)
    assert r.json()["data"] == []


def test_paths_stop_at_four_people(client: TestClient) -> None:
    user = register(client)
    people = [create_contact(client, user, full_name=f"Q{i}") for i in range(5)]
    for above, below in itertools.pairwise(people):
        create_referral(client, user, above["id"], below["id"], relationship="faculty")
    for index, expected in ((3, 4), (4, None)):
        client.patch(
            f"{API}/contacts/{people[index]['id']}",
            json={"organization": f"Far {index}"},
            headers=user.headers,
        )
        r = client.get(
            f"{API}/paths", params={"organization": f"far {index}"}, headers=user.headers
        )
        lengths = [path["length"] for path in r.json()["data"]]
        assert lengths == ([expected] if expected else [])


def test_a_lead_survives_the_account_export_and_import(client: TestClient) -> None:
    user = register(client)
    b = create_contact(client, user, full_name="Ben")
    interview = held_interview(client, user, b["id"])
    r = client.post(
        leads_of(interview["id"]),
        json={"leads": [{"contact": {"full_name": "Cleo"}}]},
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    document = client.get(f"{API}/export", headers=user.headers).json()
    (referral,) = document["referrals"]
    assert referral["interview_id"] == interview["id"]

    fresh = register(client)
    r = client.post(f"{API}/import", json=document, headers=fresh.headers)
    assert r.status_code in (200, 201), r.text
    (restored,) = client.get(f"{API}/referrals", headers=fresh.headers).json()["data"]
    (restored_interview,) = client.get(f"{API}/interviews", headers=fresh.headers).json()["data"]
    assert restored["interview_id"] == restored_interview["id"] != interview["id"]

    # A lead's interview must be in the document.
    document["referrals"][0]["interview_id"] = document["referrals"][0]["id"]
    r = client.post(f"{API}/import", json=document, headers=register(client).headers)
    problem = assert_problem(r, 422)
    assert ["body", "referrals", 0, "interview_id"] in [e["loc"] for e in problem["errors"]]
