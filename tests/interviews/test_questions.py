"""GET /api/v1/questions/suggested: the bank of informational-interview questions."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.letters.job_ask import find_job_ask
from app.questions import suggested
from tests.factories import assert_problem, register

URL = "/api/v1/questions/suggested"
TOPICS = ["field", "typical_day", "entry_paths", "skills", "organization", "advice"]


class TestSuggested:
    def test_questions_grouped_by_topic(self, client: TestClient) -> None:
        user = register(client)
        r = client.get(URL, headers=user.headers)
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "private, max-age=3600"
        topics = r.json()["topics"]
        assert [t["topic"] for t in topics] == TOPICS
        assert [t["title"] for t in topics] == [
            "The field",
            "A typical day",
            "Entry paths",
            "Skills",
            "The organization",
            "Advice",
        ]
        for topic in topics:
            assert set(topic) == {"topic", "title", "questions"}
            assert len(topic["questions"]) >= 6, topic["topic"]

    def test_needs_a_token(self, client: TestClient) -> None:
        r = client.get(URL)
        assert_problem(r, 401)
        assert r.headers["www-authenticate"] == "Bearer"


def test_every_question_is_a_distinct_question_that_asks_for_no_job() -> None:
    questions = [q for topic in suggested().topics for q in topic.questions]
    assert len(questions) == len(set(questions))
    for question in questions:
        assert question.endswith("?") and question[0].isupper(), question
        assert len(question) <= 200
        assert find_job_ask(question) is None, question
