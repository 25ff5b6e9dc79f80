"""Letters: draft, edit, list, delete and send, under the letter rules and the job-ask check.

A letter is a draft until sent; sending stamps ``sent_at``, refreshes the recipient's
``last_contacted_at`` and freezes the letter for good. The rules of ``app.letters.rules`` and
the job-ask check run on create, on update (against the letter as it would become) and again
on send, since the interview may have moved in between. Writes are compare-and-set on the
version (and on ``status = 'draft'``), so an edit can never land on a letter sent meanwhile.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.contacts.activity import refresh_last_contacted
from app.kit.config import Settings
from app.kit.db import utcnow
from app.kit.errors import AppError, Conflict, Unprocessable
from app.kit.queries import check_if_match, optimistic_write
from app.letters import job_ask, rules
from app.letters.repository import LetterRepository
from app.letters.schemas import (
    JobAskFinding,
    Letter,
    LetterCheck,
    LetterCheckResult,
    LetterCreate,
    LetterPublic,
    LetterUpdate,
)
from app.mail import service as mail
from app.vocabulary import (
    Decision,
    InterviewState,
    LetterDelivery,
    LetterDeliveryStatus,
    LetterKind,
    LetterStatus,
)
from app.webhooks.outbox import emit


def get(session: Session, owner_id: uuid.UUID, letter_id: uuid.UUID) -> Letter:
    """The caller's letter, or a 404."""
    return LetterRepository(session).get(owner_id, letter_id)


def list_letters(
    session: Session,
    owner_id: uuid.UUID,
    *,
    kind: LetterKind | None = None,
    status: LetterStatus | None = None,
    interview_id: uuid.UUID | None = None,
    recipient_id: uuid.UUID | None = None,
    source: str | None = None,
    external_id: str | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> tuple[Sequence[Letter], bool, str | None]:
    """One page of the caller's letters, newest first, filtered."""
    return LetterRepository(session).page(
        owner_id,
        kind=kind,
        status=status,
        interview_id=interview_id,
        recipient_id=recipient_id,
        source=source,
        external_id=external_id,
        limit=limit,
        cursor=cursor,
    )


def create(session: Session, owner_id: uuid.UUID, data: LetterCreate) -> Letter:
    """Draft a letter; it must already obey every letter rule."""
    letters = LetterRepository(session)
    letter = Letter(owner_id=owner_id, **_stored(data.model_dump()))
    _check_external_ref(letters, letter)
    _check_letter(letters, letter)
    letters.add(letter)
    try:
        session.commit()
    except IntegrityError as exc:  # a concurrent create took the external id first
        session.rollback()
        raise _external_id_taken(letter) from exc
    return letter


def check(session: Session, owner_id: uuid.UUID, data: LetterCreate) -> None:
    """Apply the letter rules to a letter not yet written, raising as ``create`` would.

    Drafting asks first, so a letter the rules refuse is refused for that reason rather than
    for a template that had, say, no interview to read from.
    """
    letter = Letter(owner_id=owner_id, **_stored(data.model_dump()))
    _check_letter(LetterRepository(session), letter)


def update_letter(
    session: Session,
    owner_id: uuid.UUID,
    letter_id: uuid.UUID,
    data: LetterUpdate,
    *,
    if_match: str | None = None,
) -> Letter:
    """Change a draft; the letter as it would become must obey every rule. Sent: 409."""
    changes = _stored(data.model_dump(exclude_unset=True))
    letters = LetterRepository(session)

    def values(letter: Letter) -> dict[str, Any]:
        proposed = Letter.model_validate({**letter.model_dump(), **changes})
        _check_external_ref(letters, proposed)
        _check_letter(letters, proposed)
        return changes

    return _write(session, owner_id, letter_id, if_match, values, sent_code="letter_sent")


def send(
    session: Session,
    owner_id: uuid.UUID,
    letter_id: uuid.UUID,
    *,
    if_match: str | None = None,
    delivery: LetterDelivery | None = None,
    settings: Settings | None = None,
) -> Letter:
    """Send a draft, after checking the rules once more. Sent already: 409.

    ``record`` marks it sent now. ``email`` (the default where mail is set up: the user's own
    mailbox, else the server's relay) queues it for the mail sender in the same transaction;
    the letter stays a draft, closed to changes, until the mail server accepts it
    (:func:`mark_delivered`) or refuses it for good (:func:`mark_undeliverable`).
    """
    letters = LetterRepository(session)
    route = None
    if settings is not None and delivery != LetterDelivery.RECORD:  # record needs no server
        route = mail.route_for(session, settings, owner_id)
    chosen = delivery or (LetterDelivery.EMAIL if route is not None else LetterDelivery.RECORD)
    if chosen == LetterDelivery.EMAIL and route is None:
        raise Unprocessable(
            "Mail is not set up: add your own mailbox with PUT /api/v1/mail/account, or send "
            "with delivery=record if you sent the letter yourself.",
            code="mail_not_configured",
        )

    def values(letter: Letter) -> dict[str, Any]:
        _check_letter(letters, letter)
        if chosen == LetterDelivery.RECORD:
            return {
                "status": LetterStatus.SENT.value,
                "sent_at": utcnow(),
                "delivery": LetterDelivery.RECORD.value,
            }
        assert route is not None
        queued = mail.queue(session, owner_id, letter, route)
        return {
            "delivery": LetterDelivery.EMAIL.value,
            "delivery_status": LetterDeliveryStatus.QUEUED.value,
            "message_id": queued,
            "delivery_error": None,
        }

    return _write(session, owner_id, letter_id, if_match, values, sent_code="letter_already_sent")


def mark_delivered(session: Session, letter_id: uuid.UUID, accepted_at: datetime) -> None:
    """The mail server accepted a queued letter: it is sent, as of then. Does not commit."""
    letters = LetterRepository(session)
    letter = session.get(Letter, letter_id)
    if letter is None or letter.status == LetterStatus.SENT.value:
        return
    letters.compare_and_set(
        letter,
        status=LetterStatus.SENT.value,
        sent_at=accepted_at,
        delivery_status=LetterDeliveryStatus.DELIVERED.value,
        delivery_error=None,
    )
    _announce_sent(session, letters, letter)
    emit(session, letter.owner_id, "letter.delivered", LetterPublic.model_validate(letter))


def mark_undeliverable(session: Session, letter_id: uuid.UUID, error: str) -> None:
    """The mail server refused a queued letter for good: a draft again, with the reason."""
    letters = LetterRepository(session)
    letter = session.get(Letter, letter_id)
    if letter is None or letter.status == LetterStatus.SENT.value:
        return
    letters.compare_and_set(
        letter, delivery_status=LetterDeliveryStatus.FAILED.value, delivery_error=error[:500]
    )
    letters.refresh(letter)
    emit(session, letter.owner_id, "letter.delivery_failed", LetterPublic.model_validate(letter))


def _announce_sent(session: Session, letters: LetterRepository, letter: Letter) -> None:
    """What sending a letter does besides its own row: the contact's last contact, the event."""
    refresh_last_contacted(session, letter.recipient_id)
    letters.refresh(letter)  # as sent, for the event committed with it
    emit(session, letter.owner_id, "letter.sent", LetterPublic.model_validate(letter))


def delete_letter(
    session: Session, owner_id: uuid.UUID, letter_id: uuid.UUID, *, if_match: str | None = None
) -> None:
    """Delete a draft. A sent letter is part of the record and stays: 409."""
    letters = LetterRepository(session)

    def attempt() -> None:
        letter = letters.get(owner_id, letter_id)
        _check_writable(letter, if_match, sent_code="letter_sent")
        letters.compare_and_delete(letter)
        session.commit()
        session.expunge(letter)

    optimistic_write(session, attempt, if_match=if_match, what="letter")


def _stored(values: dict[str, Any]) -> dict[str, Any]:
    """A letter's fields as its row keeps them: enclosed documents as text ids, none as NULL."""
    if "attachment_ids" in values:
        ids = values["attachment_ids"]
        values["attachment_ids"] = [str(i) for i in ids] if ids else None
    return values


# --- writing ---------------------------------------------------------------------------------


def _write(
    session: Session,
    owner_id: uuid.UUID,
    letter_id: uuid.UUID,
    if_match: str | None,
    values: Callable[[Letter], dict[str, Any]],
    *,
    sent_code: str,
) -> Letter:
    """Read, check, and compare-and-set one draft, under :func:`optimistic_write`."""
    letters = LetterRepository(session)

    def attempt() -> Letter:
        letter = letters.get(owner_id, letter_id)
        _check_writable(letter, if_match, sent_code=sent_code)
        new_values = values(letter)
        letters.compare_and_set(letter, **new_values)
        if new_values.get("status") == LetterStatus.SENT.value:
            _announce_sent(session, letters, letter)
        try:
            session.commit()
        except IntegrityError as exc:  # a concurrent write took the external id first
            session.rollback()
            raise _external_id_taken(letter) from exc
        letters.refresh(letter)
        return letter

    return optimistic_write(session, attempt, if_match=if_match, what="letter")


def _check_writable(letter: Letter, if_match: str | None, *, sent_code: str) -> None:
    check_if_match(if_match, letter.version)
    if letter.delivery_status == LetterDeliveryStatus.QUEUED.value:
        raise Conflict(
            "The letter is being emailed; it can change again only if the mail server refuses it.",
            code="letter_queued",
        )
    if letter.status == LetterStatus.SENT.value:
        if sent_code == "letter_already_sent":
            raise Conflict(
                f"The letter was already sent at {_iso(letter)}.", code="letter_already_sent"
            )
        raise Conflict(
            f"The letter was sent at {_iso(letter)}; a sent letter never changes.",
            code="letter_sent",
        )


def _iso(letter: Letter) -> str:
    return letter.sent_at.isoformat() if letter.sent_at else "an unknown time"


# --- external references ---------------------------------------------------------------------


def _check_external_ref(letters: LetterRepository, letter: Letter) -> None:
    """``external_id`` and ``source`` come together, and name one letter per user and source."""
    if (letter.external_id is None) != (letter.source is None):
        missing = "source" if letter.source is None else "external_id"
        raise Unprocessable(
            "external_id and source go together: give both or neither.",
            code="validation_error",
            errors=[
                {
                    "loc": ["body", missing],
                    "msg": "external_id and source go together",
                    "type": "value_error",
                }
            ],
        )
    if letter.external_id is None:
        return
    if letters.external_id_taken(letter):
        raise _external_id_taken(letter)


def _external_id_taken(letter: Letter) -> Conflict:
    return Conflict(
        f"Another letter already has external_id {letter.external_id!r} from {letter.source!r}.",
        code="external_id_taken",
    )


# --- the letter rules --------------------------------------------------------------------------


def _check_letter(letters: LetterRepository, letter: Letter) -> None:
    """Load the facts the letter rules need, apply them and the job-ask check, or raise.

    References first (422 invalid_reference), then every broken rule at once: the letter's
    own faults (422) before the interview's progress (409).
    """
    kind = LetterKind(letter.kind)
    letters.recipient(letter.owner_id, letter.recipient_id)
    facts = rules.LetterFacts(recipient_id=letter.recipient_id, interview=None)
    if letter.interview_id is not None:
        interview = letters.interview(letter.owner_id, letter.interview_id)
        is_referrer = kind in rules.TO_REFERRER and letters.is_referrer(
            letter.owner_id, letter.recipient_id, interview.contact_id
        )
        facts = rules.LetterFacts(
            recipient_id=letter.recipient_id,
            interview=rules.InterviewFacts(
                contact_id=interview.contact_id,
                state=InterviewState(interview.state),
                decision=Decision(interview.decision),
            ),
            recipient_is_referrer=is_referrer,
        )
    if letter.attachment_ids:
        enclosed = letters.enclosed(letter.owner_id, letter.attachment_ids)
        facts = dataclasses.replace(facts, enclosed=tuple(enclosed))
    violations = rules.check(kind, facts)
    invalid = [v for v in violations if v.cause == rules.Cause.LETTER]
    if invalid:
        raise _refusal(Unprocessable, invalid, violations)
    if not rules.may_ask_for_job(kind):
        _check_job_ask(kind, letter)
    if violations:
        raise _refusal(Conflict, violations, violations)


def _refusal(
    error: type[AppError], first: list[rules.Violation], every: list[rules.Violation]
) -> AppError:
    """One problem naming every broken rule; its code is the first of those at its status."""
    entries = []
    for violation in every:
        entry: dict[str, Any] = {"code": violation.code, "message": violation.message}
        if violation.missing:
            entry["missing"] = list(violation.missing)
        entries.append(entry)
    extra: dict[str, Any] = {}
    if first[0].missing:
        extra["missing"] = list(first[0].missing)
    return error(" ".join(v.message for v in every), code=first[0].code, errors=entries, **extra)


#: The most findings one check reports: a letter with more asks than this is refused anyway.
MAX_FINDINGS = 20


def job_asks(subject: str | None, body: str | None, *, limit: int) -> list[JobAskFinding]:
    """The job asks in a letter's subject, then its body: one per sentence, at most ``limit``.

    CPU work linear in the letter's length; callers on the event loop run it in a thread.
    """
    findings: list[JobAskFinding] = []
    fields: tuple[tuple[Literal["subject", "body"], str | None], ...] = (
        ("subject", subject),
        ("body", body),
    )
    for field_name, text in fields:
        if text and len(findings) < limit:
            for ask in job_ask.find_job_asks(text, limit=limit - len(findings)):
                findings.append(
                    JobAskFinding(
                        field=field_name,
                        sentence=ask.sentence,
                        phrase=ask.phrase,
                        start=ask.start,
                        end=ask.end,
                        why=ask.why,
                        suggestion=ask.suggestion,
                    )
                )
    return findings


def check_text(data: LetterCheck) -> LetterCheckResult:
    """What the job-ask check finds in a text, and whether a letter of its kind may say it."""
    findings = job_asks(data.subject, data.body, limit=MAX_FINDINGS)
    may_ask = rules.may_ask_for_job(data.kind)
    return LetterCheckResult(
        kind=data.kind,
        asks_for_job=bool(findings),
        allowed=may_ask or not findings,
        findings=findings,
    )


def _check_job_ask(kind: LetterKind, letter: Letter) -> None:
    found = job_asks(letter.subject, letter.body, limit=1)
    if not found:
        return
    ask = found[0]
    raise Unprocessable(
        f'The {ask.field} asks for a job ("{ask.phrase}", in "{ask.sentence}"). {ask.why} '
        f"An informational interview gathers information; only a feeler letter may ask about "
        f"openings, and a {kind} letter may not. Ask for what the reader knows instead, e.g. "
        f'"{ask.suggestion}"',
        code="job_ask",
        errors=[
            {
                "loc": ["body", ask.field],
                "msg": f'asks for a job: "{ask.phrase}"',
                "type": "job_ask",
                "code": "job_ask",
                "sentence": ask.sentence,
                "phrase": ask.phrase,
                "why": ask.why,
                "suggestion": ask.suggestion,
            }
        ],
        phrase=ask.phrase,
        field=ask.field,
        sentence=ask.sentence,
        why=ask.why,
        suggestion=ask.suggestion,
    )
