"""The job-ask check: real asks are caught, ordinary sentences with the same words pass.

The sentence lists are the contract of ``app/letters/job_ask_phrases.txt``: whoever edits the
phrases adds to both sides here.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.letters.job_ask import (
    PHRASEBOOK,
    PhrasebookError,
    find_job_ask,
    find_job_asks,
    normalise,
    parse_phrasebook,
)
from tests.accounts.test_access_tokens import bearer, create_token
from tests.factories import assert_problem, register
from tests.factories_letters import (
    create_letter,
    make_contact,
    make_interview,
    make_referral,
    send_letter,
)

ASKS = [
    "Do you have any openings for me?",
    "Are you hiring?",
    "Do you have a position for me?",
    "I am looking for a job at your company.",
    "Can you offer me a job?",
    "Job offer",
    "Would you hire me?",
    "Please consider me for the analyst role.",
    "I am interested in employment with your firm.",
    "I have attached my resume.",
    "Please find enclosed my CV.",
    "I'm sending you my résumé.",
    "Could you refer me for a role on your team?",
    "Could you put in a good word for me with HR?",
    "I would like to apply for a position with you.",
    "Is your company hiring right now?",
    "I'd love to work for your company.",
    "Would you keep me in mind for future openings?",
    "Please let me know if a position opens up.",
    "Are there any internships at your firm?",
    "My CV is attached for your consideration.",
    "Could you pass my resume to the hiring manager?",
    "Could you introduce me to your recruiter?",
    "I hope you can find me a role on your team.",
    "Any chance of an internship with you this summer?",
    "I'm writing to ask for a job.",
    "Could you help me with my job search?",
    "Would there be a place for me on your team?",
    "I'm available to start in June.",
    "Could you take me on as an intern?",
    "Would your firm be open to hiring me?",
    "My salary expectations are modest.",
    "JOB INQUIRY",
    "I\u2019d love to join your team.",
    "WOULD YOU HIRE ME???",
    "I'm looking for a job.",
    "\uff28\uff29\uff32\uff25 \uff2d\uff25",  # full-width "HIRE ME"
    "Are there any job openings at your company?",
    "Do you have any entry-level positions?",
    "Let me know of any openings you hear about.",
    "Is there a job for me at Acme?",
    "Could you forward my CV to HR?",
    "I would love to hear if anything opens up on your team.",
    "I'd like to apply to your firm.",
    "Would you refer me to the hiring manager?",
    "Thanks again!\n\nP.S. here's my resume, in case anything comes up.",
]

INNOCENT = [
    "my job as a teacher",
    "the job market in accounting",
    "what does your role involve?",
    "how did you find your first position?",
    "which skills does the role require",
    "I enjoyed hearing about your career",
    "I am not asking for a job; I only hope to learn about your field.",
    "I'm not looking for a job, just your perspective.",
    "This is not a request for a job.",
    "I don't expect you to hire me; I'm here to learn.",
    "Do you have any openings in your calendar next week for a short call?",
    "I'd love to hear how you got your start in marketing.",
    "What is the job market like for new accountants?",
    "How did you land your first job out of school?",
    "Which positions in your department work most with clients?",
    "Thank you for explaining how hiring decisions are made at your firm.",
    "I have been applying the advice you gave me about networking.",
    "Would you refer me to a colleague who works in audit?",
    "Thank you for sharing your position on remote work.",
    "I will send you my notes from our conversation.",
    "What does a typical day in a role at your company look like?",
    "Are there many job openings in accounting these days?",
    "How do people usually hear about openings in this field?",
    "When your firm is hiring, what do you look for in a candidate?",
    "I would love to join you for coffee next week.",
    "Thank you for the advice on how to write a cover letter.",
    "Could you give me some advice on breaking into web development?",
    "Which roles on your team work with data?",
    "Is there a role for statistics in marketing?",
    "Do you have a role in the hiring process?",
    "How did you decide to apply to your company?",
    "Let me know if anything comes up that would change our meeting time.",
    "I've attached the article I mentioned during our conversation.",
    "What was the hardest part of your job search after graduation?",
    "Your advice on my resume format was very helpful.",
    "What would you look for on a resume in this field?",
    "How important are internships for someone entering the field?",
    "I especially appreciated your advice to join a professional association.",
]


@pytest.mark.parametrize("sentence", ASKS)
def test_asks_are_caught(sentence: str) -> None:
    found = find_job_ask(sentence)
    assert found is not None, sentence
    assert found.phrase in sentence  # quoted as written, not as normalised
    assert found.pattern in {phrase.source for phrase in PHRASEBOOK.phrases}


@pytest.mark.parametrize("sentence", INNOCENT)
def test_innocent_sentences_pass(sentence: str) -> None:
    found = find_job_ask(sentence)
    assert found is None, f"{sentence!r} was taken for a job ask: {found}"


def test_both_sides_are_well_stocked() -> None:
    assert len(ASKS) >= 25 and len(INNOCENT) >= 25
    assert len(PHRASEBOOK.phrases) >= 40


def test_the_phrase_is_quoted_as_written_and_the_earliest_wins() -> None:
    text = "Dear Ms. Lee,\nThank you! By the way, Are  You Hiring? Also, hire me."
    found = find_job_ask(text)
    assert found is not None
    assert found.phrase == "Are  You Hiring"
    found = find_job_ask("Please find attached my r\u00e9sum\u00e9.")
    assert found is not None and found.phrase == "attached my r\u00e9sum\u00e9"


def test_matches_stay_inside_a_sentence() -> None:
    # "any openings" and "for me" would make an ask, but a sentence ends between them.
    assert find_job_ask("Do you have any openings for me next week?") is not None
    assert find_job_ask("Do you have any openings next week? For me, mornings are best.") is None


def test_normalisation() -> None:
    assert normalise("I\u2019d  LOVE\u2014a R\u00e9sum\u00e9!") == "i d love a resume"
    assert normalise("\u201cHire\u201d   me\t\n") == "hire me"
    assert normalise("\uff28\uff29\uff32\uff25") == "hire"
    assert normalise("e\u0301cole") == "ecole"
    assert normalise("---") == ""


def test_text_shorthand_is_spelled_out() -> None:
    assert normalise("could u lmk if ur team's hiring rn, pls?") == (
        "could you let me know if your team s hiring now please"
    )
    assert normalise("Uganda, urgent, plus") == "uganda urgent plus"  # whole words only
    text = "pls put in a good word for me w ur boss"
    found = find_job_ask(text)
    assert found is not None and text[found.start : found.end] == found.phrase
    assert find_job_ask("lmk if anything opens up at ur clinic") is not None


class TestPatternLanguage:
    def test_gaps_alternatives_optionals_prefixes_and_macros(self) -> None:
        book = parse_phrasebook(
            "# a comment\n"
            "negate: not\n"
            "@thing = (cv|curriculum vitae)\n"
            "attach* {0,2} my @thing  # trailing comment\n"
            "(big|very large)? cat\n"
        )
        assert [p.source for p in book.phrases] == [
            "attach* {0,2} my @thing",
            "(big|very large)? cat",
        ]
        assert book.find("I attached my CV") is not None
        assert book.find("attaching here my curriculum vitae") is not None
        assert book.find("attach it to my cv") is not None
        assert book.find("attach one two three my cv") is None  # gap too wide
        assert book.find("attachment of my dog") is None
        found = book.find("A very large cat.")
        assert found is not None and found.phrase == "very large cat"
        assert book.find("a category") is None  # whole words only
        assert book.find("I did not attach my CV") is None  # negated

    @pytest.mark.parametrize(
        "text",
        [
            "(unclosed group",
            "closed) group",
            "(a||b)",
            "? word",
            "word {3,1}",
            "word {0,99}",
            "@undefined thing",
            "(optional)?",
            "{0,2}",
            "bad*word",
            "# only comments\n",
        ],
    )
    def test_malformed_phrasebooks_are_refused(self, text: str) -> None:
        with pytest.raises(PhrasebookError):
            parse_phrasebook(text)


class TestOverTheApi:
    """The check as clients meet it: 422 job_ask naming the phrase, feelers excepted."""

    def test_non_feeler_letters_may_not_ask(self, client: TestClient) -> None:
        user = register(client)
        interview = make_interview(client, user, state="held")
        interviewee = interview["contact_id"]
        referrer = make_contact(client, user)["id"]
        make_referral(client, user, referrer, interviewee)
        recipients = {"report_back": referrer}
        asks: list[dict[str, Any]] = [
            {"body": "Thank you so much. Do you have any openings for me?"},
            {"subject": "Job offer?", "body": "Thanks for your time."},
        ]
        for kind in ["request", "follow_up", "thank_you", "report_back", "update"]:
            for ask in asks:
                r = client.post(
                    "/api/v1/letters",
                    json={
                        "kind": kind,
                        "recipient_id": recipients.get(kind, interviewee),
                        "interview_id": interview["id"],
                        **ask,
                    },
                    headers=user.headers,
                )
                problem = assert_problem(r, 422, "job_ask")
                field = "subject" if "subject" in ask else "body"
                assert problem["field"] == field
                assert problem["phrase"] in ask[field]
                assert f'"{problem["phrase"]}"' in problem["detail"]
                assert problem["errors"][0]["loc"] == ["body", field]
        r = client.post(
            "/api/v1/letters",
            json={"kind": "keep_in_touch", "recipient_id": interviewee, "body": "Are you hiring?"},
            headers=user.headers,
        )
        assert assert_problem(r, 422, "job_ask")["phrase"] == "Are you hiring"
        assert client.get("/api/v1/letters", headers=user.headers).json()["data"] == []

    def test_edits_may_not_slip_an_ask_in(self, client: TestClient) -> None:
        user = register(client)
        letter = create_letter(client, user)
        url = f"/api/v1/letters/{letter['id']}"
        r = client.patch(url, json={"body": "P.S. I have attached my CV."}, headers=user.headers)
        assert assert_problem(r, 422, "job_ask")["phrase"] == "attached my CV"
        r = client.patch(url, json={"subject": "Hire me"}, headers=user.headers)
        assert assert_problem(r, 422, "job_ask")["field"] == "subject"
        assert client.get(url, headers=user.headers).json() == letter

    def test_a_feeler_may_ask(self, client: TestClient) -> None:
        user = register(client)
        interview = make_interview(client, user, state="thanked", decision="pursue")
        feeler = create_letter(
            client,
            user,
            kind="feeler",
            recipient_id=interview["contact_id"],
            interview_id=interview["id"],
            subject="Any openings for me?",
            body="I have decided to pursue accounting; I have attached my resume and would be "
            "grateful to hear of any openings at your firm.",
        )
        assert send_letter(client, user, feeler["id"])["status"] == "sent"
        # ... but turning it into another kind brings the check back.
        draft = create_letter(
            client,
            user,
            kind="feeler",
            recipient_id=interview["contact_id"],
            interview_id=interview["id"],
            body="Are you hiring?",
        )
        r = client.patch(
            f"/api/v1/letters/{draft['id']}", json={"kind": "update"}, headers=user.headers
        )
        assert_problem(r, 422, "job_ask")


class TestActs:
    """Each ask says what it does, why that reads as a job request, and what to ask instead."""

    def test_every_act_explains_itself(self) -> None:
        acts = {phrase.act for phrase in PHRASEBOOK.phrases}
        assert len(acts) >= 6
        for act in acts:
            assert act.why.endswith(".") and act.instead.endswith("?"), act
            assert find_job_ask(act.instead) is None, f"the suggestion itself asks: {act}"

    def test_the_finding_names_its_sentence_and_where_the_phrase_is(self) -> None:
        text = "Thank you for your time. Could you forward my CV to the hiring manager? Best."
        found = find_job_ask(text)
        assert found is not None
        assert found.sentence == "Could you forward my CV to the hiring manager?"
        assert text[found.start : found.end] == found.phrase
        assert found.act.name == "forwarding"
        assert found.suggestion.endswith("?")

    def test_every_asking_sentence_is_listed_once(self) -> None:
        text = "Are you hiring? Hire me. Hire me, please! What does your role involve?"
        found = find_job_asks(text, limit=10)
        assert [f.sentence for f in found] == ["Are you hiring?", "Hire me.", "Hire me, please!"]
        assert len(find_job_asks(text, limit=2)) == 2

    def test_acts_and_exemptions_in_the_language(self) -> None:
        book = parse_phrasebook(
            "== begging\nwhy: It begs.\ninstead: May I ask?\nunless: how (do|does)\ngive me a job\n"
        )
        found = book.find("Please give me a job.")
        assert found is not None and found.act.name == "begging"
        assert found.why == "It begs." and found.suggestion == "May I ask?"
        assert book.find("How does one give me a job") is None  # a question about a process
        with pytest.raises(PhrasebookError):
            parse_phrasebook("== begging\nwhy: It begs.\ngive me a job\n")  # no instead:


class TestCheckEndpoint:
    def test_the_check_lists_each_ask_and_saves_nothing(self, client: TestClient) -> None:
        user = register(client)
        body = "Thanks for the chat. Could you forward my CV to HR? Are you hiring?"
        r = client.post(
            "/api/v1/letters/check",
            json={"kind": "thank_you", "subject": "Hire me", "body": body},
            headers=user.headers,
        )
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["asks_for_job"] is True and result["allowed"] is False
        fields = [(f["field"], f["sentence"]) for f in result["findings"]]
        assert fields == [
            ("subject", "Hire me"),
            ("body", "Could you forward my CV to HR?"),
            ("body", "Are you hiring?"),
        ]
        for finding in result["findings"]:
            text = body if finding["field"] == "body" else "Hire me"
            assert text[finding["start"] : finding["end"]] == finding["phrase"]
            assert finding["why"] and finding["suggestion"].endswith("?")
        assert client.get("/api/v1/letters", headers=user.headers).json()["data"] == []

    def test_a_feeler_may_ask_and_an_ordinary_text_passes(self, client: TestClient) -> None:
        user = register(client)
        r = client.post(
            "/api/v1/letters/check",
            json={"kind": "feeler", "body": "Are you hiring?"},
            headers=user.headers,
        )
        assert r.json()["asks_for_job"] is True and r.json()["allowed"] is True
        r = client.post(
            "/api/v1/letters/check",
            json={"kind": "request", "body": "How did you land your first job?"},
            headers=user.headers,
        )
        assert r.json() == {
            "kind": "request",
            "asks_for_job": False,
            "allowed": True,
            "findings": [],
        }

    def test_input_is_bounded_and_checked(self, client: TestClient) -> None:
        user = register(client)
        url = "/api/v1/letters/check"
        r = client.post(url, json={"kind": "request", "body": "x" * 50001}, headers=user.headers)
        assert_problem(r, 422, "validation_error")
        r = client.post(url, json={"kind": "memo", "body": "hi"}, headers=user.headers)
        assert_problem(r, 422, "validation_error")
        assert_problem(client.post(url, json={"kind": "request"}), 401)
        many = " ".join(["Hire me."] * 100)
        r = client.post(url, json={"kind": "request", "body": many}, headers=user.headers)
        assert len(r.json()["findings"]) == 20

    def test_a_read_scope_is_enough(self, client: TestClient) -> None:
        user = register(client)
        editor = create_token(client, user, ["letters:read"])
        r = client.post(
            "/api/v1/letters/check",
            json={"kind": "request", "body": "Are you hiring?"},
            headers=bearer(editor["token"]),
        )
        assert r.status_code == 200, r.text
        r = client.post(
            "/api/v1/letters/check",
            json={"kind": "request", "body": "Hi"},
            headers=bearer(create_token(client, user, ["contacts:read"])["token"]),
        )
        assert_problem(r, 403, "insufficient_scope")


def test_the_refusal_says_why_and_what_to_ask_instead(client: TestClient) -> None:
    user = register(client)
    interview = make_interview(client, user)
    r = client.post(
        "/api/v1/letters",
        json={
            "kind": "request",
            "recipient_id": interview["contact_id"],
            "interview_id": interview["id"],
            "body": "I enjoyed your talk. Would you pass my CV to the recruiter? Thanks.",
        },
        headers=user.headers,
    )
    problem = assert_problem(r, 422, "job_ask")
    assert problem["sentence"] == "Would you pass my CV to the recruiter?"
    assert problem["phrase"] in problem["sentence"]
    assert problem["why"] in problem["detail"] and problem["suggestion"] in problem["detail"]
    assert problem["errors"][0]["suggestion"] == problem["suggestion"]
