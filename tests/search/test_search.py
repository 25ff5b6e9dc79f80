"""Search across contacts, interviews and letters, on both databases, through the API."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from app.kit.config import Settings
from tests.accounts.test_access_tokens import bearer, create_token
from tests.factories import User, assert_problem, register
from tests.factories_contacts import create_contact
from tests.factories_interviews import create_interview
from tests.factories_letters import create_letter

SEARCH = "/api/v1/search"


def search(client: TestClient, user: User, q: str, **params: Any) -> dict[str, Any]:
    r = client.get(SEARCH, params={"q": q, **params}, headers=user.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def ids(body: dict[str, Any]) -> list[str]:
    return [hit["id"] for hit in body["data"]]


def hit_for(body: dict[str, Any], record_id: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [hit for hit in body["data"] if hit["id"] == record_id]
    (hit,) = found
    return hit


def assert_index_intact(settings: Settings) -> None:
    """SQLite: each FTS5 index agrees with its content (every trigger did its part)."""
    if not settings.database_url.startswith("sqlite"):
        return
    engine = create_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            for index in ("search_contact", "search_interview", "search_letter"):
                conn.execute(text(f"INSERT INTO {index}({index}) VALUES ('integrity-check')"))
    finally:
        engine.dispose()


@pytest.fixture
def user(client: TestClient) -> User:
    return register(client)


class TestWhatIsFound:
    def test_a_word_only_in_an_interviews_answer(self, client: TestClient, user: User) -> None:
        contact = create_contact(client, user, full_name="Ada Lovelace")
        interview = create_interview(
            client,
            user,
            contact_id=contact["id"],
            notes="We met for coffee.",
            questions=[
                {"question": "What would you do first?", "answer": "Learn to fly a zeppelin."},
                {"question": "Anything else?"},
            ],
        )
        body = search(client, user, "zeppelin")
        assert ids(body) == [interview["id"]]
        hit = body["data"][0]
        assert hit["kind"] == "interview"
        assert hit["contact_id"] == contact["id"]
        assert hit["title"] == "Interview with Ada Lovelace"
        assert "<mark>zeppelin</mark>" in hit["snippet"]
        assert body["has_more"] is False

    def test_advice_next_steps_and_a_question_itself(self, client: TestClient, user: User) -> None:
        interview = create_interview(
            client,
            user,
            questions=[{"question": "How did the apprenticeship start?"}],
            advice="Keep a logbook.",
            next_steps="Call the harbourmaster.",
        )
        for word in ("apprenticeship", "logbook", "harbourmaster"):
            assert ids(search(client, user, word)) == [interview["id"]], word

    def test_contact_fields_and_letters(self, client: TestClient, user: User) -> None:
        contact = create_contact(
            client,
            user,
            full_name="Grace Hopper",
            organization="Navy Yard",
            title="Rear Admiral",
            tags=["compilers"],
            notes="Handed out nanoseconds.",
        )
        for word in ("Hopper", "yard", "admiral", "compilers", "nanoseconds"):
            body = search(client, user, word)
            assert ids(body) == [contact["id"]], word
        assert body["data"][0]["title"] == "Grace Hopper — Rear Admiral, Navy Yard"
        letter = create_letter(
            client,
            user,
            recipient_id=contact["id"],
            kind="keep_in_touch",
            subject="Our talk about bugs",
            body="Thank you for the story of the moth in the relay.",
        )
        body = search(client, user, "moth")
        assert ids(body) == [letter["id"]]
        assert (
            body["data"][0]["title"] == "Keep-in-touch letter to Grace Hopper: Our talk about bugs"
        )
        assert body["data"][0]["contact_id"] == contact["id"]
        assert ids(search(client, user, "bugs")) == [letter["id"]]

    def test_stemming(self, client: TestClient, user: User) -> None:
        interview = create_interview(client, user, notes="Three interviews this week.")
        body = search(client, user, "interviewing")
        assert ids(body) == [interview["id"]]
        assert "<mark>interviews</mark>" in body["data"][0]["snippet"]

    def test_accents_are_folded_both_ways(self, client: TestClient, user: User) -> None:
        resume = create_contact(client, user, full_name="Renée Dupont", notes="Sent my résumé.")
        cafe = create_contact(client, user, full_name="Bo", organization="Café Lumière")
        plain = create_contact(client, user, full_name="Cy", notes="Met at the cafe downstairs.")
        body = search(client, user, "resume")
        assert ids(body) == [resume["id"]]
        # The passage keeps the record's own letters, and marks the word found.
        assert "<mark>résumé</mark>" in body["data"][0]["snippet"]
        assert set(ids(search(client, user, "cafe"))) == {cafe["id"], plain["id"]}
        assert set(ids(search(client, user, "CAFÉ"))) == {cafe["id"], plain["id"]}
        assert ids(search(client, user, "renee")) == [resume["id"]]
        assert "<mark>Café</mark>" in hit_for(search(client, user, "cafe"), cafe["id"])["snippet"]

    def test_every_word_must_be_found(self, client: TestClient, user: User) -> None:
        both = create_contact(client, user, full_name="Di", notes="Coffee chat on Tuesday.")
        create_contact(client, user, full_name="Ed", notes="Coffee only.")
        assert ids(search(client, user, "coffee tuesday")) == [both["id"]]
        assert ids(search(client, user, "coffee wednesday")) == []

    def test_phrases_and_words_left_out(self, client: TestClient, user: User) -> None:
        first = create_contact(client, user, full_name="Fa", notes="a coffee chat")
        second = create_contact(client, user, full_name="Gu", notes="chat with espresso and coffee")
        assert ids(search(client, user, '"coffee chat"')) == [first["id"]]
        assert set(ids(search(client, user, "coffee chat"))) == {first["id"], second["id"]}
        assert ids(search(client, user, "coffee -espresso")) == [first["id"]]
        assert ids(search(client, user, 'chat -"coffee chat"')) == [second["id"]]
        # Only words to leave out: nothing to look for.
        assert ids(search(client, user, "-coffee")) == []


class TestRankingAndSnippets:
    def test_a_name_outranks_a_mention_in_a_long_text(self, client: TestClient, user: User) -> None:
        filler = " ".join(["We talked about the market and the team."] * 20)
        named = create_contact(client, user, full_name="Marguerite Quimby")
        other = create_contact(client, user, full_name="Hal")
        mention = create_letter(
            client, user, recipient_id=other["id"], body=f"{filler} Say hello to Quimby. {filler}"
        )
        noted = create_interview(
            client, user, contact_id=other["id"], notes=f"{filler} Quimby was there."
        )
        order = ids(search(client, user, "quimby"))
        assert order[0] == named["id"]
        assert set(order) == {named["id"], mention["id"], noted["id"]}

    def test_more_of_the_words_ranks_higher(self, client: TestClient, user: User) -> None:
        filler = "We went over the plan for the spring and the budget. " * 3
        once = create_contact(client, user, full_name="Io", notes=f"{filler} Gardening.")
        often = create_contact(
            client, user, full_name="Jo", notes="Gardening, gardening and more gardening."
        )
        assert ids(search(client, user, "gardening")) == [often["id"], once["id"]]

    def test_the_snippet_is_escaped_html_around_the_words(
        self, client: TestClient, user: User
    ) -> None:
        contact = create_contact(
            client,
            user,
            full_name="Kai",
            notes='Kai said: «ask about the zeppelin» & co <script>alert("x")</script>',
        )
        snippet = search(client, user, "zeppelin")["data"][0]["snippet"]
        assert "<script>" not in snippet
        assert "&lt;script&gt;" in snippet
        assert "&amp; co" in snippet
        assert "<mark>zeppelin</mark>" in snippet
        assert snippet.replace("<mark>", "").replace("</mark>", "").count("<") == 0
        assert search(client, user, "kai")["data"][0]["id"] == contact["id"]

    def test_a_long_text_is_cut_around_the_words(self, client: TestClient, user: User) -> None:
        before = " ".join(f"word{i}" for i in range(200))
        after = " ".join(f"more{i}" for i in range(200))
        create_interview(client, user, notes=f"{before} the zeppelin landed {after}")
        snippet = search(client, user, "zeppelin")["data"][0]["snippet"]
        assert "<mark>zeppelin</mark>" in snippet
        assert snippet.startswith("…") and snippet.endswith("…")
        assert len(snippet) < 400


class TestScope:
    def test_another_users_records_are_never_found(self, client: TestClient, user: User) -> None:
        other = register(client)
        theirs = create_contact(client, other, full_name="Zeppelin Owner", notes="zeppelin")
        create_interview(client, other, contact_id=theirs["id"], notes="zeppelin")
        create_letter(client, other, recipient_id=theirs["id"], body="zeppelin")
        mine = create_contact(client, user, full_name="Lu", notes="A zeppelin passed.")
        assert ids(search(client, user, "zeppelin")) == [mine["id"]]
        assert len(search(client, other, "zeppelin")["data"]) == 3

    def test_kinds_and_limit(self, client: TestClient, user: User) -> None:
        contact = create_contact(client, user, full_name="Mo", notes="walrus")
        interview = create_interview(client, user, contact_id=contact["id"], notes="walrus")
        letter = create_letter(client, user, recipient_id=contact["id"], body="walrus")
        everything = {contact["id"], interview["id"], letter["id"]}
        assert set(ids(search(client, user, "walrus"))) == everything
        assert ids(search(client, user, "walrus", kind="interview")) == [interview["id"]]
        assert set(ids(search(client, user, "walrus", kind="contact,letter"))) == {
            contact["id"],
            letter["id"],
        }
        r = client.get(
            SEARCH,
            params=[("q", "walrus"), ("kind", "letter"), ("kind", "contact")],
            headers=user.headers,
        )
        assert set(ids(r.json())) == {contact["id"], letter["id"]}
        body = search(client, user, "walrus", limit=2)
        assert len(body["data"]) == 2 and body["has_more"] is True
        body = search(client, user, "walrus", limit=3)
        assert len(body["data"]) == 3 and body["has_more"] is False
        for bad in ("contacts", "contact,", "contact;letter", "", "CONTACT"):
            r = client.get(SEARCH, params={"q": "walrus", "kind": bad}, headers=user.headers)
            assert_problem(r, 422)
        for limit in (0, 51, "x"):
            r = client.get(SEARCH, params={"q": "walrus", "limit": limit}, headers=user.headers)
            assert_problem(r, 422)

    def test_a_token_needs_insights_read(self, client: TestClient, user: User) -> None:
        create_contact(client, user, full_name="Ned", notes="otter")
        refused = create_token(client, user, ["contacts:read", "interviews:read", "letters:read"])
        r = client.get(SEARCH, params={"q": "otter"}, headers=bearer(refused["token"]))
        assert_problem(r, 403, "insufficient_scope")
        allowed = create_token(client, user, ["insights:read"])
        r = client.get(SEARCH, params={"q": "otter"}, headers=bearer(allowed["token"]))
        assert r.status_code == 200, r.text
        assert len(r.json()["data"]) == 1

    def test_it_needs_a_token_of_a_live_account(self, client: TestClient, user: User) -> None:
        assert_problem(client.get(SEARCH, params={"q": "otter"}), 401)
        assert client.delete("/api/v1/me", headers=user.headers).status_code < 300
        for q in ("otter", "!!!"):
            assert_problem(client.get(SEARCH, params={"q": q}, headers=user.headers), 401)


class TestTheIndexKeepsUp:
    def test_updates_and_deletes(self, client: TestClient, user: User, settings: Settings) -> None:
        contact = create_contact(client, user, full_name="Oz", notes="platypus")
        interview = create_interview(client, user, contact_id=contact["id"], notes="nothing")
        letter = create_letter(client, user, recipient_id=contact["id"], body="hello there")
        assert ids(search(client, user, "platypus")) == [contact["id"]]

        r = client.patch(
            f"/api/v1/contacts/{contact['id']}", json={"notes": "axolotl"}, headers=user.headers
        )
        assert r.status_code == 200, r.text
        assert ids(search(client, user, "platypus")) == []
        assert ids(search(client, user, "axolotl")) == [contact["id"]]
        r = client.patch(
            f"/api/v1/contacts/{contact['id']}",
            json={"full_name": "Ozymandias"},
            headers=user.headers,
        )
        assert r.status_code == 200, r.text
        assert ids(search(client, user, "ozymandias")) == [contact["id"]]
        assert ids(search(client, user, "axolotl")) == [contact["id"]]

        r = client.patch(
            f"/api/v1/interviews/{interview['id']}",
            json={"questions": [{"question": "Why?", "answer": "Because of the pangolin."}]},
            headers=user.headers,
        )
        assert r.status_code == 200, r.text
        assert ids(search(client, user, "pangolin")) == [interview["id"]]
        r = client.patch(
            f"/api/v1/interviews/{interview['id']}",
            json={"questions": [{"question": "Why?", "answer": "No reason."}]},
            headers=user.headers,
        )
        assert r.status_code == 200, r.text
        assert ids(search(client, user, "pangolin")) == []

        r = client.patch(
            f"/api/v1/letters/{letter['id']}",
            json={"body": "About the narwhal."},
            headers=user.headers,
        )
        assert r.status_code == 200, r.text
        assert ids(search(client, user, "narwhal")) == [letter["id"]]
        assert ids(search(client, user, "hello")) == []
        assert_index_intact(settings)

        assert (
            client.delete(f"/api/v1/letters/{letter['id']}", headers=user.headers).status_code
            == 204
        )
        assert ids(search(client, user, "narwhal")) == []
        r = client.delete(f"/api/v1/interviews/{interview['id']}", headers=user.headers)
        assert r.status_code == 204, r.text
        r = client.delete(f"/api/v1/contacts/{contact['id']}", headers=user.headers)
        assert r.status_code == 204, r.text
        assert ids(search(client, user, "axolotl")) == []
        assert_index_intact(settings)

    def test_a_deleted_account_leaves_nothing_behind(
        self, client: TestClient, user: User, settings: Settings
    ) -> None:
        contact = create_contact(client, user, full_name="Pia", notes="capybara")
        create_interview(client, user, contact_id=contact["id"], notes="capybara")
        create_letter(client, user, recipient_id=contact["id"], body="capybara")
        assert client.delete("/api/v1/me", headers=user.headers).status_code < 300
        assert_index_intact(settings)
        other = register(client)
        mine = create_contact(client, other, full_name="Quin", notes="capybara")
        assert ids(search(client, other, "capybara")) == [mine["id"]]

    def test_imports_are_indexed(self, client: TestClient, user: User) -> None:
        contact = create_contact(client, user, full_name="Rhea", notes="Loves the okapi.")
        interview = create_interview(
            client,
            user,
            contact_id=contact["id"],
            questions=[{"question": "Favourite animal?", "answer": "The okapi."}],
        )
        exported = client.get("/api/v1/export", headers=user.headers)
        assert exported.status_code == 200, exported.text
        newcomer = register(client)
        r = client.post("/api/v1/import", json=exported.json(), headers=newcomer.headers)
        assert r.status_code == 200, r.text
        found = search(client, newcomer, "okapi")["data"]
        assert {hit["kind"] for hit in found} == {"contact", "interview"}
        assert not {hit["id"] for hit in found} & {contact["id"], interview["id"]}

        csv = "full_name,organization,title\nSid Vole,Quokka Labs,Keeper\n"
        r = client.post(
            "/api/v1/contacts/import",
            content=csv.encode(),
            headers={**user.headers, "Content-Type": "text/csv"},
        )
        assert r.status_code < 300, r.text
        (hit,) = search(client, user, "quokka")["data"]
        assert hit["title"] == "Sid Vole — Keeper, Quokka Labs"


HOSTILE = [
    '"',
    '""',
    '"unclosed phrase',
    "*",
    "zeppelin*",
    "NEAR(zeppelin",
    "NEAR(a b, 2)",
    "zeppelin OR",
    "OR AND NOT",
    "- -- -zeppelin",
    "name:zeppelin",
    "{full_name}: x",
    "^zeppelin",
    "!!!",
    "&|!<->():*'",
    "zeppelin & !dirigible",
    "a <-> b",
    "'; DROP TABLE contact; --",
    "\\",
    "%_%",
    "\u202e\u200b",
    "🚀 zeppelin",
    "x" * 200,
    " ".join(["zeppelin"] * 22),
]


def test_hostile_queries_are_answered_never_a_500(client: TestClient, user: User) -> None:
    mine = create_contact(client, user, full_name="Tom", notes="zeppelin dirigible")
    for q in HOSTILE:
        r = client.get(SEARCH, params={"q": q}, headers=user.headers)
        assert r.status_code == 200, (q, r.text)
        assert set(ids(r.json())) <= {mine["id"]}, q
    assert ids(search(client, user, "NEAR(zeppelin")) == []  # "near" is a word to find, too
    assert ids(search(client, user, "zeppelin*")) == [mine["id"]]
    assert ids(search(client, user, "- -- -zeppelin")) == []
    for q in ("", "x" * 201, "zeppelin\x00"):
        r = client.get(SEARCH, params={"q": q}, headers=user.headers)
        assert_problem(r, 422)
    assert_problem(client.get(SEARCH, headers=user.headers), 422)
