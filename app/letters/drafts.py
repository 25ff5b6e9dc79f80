"""Letters drafted from templates, filled with the contact's, interview's and user's data.

A draft is an ordinary letter once made: it goes through ``letters.create`` with every letter
rule and the job-ask check, and is then edited and sent like any other. The rules are asked
once before the template is filled too, so a letter the workflow does not allow yet is refused
for that reason (409/422 from the letter rules), not for a template that found no interview.
"""

from __future__ import annotations

import uuid

from sqlmodel import Session

from app.contacts.schemas import Contact
from app.interviews.schemas import Interview
from app.kit.db import utcnow
from app.kit.times import local_date
from app.letters import context, render
from app.letters import service as letters
from app.letters import user_templates as templates
from app.letters.repository import DraftContextRepository, LetterRepository
from app.letters.schemas import Letter, LetterCreate
from app.letters.template_schemas import LetterDraftCreate
from app.vocabulary import LetterKind

MAX_SUBJECT = 300


def create(session: Session, owner_id: uuid.UUID, data: LetterDraftCreate) -> Letter:
    """Draft a letter of ``data.kind`` from the caller's template (or ours) and save it."""
    request = LetterCreate(
        kind=data.kind,
        recipient_id=data.recipient_id,
        interview_id=data.interview_id,
        channel=data.channel,
    )
    letters.check(session, owner_id, request)  # references and letter rules, before filling
    references = LetterRepository(session)
    facts = DraftContextRepository(session)
    recipient = references.recipient(owner_id, data.recipient_id)
    interview: Interview | None = None
    interviewee: Contact | None = None
    if data.interview_id is not None:
        interview = references.interview(owner_id, data.interview_id)
        interviewee = facts.contact(interview.contact_id)
    referrer, relationship = _referrer(facts, owner_id, data.kind, recipient, interview)
    user = facts.user(owner_id)
    assert user is not None  # the caller is signed in
    variables = context.build(
        user=user,
        recipient=recipient,
        interview=interview,
        interviewee=interviewee,
        referrer=referrer,
        relationship=relationship,
        today=local_date(utcnow(), user.time_zone),
    )
    source = templates.source_for(session, owner_id, data.kind)
    try:
        rendered = render.render(source, variables)
    except render.TemplateProblem as exc:
        raise templates.problem(exc, drafting=True) from None
    request.subject = _clamp(rendered.subject)
    request.body = rendered.body
    return letters.create(session, owner_id, request)


def _referrer(
    facts: DraftContextRepository,
    owner_id: uuid.UUID,
    kind: LetterKind,
    recipient: Contact,
    interview: Interview | None,
) -> tuple[Contact | None, str | None]:
    """Who gave the lead, and how they know the user.

    A report back goes to the referrer, so it is the recipient. Otherwise: the referral the
    interview came from, else the earliest referral to the interviewee (or, without an
    interview, to the recipient); none when nobody referred them.
    """
    referred_id = interview.contact_id if interview is not None else recipient.id
    if kind == LetterKind.REPORT_BACK:
        referral = facts.referral_between(owner_id, recipient.id, referred_id)
        return recipient, referral.relationship if referral else None
    referral = None
    if interview is not None and interview.referral_id is not None:
        referral = facts.referral(owner_id, interview.referral_id)
    if referral is None:
        referral = facts.earliest_referral_to(owner_id, referred_id)
    if referral is None:
        return None, None
    return facts.contact(referral.referrer_id), referral.relationship


def _clamp(subject: str | None) -> str | None:
    """A subject line fits the letter's 300 characters; a longer one is cut at a word."""
    if subject is None or len(subject) <= MAX_SUBJECT:
        return subject
    cut = subject[: MAX_SUBJECT - 1].rsplit(" ", 1)[0].rstrip(" ,;:-")
    return cut + "…"
