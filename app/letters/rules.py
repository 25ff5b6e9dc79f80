"""The rules that tie a letter to its interview, as docs/workflow.md states them. Pure.

The service gathers the facts (the interview's contact, state and decision; whether the
recipient referred the interviewee) and asks ``check`` which rules a letter of a kind breaks.
It asks on create, on update (for the letter as it would become) and on send, because the
interview may have moved since the letter was drafted.

A violation is either about the letter itself (``Cause.LETTER``: it names the wrong person or
lacks its interview; the request is malformed) or about the interview not having got far
enough yet (``Cause.INTERVIEW``: the same letter will be fine later).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from app.vocabulary import Decision, DocumentKind, InterviewState, LetterKind


class Cause(StrEnum):
    LETTER = "letter"
    INTERVIEW = "interview"


@dataclass(frozen=True)
class Violation:
    """One broken rule: a stable code, a sentence for people, and what is missing."""

    code: str
    message: str
    cause: Cause
    missing: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class InterviewFacts:
    """What the rules need to know about the interview a letter is tied to."""

    contact_id: uuid.UUID
    state: InterviewState
    decision: Decision


@dataclass(frozen=True)
class LetterFacts:
    """The letter's recipient and interview, as they stand."""

    recipient_id: uuid.UUID
    interview: InterviewFacts | None
    recipient_is_referrer: bool = False  # the recipient referred the interviewee to the user
    # The kinds of the documents the letter encloses, one per document.
    enclosed: tuple[DocumentKind, ...] = ()


# Every kind except keep_in_touch belongs to one interview.
NEEDS_INTERVIEW = frozenset(
    {
        LetterKind.REQUEST,
        LetterKind.FOLLOW_UP,
        LetterKind.THANK_YOU,
        LetterKind.REPORT_BACK,
        LetterKind.UPDATE,
        LetterKind.FEELER,
    }
)
# The request, its follow-up and the thank-you go to the interviewee.
TO_INTERVIEWEE = frozenset({LetterKind.REQUEST, LetterKind.FOLLOW_UP, LetterKind.THANK_YOU})
# The report back goes to whoever gave the lead.
TO_REFERRER = frozenset({LetterKind.REPORT_BACK})
# Thanks, reports and updates follow the conversation.
AFTER_HELD = frozenset({LetterKind.THANK_YOU, LetterKind.REPORT_BACK, LetterKind.UPDATE})
HELD_OR_LATER = frozenset(
    {InterviewState.HELD, InterviewState.THANKED, InterviewState.REPORTED_BACK}
)
# A feeler waits until the user has thanked the interviewee and decided to pursue the career.
FEELER_STATES = frozenset({InterviewState.THANKED, InterviewState.REPORTED_BACK})
# The code of the rule that a résumé goes only with a feeler, after the decision to pursue.
RESUME_RULE = "resume_not_allowed"
# Only a feeler may ask about openings.
MAY_ASK_FOR_JOB = frozenset({LetterKind.FEELER})


def check(kind: LetterKind, facts: LetterFacts) -> list[Violation]:
    """Every rule a letter of ``kind`` with these facts breaks; empty when it may go ahead."""
    interview = facts.interview
    enclosed = _enclosed(kind, facts)
    if interview is None:
        if kind in NEEDS_INTERVIEW:
            return [
                Violation(
                    "interview_required",
                    f"A {kind} letter belongs to an interview; give its interview_id.",
                    Cause.LETTER,
                    ("interview_id",),
                ),
                *enclosed,
            ]
        return enclosed

    violations: list[Violation] = []
    if kind in TO_INTERVIEWEE and facts.recipient_id != interview.contact_id:
        violations.append(
            Violation(
                "wrong_recipient",
                f"A {kind} letter goes to the interviewee (contact {interview.contact_id}).",
                Cause.LETTER,
            )
        )
    if kind in TO_REFERRER and not facts.recipient_is_referrer:
        violations.append(
            Violation(
                "not_a_referrer",
                f"A {kind} letter goes to someone who referred you to the interviewee; "
                "the recipient is not one of their referrers.",
                Cause.LETTER,
            )
        )
    if kind in AFTER_HELD and interview.state not in HELD_OR_LATER:
        violations.append(
            Violation(
                "interview_not_held",
                f"A {kind} letter can be written only once the interview is held "
                f"(it is {interview.state}).",
                Cause.INTERVIEW,
                ("held",),
            )
        )
    if kind == LetterKind.FEELER:
        violations.extend(_feeler(interview))
    return [*enclosed, *violations]


def _enclosed(kind: LetterKind, facts: LetterFacts) -> list[Violation]:
    """A résumé goes only with a feeler letter, and only once the user decided to pursue the
    career. Refused as a fault of the letter (422): the résumé is the user's choice to enclose,
    and a letter that may go out later may not carry it meanwhile."""
    if DocumentKind.RESUME not in facts.enclosed:
        return []
    if kind != LetterKind.FEELER:
        message = (
            f"A resume is enclosed only with a feeler letter; this is a {kind} letter. "
            "Remove it from attachment_ids."
        )
        missing: tuple[str, ...] = ("feeler",)
    elif facts.interview is None or facts.interview.decision != Decision.PURSUE:
        decision = facts.interview.decision if facts.interview else "unknown"
        message = (
            "A resume is enclosed only once you decided to pursue the career "
            f"(the interview's decision is {decision})."
        )
        missing = ("decision_pursue",)
    else:
        return []
    return [Violation(RESUME_RULE, message, Cause.LETTER, missing)]


def _feeler(interview: InterviewFacts) -> list[Violation]:
    missing: list[str] = []
    reasons: list[str] = []
    if interview.state not in FEELER_STATES:
        missing.append("thanked")
        reasons.append(f"the interview to have reached thanked (it is {interview.state})")
    if interview.decision != Decision.PURSUE:
        missing.append("decision_pursue")
        reasons.append(f"your decision to be pursue (it is {interview.decision})")
    if not missing:
        return []
    return [
        Violation(
            "feeler_not_allowed",
            "A feeler letter needs " + " and ".join(reasons) + ".",
            Cause.INTERVIEW,
            tuple(missing),
        )
    ]


def may_ask_for_job(kind: LetterKind) -> bool:
    """Whether a letter of this kind may ask about openings (only a feeler may)."""
    return kind in MAY_ASK_FOR_JOB
