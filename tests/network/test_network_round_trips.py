"""The referral network's round trips to PostgreSQL, counted on the wire: leads are a create
(two), the chain, courtesy and paths are reads (one)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import register
from tests.kit.test_round_trips import CountingProxy, counted, round_trips
from tests.network.test_network import held_interview, leads_of

__all__ = ["counted"]


def test_leads_take_two_round_trips_and_the_reads_one(
    counted: tuple[TestClient, CountingProxy],
) -> None:
    client, proxy = counted
    user = register(client)
    headers = user.headers
    a = client.post("/api/v1/contacts", json={"full_name": "Ann"}, headers=headers).json()
    b = client.post("/api/v1/contacts", json={"full_name": "Ben"}, headers=headers).json()
    ab = client.post(
        "/api/v1/referrals",
        json={"referrer_id": a["id"], "referred_id": b["id"], "relationship": "colleague"},
        headers=headers,
    ).json()
    interview = held_interview(client, user, b["id"], ab["id"])
    body = {
        "leads": [
            {"contact": {"full_name": f"Lead {i}", "organization": "Harbor", "email": f"l{i}@x.io"}}
            for i in range(20)
        ]
    }
    # The caller, the interview and the contacts the leads may be, in one statement; the 20
    # contacts, the 20 referrals and their 40 events in one more.
    trips = round_trips(
        client, proxy, "POST", leads_of(interview["id"]), json=body, headers=headers
    )
    assert trips <= 2, trips
    some = client.get("/api/v1/contacts", params={"limit": 1}, headers=headers).json()["data"][0]
    for read in (
        f"/api/v1/contacts/{some['id']}/chain",
        "/api/v1/courtesy",
        "/api/v1/paths?organization=harbor",
        "/api/v1/paths?career_field=audit",
    ):
        assert round_trips(client, proxy, "GET", read, headers=headers) == 1, read
