"""Every statement the documents domain sends to the database.

Descriptions and bytes are read apart: a page or a single description never loads a file's
bytes; only the download and the letters' attachments do. Reads start from the caller's row
(``app.kit.queries``), so another user's document is a 404 and a gone account a 401.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Row, Select, Table, bindparam, func
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from app.documents.schemas import Document
from app.kit.queries import (
    compare_and_delete,
    get_owned_row,
    keyset_rows,
    owned_page_statement,
    owned_row_statement,
)
from app.letters.schemas import Letter
from app.vocabulary import DocumentKind, LetterStatus

_TABLE: Table = Document.__table__  # type: ignore[attr-defined]
# Everything but the bytes.
_DESCRIPTION = tuple(c for c in _TABLE.c if c.name != "content")


@cache
def _description_statement() -> Select[Any]:
    return owned_row_statement(_TABLE, _DESCRIPTION)


@cache
def _page_statement(*, by_kind: bool, after_cursor: bool) -> Select[Any]:
    conditions = [_TABLE.c.kind == bindparam("kind")] if by_kind else []
    return owned_page_statement(_TABLE, conditions, after_cursor=after_cursor, columns=_DESCRIPTION)


class DocumentRepository:
    """The caller's documents."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def describe(self, owner_id: uuid.UUID, document_id: uuid.UUID) -> Row[Any]:
        """The caller's document without its bytes, or a 404 ``document_not_found``."""
        return get_owned_row(
            self.session,
            Document,
            document_id,
            owner_id,
            what="document",
            statement=_description_statement(),
        )

    def with_content(self, owner_id: uuid.UUID, document_id: uuid.UUID) -> Row[Any]:
        """The caller's document with its bytes, or a 404 ``document_not_found``."""
        return get_owned_row(self.session, Document, document_id, owner_id, what="document")

    def page(
        self, owner_id: uuid.UUID, *, kind: DocumentKind | None, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], bool, str | None]:
        """One keyset page of the caller's documents (descriptions), newest first."""
        statement = _page_statement(by_kind=kind is not None, after_cursor=cursor is not None)
        params: dict[str, Any] = {"owner": owner_id}
        if kind is not None:
            params["kind"] = kind.value
        return keyset_rows(self.session, statement, params, limit=limit, cursor=cursor)

    def usage(self, owner_id: uuid.UUID) -> tuple[int, int]:
        """How many documents the owner keeps, and their bytes in all."""
        count, total = self.session.exec(
            select(func.count(), func.coalesce(func.sum(Document.size), 0)).where(
                Document.owner_id == owner_id
            )
        ).one()
        return int(count), int(total)

    def add(self, document: Document) -> None:
        """Stage a new document; it is inserted when the caller commits."""
        self.session.add(document)

    def drafts_attaching(self, owner_id: uuid.UUID, document_id: uuid.UUID) -> list[uuid.UUID]:
        """The owner's draft letters that enclose this document."""
        rows = self.session.exec(
            select(Letter.id, Letter.attachment_ids)
            .where(Letter.owner_id == owner_id)
            .where(Letter.status == LetterStatus.DRAFT.value)
            .where(col(Letter.attachment_ids).is_not(None))
        ).all()
        wanted = str(document_id)
        return [letter_id for letter_id, ids in rows if ids and wanted in ids]

    def compare_and_delete(self, document_id: uuid.UUID, version: int) -> None:
        """Delete the document if it is still at the version read (else ``LostRace``)."""
        compare_and_delete(self.session, Document, document_id, version)

    def contents(self, owner_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> list[Row[Any]]:
        """The owner's documents among ``ids``, with their bytes (any order)."""
        if not ids:
            return []
        return list(
            self.session.connection().execute(
                core_select(
                    _TABLE.c.id, _TABLE.c.filename, _TABLE.c.content_type, _TABLE.c.content
                ).where(_TABLE.c.owner_id == owner_id, _TABLE.c.id.in_(list(ids)))
            )
        )
