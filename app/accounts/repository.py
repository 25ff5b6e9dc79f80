"""Every statement the accounts domain sends to the database.

Users, refresh tokens and personal access tokens each have their repository; an account's
records as a whole (what an export reads and an import writes, across the other domains'
tables) have theirs, with :func:`open_snapshot` for the export's consistent read. Rows read as
mappings use Core's ``select`` (``core_select``), ORM objects SQLModel's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, RowMapping, Table, exists, insert, or_, update
from sqlalchemy import select as core_select
from sqlmodel import Session, SQLModel, col, select

from app.accounts.schemas import RefreshToken, UserAccount
from app.accounts.token_schemas import PersonalAccessToken
from app.contacts.schemas import Contact
from app.documents.schemas import Document
from app.interactions.schemas import Interaction
from app.interviews.schemas import Interview, InterviewEvent, PrepChecklist
from app.kit.db import utcnow
from app.kit.queries import get_owned, keyset_page, owned
from app.letters.schemas import Letter
from app.referrals.schemas import Referral

TEMPLATE_TABLE = "letter_template"


class UserRepository:
    """User accounts: looked up by id or email, added, deleted, locked."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, user_id: uuid.UUID) -> UserAccount | None:
        """The account with this id, if it exists."""
        return self.session.get(UserAccount, user_id)

    def email_taken(self, email: str) -> bool:
        """Whether an account has this (normalised) email."""
        found = self.session.exec(select(UserAccount.id).where(UserAccount.email == email))
        return found.first() is not None

    def by_email(self, email: str) -> UserAccount | None:
        """The account with this (normalised) email, if any."""
        return self.session.exec(select(UserAccount).where(UserAccount.email == email)).first()

    def add(self, user: UserAccount) -> None:
        """Put a new account in the session; it is inserted at the next flush."""
        self.session.add(user)

    def delete(self, user: UserAccount) -> None:
        """Delete an account (its rows in other tables go with it, by the foreign keys)."""
        self.session.delete(user)

    def lock(self, user_id: uuid.UUID) -> None:
        """A no-op UPDATE of the account's row, which locks it until the transaction ends."""
        self.session.execute(
            update(UserAccount)
            .where(col(UserAccount.id) == user_id)
            .values(updated_at=UserAccount.updated_at)
            .execution_options(synchronize_session=False)
        )


class RefreshTokenRepository:
    """Refresh tokens: issued, read back by id, rotated once, revoked by family."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, token_id: uuid.UUID) -> RefreshToken | None:
        """The stored token with this id, if any."""
        return self.session.get(RefreshToken, token_id)

    def add(self, token: RefreshToken) -> None:
        """Put a new token in the session; it is inserted at the next flush."""
        self.session.add(token)

    def mark_rotated(self, token_id: uuid.UUID, now: datetime) -> bool:
        """Mark the token rotated, only if it was not yet (compare-and-set); whether it was."""
        rotated = self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == token_id)  # type: ignore[arg-type]
            .where(RefreshToken.rotated_at.is_(None))  # type: ignore[union-attr]
            .values(rotated_at=now)
        )
        return rotated.rowcount == 1  # type: ignore[attr-defined, no-any-return]

    def revoke_family(self, family_id: uuid.UUID) -> None:
        """Revoke every token of the family that is not revoked yet."""
        self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id)  # type: ignore[arg-type]
            .where(RefreshToken.revoked_at.is_(None))  # type: ignore[union-attr]
            .values(revoked_at=utcnow())
        )


class PersonalAccessTokenRepository:
    """The caller's personal access tokens, and the lookup of one by its secret's hash."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def with_user(self, token_hash: str) -> tuple[PersonalAccessToken, UserAccount] | None:
        """The token with this hash and the user it belongs to, if any."""
        row = self.session.exec(
            select(PersonalAccessToken, UserAccount)
            .join(UserAccount, col(UserAccount.id) == PersonalAccessToken.owner_id)
            .where(PersonalAccessToken.token_hash == token_hash)
        ).first()
        if row is None:
            return None
        pat, user = row
        return pat, user

    def touch(self, token_id: uuid.UUID, now: datetime, *, unused_since: datetime) -> None:
        """Set ``last_used_at`` to ``now`` unless the token was used after ``unused_since``.

        Conditional, so that concurrent requests with one token write it once.
        """
        self.session.execute(
            update(PersonalAccessToken)
            .where(col(PersonalAccessToken.id) == token_id)
            .where(
                or_(
                    col(PersonalAccessToken.last_used_at).is_(None),
                    col(PersonalAccessToken.last_used_at) <= unused_since,
                )
            )
            .values(last_used_at=now)
        )

    def add(self, token: PersonalAccessToken) -> None:
        """Put a token in the session: a new one is inserted, a changed one written."""
        self.session.add(token)

    def page(
        self, owner_id: uuid.UUID, *, limit: int, cursor: str | None
    ) -> tuple[Sequence[PersonalAccessToken], bool, str | None]:
        """A keyset page of the owner's tokens that are not revoked, newest first."""
        statement = owned(PersonalAccessToken, owner_id).where(
            col(PersonalAccessToken.revoked_at).is_(None)
        )
        return keyset_page(
            self.session,
            statement,
            PersonalAccessToken.id,
            owner_id=owner_id,
            limit=limit,
            cursor=cursor,
        )

    def get(self, owner_id: uuid.UUID, token_id: uuid.UUID) -> PersonalAccessToken:
        """One of the owner's tokens, revoked or not; another user's is a 404."""
        return get_owned(self.session, PersonalAccessToken, token_id, owner_id, what="token")


def open_snapshot(engine: Engine) -> Session:
    """A session reading one consistent snapshot of the database for as long as it is open."""
    if engine.dialect.name == "postgresql":
        session = Session(engine.execution_options(isolation_level="REPEATABLE READ"))
        session.connection()
        return session
    session = Session(engine)
    # pysqlite opens no transaction for reads; without one each batch would see a new state.
    session.connection().exec_driver_sql("BEGIN")
    return session


def _template_table() -> Table | None:
    return SQLModel.metadata.tables.get(TEMPLATE_TABLE)


def keeps_templates() -> bool:
    """Whether this server keeps users' letter templates (a ``letter_template`` table)."""
    return _template_table() is not None


def _table_of(model: type[SQLModel]) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


_SECTION_MODELS: dict[str, type[SQLModel]] = {
    "contacts": Contact,
    "referrals": Referral,
    "interviews": Interview,
    "letters": Letter,
    "documents": Document,
    "interactions": Interaction,
}


def _section_table(section: str) -> Table:
    if section == "templates":
        table = _template_table()
        if table is None:
            raise LookupError("this server keeps no letter templates")
        return table
    return _table_of(_SECTION_MODELS[section])


class AccountDataRepository:
    """Everything one account owns, read section by section for an export, and written in
    one go by an import. Sections are the export document's: ``contacts``, ``referrals``,
    ``interviews``, ``letters``, ``interactions`` and ``templates`` (when the server keeps
    them).
    """

    def __init__(self, session: Session) -> None:
        self.session = session

    def batches(
        self, section: str, owner_id: uuid.UUID, *, size: int
    ) -> Iterator[Sequence[RowMapping]]:
        """The owner's rows of a section in id order, ``size`` at a time (keyset, never
        OFFSET)."""
        table = _section_table(section)
        last: Any = None
        key = table.c.id if "id" in table.c else next(iter(table.primary_key.columns))
        while True:
            query = core_select(table).where(table.c.owner_id == owner_id)
            if last is not None:
                query = query.where(key > last)
            rows = self.session.execute(query.order_by(key).limit(size)).mappings().all()
            if rows:
                yield rows
            if len(rows) < size:
                return
            last = rows[-1][key.name]

    def checklists(self, interview_ids: Sequence[uuid.UUID]) -> Iterable[RowMapping]:
        """The preparation checklists of these interviews."""
        table = _table_of(PrepChecklist)
        return self.session.execute(
            core_select(table).where(table.c.interview_id.in_(interview_ids))
        ).mappings()

    def events(self, interview_ids: Sequence[uuid.UUID]) -> Iterable[RowMapping]:
        """The recorded events of these interviews, in the order they happened."""
        table = _table_of(InterviewEvent)
        return self.session.execute(
            core_select(table).where(table.c.interview_id.in_(interview_ids)).order_by(table.c.id)
        ).mappings()

    def is_empty(self, owner_id: uuid.UUID) -> bool:
        """Whether the owner has no contact, referral, interview, letter, interaction or
        template at all."""
        tables = [_table_of(m) for m in (Contact, Referral, Interview, Letter, Interaction)]
        tables.append(_table_of(Document))
        templates = _template_table()
        if templates is not None:
            tables.append(templates)
        found = self.session.execute(
            core_select(or_(*(exists().where(t.c.owner_id == owner_id) for t in tables)))
        ).scalar_one()
        return not found

    def insert_contacts(self, rows: list[dict[str, Any]]) -> None:
        self.session.execute(insert(Contact), rows)

    def insert_referrals(self, rows: list[dict[str, Any]]) -> None:
        self.session.execute(insert(Referral), rows)

    def insert_interviews(self, rows: list[dict[str, Any]]) -> None:
        self.session.execute(insert(Interview), rows)

    def insert_checklists(self, rows: list[dict[str, Any]]) -> None:
        self.session.execute(insert(PrepChecklist), rows)

    def insert_events(self, rows: list[dict[str, Any]]) -> None:
        self.session.execute(insert(InterviewEvent), rows)

    def insert_letters(self, rows: list[dict[str, Any]]) -> None:
        self.session.execute(insert(Letter), rows)

    def insert_documents(self, rows: list[dict[str, Any]]) -> None:
        self.session.execute(insert(Document), rows)

    def insert_interactions(self, rows: list[dict[str, Any]]) -> None:
        self.session.execute(insert(Interaction), rows)

    def insert_templates(self, rows: list[dict[str, Any]]) -> None:
        self.session.execute(insert(_section_table("templates")), rows)
