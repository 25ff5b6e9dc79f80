"""GET /api/v1/stats over the hand-built account of ``conftest.py``: every figure worked out by
hand here, per grouping, over a period, and the parameters refused."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import User, assert_problem, register
from tests.insights.conftest import Account

API = "/api/v1/stats"
ORDER = ["request", "prepared", "held", "thanked", "reported-back", "cancelled"]


def stats(client: TestClient, user: User, **params: Any) -> dict[str, Any]:
    r = client.get(API, params=params, headers=user.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def by_key(body: dict[str, Any]) -> dict[str | None, dict[str, Any]]:
    return {group["key"]: group for group in body["groups"]}


def states(group: dict[str, Any]) -> dict[str, int]:
    assert [s["state"] for s in group["states"]] == ORDER
    return {s["state"]: s["interviews"] for s in group["states"]}


def steps(group: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {s["from_state"]: s for s in group["steps"]}
    assert [(s["from_state"], s["to_state"]) for s in group["steps"]] == list(
        itertools.pairwise(ORDER[:5])
    )
    return found


def approx(value: float) -> Any:
    return pytest.approx(value, abs=0.01)


class TestAllInterviews:
    def test_the_figures_by_hand(self, client: TestClient, account: Account) -> None:
        body = stats(client, account.user)
        assert body["group_by"] == "none"
        assert body["period"] == {"start": None, "end": None}
        assert body["groups_left_out"] == 0
        (group,) = body["groups"]
        assert group["key"] is None and group["label"] == "All interviews"
        assert group["interviews"] == 5
        assert states(group) == {
            "request": 1,  # E
            "prepared": 0,
            "held": 0,
            "thanked": 1,  # B
            "reported-back": 2,  # A, C
            "cancelled": 1,  # D
        }
        s = steps(group)
        # request -> prepared: all five asked for, A B C D prepared; days 10, 6, 18, 1.
        assert (s["request"]["reached"], s["request"]["advanced"]) == (5, 4)
        assert s["request"]["conversion"] == approx(0.8)
        assert s["request"]["median_days"] == approx((6 + 10) / 2)
        # prepared -> held: D cancelled; A 10 d - 2 h, B 14 d - 30 h, C 12 d - 8 d.
        assert (s["prepared"]["reached"], s["prepared"]["advanced"]) == (4, 3)
        assert s["prepared"]["conversion"] == approx(0.75)
        assert s["prepared"]["median_days"] == approx(10 - 2 / 24)
        # held -> thanked: all three, thanked now: 2 h, 30 h, 8 d after.
        assert (s["held"]["reached"], s["held"]["advanced"]) == (3, 3)
        assert s["held"]["conversion"] == approx(1.0)
        assert s["held"]["median_days"] == approx(30 / 24)
        # thanked -> reported-back: A and C, moments after being thanked.
        assert (s["thanked"]["reached"], s["thanked"]["advanced"]) == (3, 2)
        assert s["thanked"]["conversion"] == approx(2 / 3)
        assert s["thanked"]["median_days"] == approx(0)

        courtesy = group["courtesy"]
        # Thanked within 24 h: only A (B after 30 h, C after 8 days).
        assert courtesy["held"] == 3
        assert courtesy["thanked_within_24h"] == 1
        assert courtesy["thanked_within_24h_share"] == approx(1 / 3)
        # Everyone held had a referrer; only A's heard back within 7 days (B's never, C's late).
        assert courtesy["to_report_back"] == 3
        assert courtesy["reported_back_within_7d"] == 1
        assert courtesy["reported_back_within_7d_share"] == approx(1 / 3)
        # Ann gave one lead (Eve's does not count: she was never interviewed).
        assert group["referrals_given"] == 1
        assert group["referrals_per_held_interview"] == approx(1 / 3)
        assert [(r["full_name"], r["held_interviews"]) for r in group["top_referrers"]] == [
            ("Rita Referrer", 2),
            ("Sam Source", 1),
        ]
        assert group["top_referrers"][0]["contact_id"] == account.rita["id"]

    def test_top_is_a_bound(self, client: TestClient, account: Account) -> None:
        (group,) = stats(client, account.user, top=1)["groups"]
        assert [r["full_name"] for r in group["top_referrers"]] == ["Rita Referrer"]

    def test_nothing_yet(self, client: TestClient) -> None:
        user = register(client)
        body = stats(client, user, group_by="mode")
        assert body["groups"] == [] and body["groups_left_out"] == 0


class TestGroups:
    def test_by_mode(self, client: TestClient, account: Account) -> None:
        groups = by_key(stats(client, account.user, group_by="mode"))
        assert {k: g["interviews"] for k, g in groups.items()} == {
            "phone": 2,
            "video": 2,
            "in_person": 1,
        }
        phone, video = groups["phone"], groups["video"]
        assert phone["label"] == "phone"
        assert states(phone)["thanked"] == 1 and states(phone)["reported-back"] == 1
        assert steps(phone)["request"]["median_days"] == approx(8)  # 10 and 6
        assert phone["courtesy"]["thanked_within_24h_share"] == approx(0.5)
        assert phone["courtesy"]["reported_back_within_7d_share"] == approx(0.5)
        assert phone["referrals_per_held_interview"] == approx(0.5)
        assert [(r["full_name"], r["held_interviews"]) for r in phone["top_referrers"]] == [
            ("Rita Referrer", 2)
        ]
        # C and D: D was cancelled before it was held.
        assert steps(video)["prepared"]["conversion"] == approx(0.5)
        assert video["courtesy"]["thanked_within_24h_share"] == approx(0)
        assert video["referrals_per_held_interview"] == approx(0)
        # E was never held: no shares to speak of.
        alone = groups["in_person"]
        assert alone["courtesy"]["thanked_within_24h_share"] is None
        assert alone["referrals_per_held_interview"] is None
        assert steps(alone)["request"]["conversion"] == approx(0)
        assert steps(alone)["prepared"]["conversion"] is None
        assert steps(alone)["request"]["median_days"] is None
        # Most interviews first, then by label.
        assert list(groups) == ["phone", "video", "in_person"]

    def test_by_referrer_relationship(self, client: TestClient, account: Account) -> None:
        groups = by_key(stats(client, account.user, group_by="referrer_relationship"))
        assert {k: g["interviews"] for k, g in groups.items()} == {
            "friend": 2,
            None: 2,
            "colleague": 1,
        }
        assert groups[None]["label"] == "No referrer"
        assert groups["friend"]["courtesy"]["reported_back_within_7d"] == 1
        assert groups["colleague"]["courtesy"]["reported_back_within_7d_share"] == approx(0)
        assert groups[None]["courtesy"]["to_report_back"] == 0

    def test_by_career_field_ignores_case(self, client: TestClient, account: Account) -> None:
        groups = by_key(stats(client, account.user, group_by="career_field"))
        assert {k: g["interviews"] for k, g in groups.items()} == {
            "accounting": 2,
            None: 2,
            "nursing": 1,
        }
        assert groups["accounting"]["label"].lower() == "accounting"
        assert groups["nursing"]["label"] == "Nursing"
        assert groups[None]["label"] == "No career field"

    def test_by_referrer(self, client: TestClient, account: Account) -> None:
        body = stats(client, account.user, group_by="referrer")
        groups = by_key(body)
        rita, sam = account.rita["id"], account.sam["id"]
        assert {k: g["interviews"] for k, g in groups.items()} == {rita: 2, None: 2, sam: 1}
        assert groups[rita]["label"] == "Rita Referrer"
        assert groups[sam]["courtesy"]["held"] == 1
        # Each group's leads come from its own referrer, who is therefore its top referrer.
        assert groups[rita]["top_referrers"] == [
            {"contact_id": rita, "full_name": "Rita Referrer", "held_interviews": 2}
        ]
        assert groups[sam]["top_referrers"] == [
            {"contact_id": sam, "full_name": "Sam Source", "held_interviews": 1}
        ]
        assert groups[None]["top_referrers"] == []

    def test_limit_leaves_out_the_smallest_groups(
        self, client: TestClient, account: Account
    ) -> None:
        body = stats(client, account.user, group_by="mode", limit=2)
        assert [g["key"] for g in body["groups"]] == ["phone", "video"]
        assert body["groups_left_out"] == 1


class TestPeriod:
    def test_from_a_time(self, client: TestClient, account: Account) -> None:
        start = account.now - timedelta(days=7)
        body = stats(client, account.user, **{"from": start.isoformat()})
        (group,) = body["groups"]
        assert group["interviews"] == 2  # D (5 days ago) and E (now)
        assert states(group)["cancelled"] == 1 and states(group)["request"] == 1

    def test_to_a_day_includes_it(self, client: TestClient, account: Account) -> None:
        end = (account.now - timedelta(days=30)).date()
        body = stats(client, account.user, to=end.isoformat())
        (group,) = body["groups"]
        assert group["interviews"] == 1  # C, asked for 30 days ago
        assert group["top_referrers"][0]["full_name"] == "Sam Source"
        assert body["period"]["end"].startswith((end + timedelta(days=1)).isoformat())

    def test_between_two_days(self, client: TestClient, account: Account) -> None:
        start = (account.now - timedelta(days=21)).date().isoformat()
        end = (account.now - timedelta(days=19)).date().isoformat()
        (group,) = stats(client, account.user, **{"from": start, "to": end})["groups"]
        assert group["interviews"] == 2  # A and B
        assert group["courtesy"]["thanked_within_24h"] == 1

    def test_an_empty_period(self, client: TestClient, account: Account) -> None:
        body = stats(client, account.user, to="2001-01-01")
        assert body["groups"] == []


class TestRefused:
    @pytest.mark.parametrize(
        "params",
        [
            {"group_by": "contact"},
            {"group_by": ""},
            {"from": "yesterday"},
            {"from": "2026-13-01"},
            {"from": "2026-01-01T10:00:00"},  # no offset
            {"to": "1700000000"},
            {"limit": 0},
            {"limit": 101},
            {"top": 0},
            {"top": 21},
        ],
    )
    def test_bad_parameters(self, client: TestClient, params: dict[str, Any]) -> None:
        user = register(client)
        assert_problem(client.get(API, params=params, headers=user.headers), 422)

    def test_from_after_to(self, client: TestClient) -> None:
        user = register(client)
        r = client.get(API, params={"from": "2026-02-01", "to": "2026-01-31"}, headers=user.headers)
        assert_problem(r, 422, "invalid_period")

    def test_without_a_token(self, client: TestClient) -> None:
        assert_problem(client.get(API), 401)


class TestIsolation:
    def test_another_users_interviews_are_not_counted(
        self, client: TestClient, account: Account
    ) -> None:
        other = register(client)
        assert stats(client, other)["groups"] == []
        assert stats(client, other, group_by="referrer")["groups"] == []


class TestScope:
    def test_a_token_needs_insights_read(self, client: TestClient, account: Account) -> None:
        def token(scopes: list[str]) -> dict[str, str]:
            r = client.post(
                "/api/v1/tokens",
                json={"name": "figures", "scopes": scopes},
                headers=account.user.headers,
            )
            assert r.status_code == 201, r.text
            return {"Authorization": f"Bearer {r.json()['token']}"}

        refused = client.get(API, headers=token(["interviews:read", "letters:read"]))
        assert_problem(refused, 403, "insufficient_scope")
        allowed = client.get(API, headers=token(["insights:read"]))
        assert allowed.status_code == 200, allowed.text
        assert allowed.json()["groups"][0]["interviews"] == 5
