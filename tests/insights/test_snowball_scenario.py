"""One account's snowball, end to end, read back through every insight.

The story: the user knows Ada Ash directly. Ada refers them to Ben Birch, who works in urban
forestry at the City Tree Office. Ben's interview goes from request to held; what Ben said is
recorded on it, with one answer mentioning "arboriculture", a word that appears nowhere else in
the account. At the end of it Ben suggests two more people, Cora Cedar at Northwood Parks and
Dev Dogwood, recorded as leads. Cora's interview then goes to held and is thanked.

Read back: Ben is owed a report back on Cora's interview; Cora's chain is Cora <- Ben <- Ada; a
warm path to Northwood Parks runs Ada -> Ben -> Cora; the figures are the ones worked out by
hand below; searching "arboriculture" finds Ben's interview alone; the urban forestry brief
holds Ben's advice and answers.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import register
from tests.factories_contacts import create_contact, create_referral
from tests.insights.test_briefs import brief
from tests.insights.test_stats import states, stats, steps
from tests.network.test_network import courtesy, held_interview, leads_of, owed, thank
from tests.search.test_search import ids, search

API = "/api/v1"
FIELD = "Urban forestry"
WHAT_BEN_SAID: dict[str, Any] = {
    "questions": [
        {
            "question": "What did you study?",
            "answer": "Arboriculture, then a season climbing with a tree crew.",
        },
        {"question": "What does a city tree officer do all day?", "answer": "Surveys and permits."},
    ],
    "advice": "Get your chainsaw ticket before you apply anywhere.",
    "next_steps": "Write to Cora at Northwood Parks.",
}


def approx(value: float) -> Any:
    return pytest.approx(value, abs=0.01)


def test_a_snowball_read_back_through_every_insight(client: TestClient) -> None:
    user = register(client)

    # The people: Ada, known directly, refers Ben.
    ada = create_contact(client, user, full_name="Ada Ash", organization="Riverside College")
    ben = create_contact(
        client, user, full_name="Ben Birch", organization="City Tree Office", career_field=FIELD
    )
    ada_to_ben = create_referral(client, user, ada["id"], ben["id"], relationship="colleague")

    # Ben's interview, request -> prepared -> held, from Ada's referral; what Ben said recorded.
    ben_interview = held_interview(client, user, ben["id"], ada_to_ben["id"])
    assert ben_interview["state"] == "held"
    r = client.patch(
        f"{API}/interviews/{ben_interview['id']}", json=WHAT_BEN_SAID, headers=user.headers
    )
    assert r.status_code == 200, r.text

    # Ben suggests Cora (at Northwood Parks) and Dev.
    r = client.post(
        leads_of(ben_interview["id"]),
        json={
            "leads": [
                {"contact": {"full_name": "Cora Cedar", "organization": "Northwood Parks"}},
                {"contact": {"full_name": "Dev Dogwood"}, "relationship": "friend"},
            ]
        },
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    cora_lead, dev_lead = r.json()["data"]
    cora = cora_lead["contact"]
    assert [lead["contact"]["full_name"] for lead in (cora_lead, dev_lead)] == [
        "Cora Cedar",
        "Dev Dogwood",
    ]
    for lead in (cora_lead, dev_lead):
        assert lead["contact_matched"] is False and lead["referral_matched"] is False
        assert lead["referral"]["referrer_id"] == ben["id"]
        assert lead["referral"]["interview_id"] == ben_interview["id"]

    # Cora's interview, from Ben's lead, held and thanked.
    cora_interview = held_interview(client, user, cora["id"], cora_lead["referral"]["id"])
    thank(client, user, cora_interview)

    # Courtesy: Ben is owed a report back on Cora's interview (7 days after the thanks), and
    # still a thank-you for his own (24 hours after it was held). Ada is owed nothing yet: a
    # report back on Ben's interview waits for it to be thanked.
    items = courtesy(client, user)
    assert owed(items) == {
        ("report_back", ben["id"], cora_interview["id"]),
        ("thank_you", ben["id"], ben_interview["id"]),
    }
    (to_ben,) = [item for item in items if item["letter_kind"] == "report_back"]
    assert to_ben["kind"] == "report_back"
    assert to_ben["draft"] == {
        "kind": "report_back",
        "recipient_id": ben["id"],
        "interview_id": cora_interview["id"],
    }

    # The chain: Cora <- Ben (at Ben's interview) <- Ada (known directly, where it ends).
    r = client.get(f"{API}/contacts/{cora['id']}/chain", headers=user.headers)
    assert r.status_code == 200, r.text
    chain = r.json()
    assert chain["contact"]["id"] == cora["id"]
    assert [link["referrer"]["id"] for link in chain["links"]] == [ben["id"], ada["id"]]
    assert [link["referral_id"] for link in chain["links"]] == [
        cora_lead["referral"]["id"],
        ada_to_ben["id"],
    ]
    assert [link["interview_id"] for link in chain["links"]] == [ben_interview["id"], None]
    assert chain["has_more"] is False

    # The warm path to Northwood Parks (any case): Ada -> Ben -> Cora, the only one.
    r = client.get(f"{API}/paths", params={"organization": "northwood PARKS"}, headers=user.headers)
    assert r.status_code == 200, r.text
    found = r.json()
    assert found["has_more"] is False
    (path,) = found["data"]
    assert [step["contact"]["id"] for step in path["steps"]] == [ada["id"], ben["id"], cora["id"]]
    assert path["length"] == 3
    assert [step["referral_id"] for step in path["steps"]] == [
        None,
        ada_to_ben["id"],
        cora_lead["referral"]["id"],
    ]

    # The figures, by hand. Two interviews were asked for: Ben's (held) and Cora's (thanked);
    # Ada and Dev were never interviewed.
    body = stats(client, user)
    assert body["group_by"] == "none" and body["groups_left_out"] == 0
    (group,) = body["groups"]
    assert group["interviews"] == 2
    assert states(group) == {
        "request": 0,
        "prepared": 0,
        "held": 1,  # Ben's
        "thanked": 1,  # Cora's
        "reported-back": 0,
        "cancelled": 0,
    }
    s = steps(group)
    # request -> prepared and prepared -> held: both interviews made both moves: 2 of 2.
    assert (s["request"]["reached"], s["request"]["advanced"]) == (2, 2)
    assert s["request"]["conversion"] == approx(1.0)
    assert (s["prepared"]["reached"], s["prepared"]["advanced"]) == (2, 2)
    assert s["prepared"]["conversion"] == approx(1.0)
    # held -> thanked: both held, only Cora's thanked: 1 of 2.
    assert (s["held"]["reached"], s["held"]["advanced"]) == (2, 1)
    assert s["held"]["conversion"] == approx(0.5)
    # thanked -> reported-back: Cora's reached thanked, nobody has reported back: 0 of 1.
    assert (s["thanked"]["reached"], s["thanked"]["advanced"]) == (1, 0)
    assert s["thanked"]["conversion"] == approx(0.0)
    # Held 2 (Ben's, Cora's); Cora thanked an hour after her interview, Ben not at all: 1 of 2.
    c = group["courtesy"]
    assert (c["held"], c["thanked_within_24h"]) == (2, 1)
    assert c["thanked_within_24h_share"] == approx(0.5)
    # Both held interviews have a referrer (Ada, Ben); neither has heard back: 0 of 2.
    assert (c["to_report_back"], c["reported_back_within_7d"]) == (2, 0)
    assert c["reported_back_within_7d_share"] == approx(0.0)
    # Referrals given by the people interviewed: Ben's two leads (Cora gave none; Ada's
    # referral of Ben does not count, she was not interviewed): 2 over 2 held interviews = 1.
    assert group["referrals_given"] == 2
    assert group["referrals_per_held_interview"] == approx(1.0)
    # Ada's lead led to one held interview (Ben's), Ben's to one (Cora's); a tie, by name.
    assert [(t["contact_id"], t["held_interviews"]) for t in group["top_referrers"]] == [
        (ada["id"], 1),
        (ben["id"], 1),
    ]

    # Search: "arboriculture" is only in one of Ben's answers.
    found = search(client, user, "arboriculture")
    assert ids(found) == [ben_interview["id"]]
    (hit,) = found["data"]
    assert hit["kind"] == "interview" and hit["contact_id"] == ben["id"]
    assert "<mark>" in hit["snippet"] and found["has_more"] is False

    # The urban forestry brief (by Ben's own field, any case) holds what Ben said; Cora's
    # interview has no field and Cora none either, so it is not in it.
    body = brief(client, user, FIELD.upper())
    assert body["interviews_total"] == 1 and body["interviews_left_out"] == 0
    assert [i["interview_id"] for i in body["interviews"]] == [ben_interview["id"]]
    assert [(a["contact_name"], a["text"]) for a in body["advice"]] == [
        ("Ben Birch", WHAT_BEN_SAID["advice"])
    ]
    assert [(q["question"], [a["answer"] for a in q["answers"]]) for q in body["questions"]] == [
        (q["question"], [q["answer"]]) for q in WHAT_BEN_SAID["questions"]
    ]
    assert [n["text"] for n in body["next_steps"]] == [WHAT_BEN_SAID["next_steps"]]
