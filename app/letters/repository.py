"""Every statement the letters domain sends to the database.

Every read is scoped to the caller, and every write to a letter is a compare-and-set on its
version that also requires the letter still to be a draft, so no write lands on a letter sent
meanwhile. The facts the letter rules and the drafts read (contacts, interviews, referrals,
the user) are read here too, in the letters' own queries.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import exists
from sqlmodel import Session, col, select

from app.accounts.schemas import UserAccount
from app.contacts.schemas import Contact
from app.documents.schemas import Document
from app.interviews.schemas import Interview
from app.kit.errors import Unprocessable
from app.kit.queries import (
    compare_and_delete,
    compare_and_set,
    get_owned,
    keyset_page,
    owned,
    require_owned_ref,
)
from app.letters.schemas import Letter
from app.letters.template_schemas import LetterTemplate
from app.referrals.schemas import Referral
from app.vocabulary import DocumentKind, LetterKind, LetterStatus

# A letter's compare-and-set writes also require that it is still a draft.
_STILL_A_DRAFT = col(Letter.status) == LetterStatus.DRAFT.value


class LetterRepository:
    """The caller's letters, and the references and facts the letter rules check."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, owner_id: uuid.UUID, letter_id: uuid.UUID) -> Letter:
        """The caller's letter, or a 404 ``letter_not_found``."""
        return get_owned(self.session, Letter, letter_id, owner_id, what="letter")

    def page(
        self,
        owner_id: uuid.UUID,
        *,
        kind: LetterKind | None,
        status: LetterStatus | None,
        interview_id: uuid.UUID | None,
        recipient_id: uuid.UUID | None,
        source: str | None,
        external_id: str | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[Sequence[Letter], bool, str | None]:
        """One keyset page of the caller's letters, newest first; ``None`` filters nothing."""
        statement = owned(Letter, owner_id)
        filters: list[tuple[Any, Any]] = [
            (Letter.kind, kind),
            (Letter.status, status),
            (Letter.interview_id, interview_id),
            (Letter.recipient_id, recipient_id),
            (Letter.source, source),
            (Letter.external_id, external_id),
        ]
        for column, value in filters:
            if value is not None:
                statement = statement.where(column == value)
        return keyset_page(
            self.session, statement, Letter.id, owner_id=owner_id, limit=limit, cursor=cursor
        )

    def add(self, letter: Letter) -> None:
        """Stage a new letter; it is inserted when the caller commits."""
        self.session.add(letter)

    def external_id_taken(self, letter: Letter) -> bool:
        """Whether another of the owner's letters has this letter's source and external id."""
        taken = self.session.exec(
            select(Letter.id)
            .where(Letter.owner_id == letter.owner_id)
            .where(Letter.source == letter.source)
            .where(Letter.external_id == letter.external_id)
            .where(Letter.id != letter.id)
        ).first()
        return taken is not None

    def recipient(self, owner_id: uuid.UUID, contact_id: uuid.UUID) -> Contact:
        """The caller's contact named as ``recipient_id``, or a 422 on that field."""
        return require_owned_ref(self.session, Contact, contact_id, owner_id, field="recipient_id")

    def interview(self, owner_id: uuid.UUID, interview_id: uuid.UUID) -> Interview:
        """The caller's interview named as ``interview_id``, or a 422 on that field."""
        return require_owned_ref(
            self.session, Interview, interview_id, owner_id, field="interview_id"
        )

    def enclosed(self, owner_id: uuid.UUID, attachment_ids: Sequence[str]) -> list[DocumentKind]:
        """The kinds of the caller's documents named in ``attachment_ids``, in order; a 422
        ``invalid_reference`` on the first one that names no document of the caller's."""
        wanted = [uuid.UUID(str(i)) for i in attachment_ids]
        kinds = dict(
            self.session.exec(
                select(Document.id, Document.kind)
                .where(Document.owner_id == owner_id)
                .where(col(Document.id).in_(wanted))
            ).all()
        )
        for index, document_id in enumerate(wanted):
            if document_id not in kinds:
                raise Unprocessable(
                    "attachment_ids names no document of yours.",
                    code="invalid_reference",
                    errors=[
                        {
                            "loc": ["body", "attachment_ids", index],
                            "msg": "no such record",
                            "type": "invalid_reference",
                        }
                    ],
                )
        return [DocumentKind(kinds[document_id]) for document_id in wanted]

    def is_referrer(
        self, owner_id: uuid.UUID, referrer_id: uuid.UUID, referred_id: uuid.UUID
    ) -> bool:
        """Whether the caller recorded ``referrer_id`` as referring them to ``referred_id``."""
        statement = select(
            exists().where(
                Referral.owner_id == owner_id,  # type: ignore[arg-type]
                Referral.referrer_id == referrer_id,  # type: ignore[arg-type]
                Referral.referred_id == referred_id,  # type: ignore[arg-type]
            )
        )
        return bool(self.session.exec(statement).one())

    def compare_and_set(self, letter: Letter, **values: Any) -> None:
        """Write ``values`` while the letter is a draft at the version read, else ``LostRace``."""
        compare_and_set(self.session, Letter, letter.id, letter.version, _STILL_A_DRAFT, **values)

    def compare_and_delete(self, letter: Letter) -> None:
        """Delete the letter if it is still a draft at the version read (else ``LostRace``)."""
        compare_and_delete(self.session, Letter, letter.id, letter.version, _STILL_A_DRAFT)

    def refresh(self, letter: Letter) -> None:
        """Read the letter's row again, as it now is."""
        self.session.refresh(letter)


class LetterTemplateRepository:
    """The caller's own letter templates, at most one per kind."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def find(self, owner_id: uuid.UUID, kind: LetterKind) -> LetterTemplate | None:
        """The caller's template for ``kind``, or ``None`` when they have none."""
        return self.session.exec(
            select(LetterTemplate)
            .where(LetterTemplate.owner_id == owner_id)
            .where(LetterTemplate.kind == kind.value)
        ).first()

    def add(self, template: LetterTemplate) -> None:
        """Stage a new template; it is inserted when the caller commits."""
        self.session.add(template)

    def compare_and_set(self, template: LetterTemplate, **values: Any) -> None:
        """Write ``values`` if the template is still at the version read (else ``LostRace``)."""
        compare_and_set(self.session, LetterTemplate, template.id, template.version, **values)

    def compare_and_delete(self, template: LetterTemplate) -> None:
        """Delete the template if it is still at the version read (else ``LostRace``)."""
        compare_and_delete(self.session, LetterTemplate, template.id, template.version)

    def refresh(self, template: LetterTemplate) -> None:
        """Read the template's row again, as it now is."""
        self.session.refresh(template)


class DraftContextRepository:
    """What a draft is filled with: the user, the interviewee, the referrer and the referral.

    Its reads trust ids already checked to be the caller's (an interview's contact, a
    referral's referrer), as the letter references are checked before a draft is filled.
    """

    def __init__(self, session: Session) -> None:
        self.session = session

    def user(self, owner_id: uuid.UUID) -> UserAccount | None:
        """The caller's account."""
        return self.session.get(UserAccount, owner_id)

    def contact(self, contact_id: uuid.UUID) -> Contact | None:
        """A contact by id (one the caller's interview or referral points at)."""
        return self.session.get(Contact, contact_id)

    def referral_between(
        self, owner_id: uuid.UUID, referrer_id: uuid.UUID, referred_id: uuid.UUID
    ) -> Referral | None:
        """The caller's referral from ``referrer_id`` to ``referred_id``, if recorded."""
        return self.session.exec(
            owned(Referral, owner_id)
            .where(Referral.referrer_id == referrer_id)
            .where(Referral.referred_id == referred_id)
        ).first()

    def referral(self, owner_id: uuid.UUID, referral_id: uuid.UUID) -> Referral | None:
        """The caller's referral with this id, if there is one."""
        return self.session.exec(
            owned(Referral, owner_id).where(Referral.id == referral_id)
        ).first()

    def earliest_referral_to(self, owner_id: uuid.UUID, referred_id: uuid.UUID) -> Referral | None:
        """The caller's first recorded referral to ``referred_id``, if any."""
        return self.session.exec(
            owned(Referral, owner_id)
            .where(Referral.referred_id == referred_id)
            .order_by(col(Referral.created_at), col(Referral.id))
            .limit(1)
        ).first()
