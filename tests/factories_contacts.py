"""Factories for contacts and referrals, built through the API itself.

Other test modules import these: ``create_contact(client, user, **fields)`` and
``create_referral(client, user, referrer_id, referred_id, relationship="friend")`` each
return the created resource's JSON body.
"""

from __future__ import annotations

import itertools
from typing import Any

from fastapi.testclient import TestClient

from tests.factories import User

_counter = itertools.count(1)


def create_contact(client: TestClient, user: User, **fields: Any) -> dict[str, Any]:
    """Create a contact for ``user``; ``full_name`` defaults to a unique name."""
    body: dict[str, Any] = {"full_name": f"Contact {next(_counter)}"}
    body.update(fields)
    r = client.post("/api/v1/contacts", json=body, headers=user.headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def create_referral(
    client: TestClient,
    user: User,
    referrer_id: str,
    referred_id: str,
    relationship: str = "friend",
    **fields: Any,
) -> dict[str, Any]:
    """Record that ``referrer_id`` gave ``user`` the lead to ``referred_id``."""
    body: dict[str, Any] = {
        "referrer_id": referrer_id,
        "referred_id": referred_id,
        "relationship": relationship,
    }
    body.update(fields)
    r = client.post("/api/v1/referrals", json=body, headers=user.headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created
