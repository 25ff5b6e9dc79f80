"""The search's pieces: reading the words, the migration's indexes, the round trip it costs."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlmodel import SQLModel

from app.kit.config import Settings
from app.kit.migrations import downgrade, upgrade
from app.search import repository
from app.search.schemas import compared_with_models
from app.search.terms import Terms, read
from tests.factories import register
from tests.factories_contacts import create_contact
from tests.factories_interviews import create_interview
from tests.kit.test_round_trips import CountingProxy, round_trips
from tests.kit.test_round_trips import counted as counted

BEFORE_SEARCH = "b3e7a9c1d567"


class TestReadingTheWords:
    def test_words_phrases_and_words_left_out(self) -> None:
        terms = read('Coffee  "Quiet Room" -noise -"open plan" chat')
        assert terms.wanted == (("coffee",), ("quiet", "room"), ("chat",))
        assert terms.unwanted == (("noise",), ("open", "plan"))
        assert terms.fts5() == '("coffee" "quiet room" "chat") NOT ("noise" OR "open plan")'
        assert terms.websearch() == '"coffee" "quiet room" "chat" -"noise" -"open plan"'

    def test_punctuation_and_either_syntax_only_separate_words(self) -> None:
        # A run of words joined by punctuation is a phrase, as "e-mail" is in either index.
        assert read('NEAR(a b, 2) OR c* ^d name:e "f').wanted == (
            ("near", "a"),
            ("b",),
            ("2",),
            ("or",),
            ("c",),
            ("d",),
            ("name", "e"),
            ("f",),
        )
        assert read("e-mail O'Neil snake_case").wanted == (
            ("e", "mail"),
            ("o", "neil"),
            ("snake", "case"),
        )
        assert read("Résumé Café").fts5() == '"résumé" "café"'

    def test_nothing_to_look_for(self) -> None:
        for text in ("", "   ", "!!!", '""', "- -- *", "-alone", '-"only out"', "🚀 ∑"):
            assert not read(text), text
        assert read("a a A").wanted == (("a",),)
        assert bool(Terms((("a",),)))

    def test_decomposed_accents_are_composed_first(self) -> None:
        assert read("re\u0301sume\u0301").wanted == (("résumé",),)


def test_the_schema_matches_the_models_but_for_the_search_indexes(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            options = {"compare_type": True, "include_name": compared_with_models}
            context = MigrationContext.configure(conn, opts=options)
            assert list(compare_metadata(context, SQLModel.metadata)) == []
    finally:
        engine.dispose()


def test_the_migration_indexes_the_rows_already_there(
    client: TestClient, settings: Settings
) -> None:
    user = register(client)
    contact = create_contact(client, user, full_name="Vera", notes="An old note on lichens.")
    interview = create_interview(
        client, user, questions=[{"question": "Why?", "answer": "For the lichens."}]
    )
    downgrade(settings.database_url, BEFORE_SEARCH)
    upgrade(settings.database_url)
    r = client.get("/api/v1/search", params={"q": "lichen"}, headers=user.headers)
    assert r.status_code == 200, r.text
    assert {hit["id"] for hit in r.json()["data"]} == {contact["id"], interview["id"]}
    # And the triggers are back.
    client.patch(f"/api/v1/contacts/{contact['id']}", json={"notes": "ferns"}, headers=user.headers)
    r = client.get("/api/v1/search", params={"q": "lichen"}, headers=user.headers)
    assert [hit["id"] for hit in r.json()["data"]] == [interview["id"]]


def test_a_search_is_one_round_trip_on_postgresql(
    counted: tuple[TestClient, CountingProxy],
) -> None:
    client, proxy = counted
    user = register(client)
    contact = create_contact(client, user, full_name="Wanda", notes="heron")
    create_interview(client, user, contact_id=contact["id"], notes="heron")
    client.get("/api/v1/search", params={"q": "heron"}, headers=user.headers)  # warm the pool
    for q in ("heron", "heron -egret", "nothing-here", "!!!"):
        found = round_trips(
            client, proxy, "GET", "/api/v1/search", params={"q": q}, headers=user.headers
        )
        assert found == 1, q


def test_a_common_word_ranks_only_the_newest_matches(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repository, "RANKED_WINDOW", 2)
    user = register(client)
    oldest = create_contact(client, user, full_name="Puffin", notes="puffin puffin")
    newer = [
        create_contact(client, user, full_name=f"Tern {i}", notes=f"saw a puffin, day {i}")
        for i in range(3)
    ]
    body = client.get("/api/v1/search", params={"q": "puffin"}, headers=user.headers).json()
    # The best match by far is out of reach: only the two newest matches were ranked.
    assert {hit["id"] for hit in body["data"]} == {newer[1]["id"], newer[2]["id"]}
    assert oldest["id"] not in {hit["id"] for hit in body["data"]}
    # A word more brings it back.
    body = client.get("/api/v1/search", params={"q": "puffin -tern"}, headers=user.headers).json()
    assert [hit["id"] for hit in body["data"]] == [oldest["id"]]
