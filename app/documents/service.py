"""Documents: upload, list, read, download and delete, and the files a letter encloses.

An upload is checked from its bytes (:mod:`app.documents.files`), held to the size of one
document and to the user's quota (a count and a total of bytes), and stored whole in the
database with its SHA-256. The quota check and the insert run under the account's lock, so
two uploads at once cannot both take the last place.

A document enclosed by a draft letter cannot be deleted (409 ``document_attached``): the
letter would go out without it. Take it out of the letter's ``attachment_ids`` (or delete the
draft) first. A sent letter does not hold its documents: they may be deleted, and the letter
keeps their ids as the record of what it enclosed.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Row
from sqlmodel import Session

from app.accounts.lock import lock_account
from app.documents import files
from app.documents.repository import DocumentRepository
from app.documents.schemas import Document
from app.kit.errors import AppError, Conflict, PayloadTooLarge, Unprocessable
from app.kit.queries import check_if_match, optimistic_write
from app.vocabulary import DocumentKind


@dataclass(frozen=True)
class Limits:
    """How big one document may be, and how many (and how many bytes) one user keeps."""

    max_bytes: int
    max_documents: int
    max_total_bytes: int


class Quota(AppError):
    status, code, title = 422, "document_quota_exceeded", "Document quota exceeded"


def too_large(limit: int) -> PayloadTooLarge:
    """The 413 for a document bigger than one may be."""
    return PayloadTooLarge(
        f"A document is limited to {limit} bytes; this one is bigger.",
        code="document_too_large",
        max_bytes=limit,
    )


def read_file(stream: Any, limit: int) -> bytes:
    """Up to ``limit`` bytes of an uploaded file (blocking: call it in a thread); a 413 past it."""
    content: bytes = stream.read(limit + 1)
    if len(content) > limit:
        raise too_large(limit)
    return content


def checked(content: bytes) -> files.Sniffed:
    """What the bytes are, or a 422 naming the types accepted."""
    if not content:
        raise Unprocessable("The file is empty.", code="empty_document")
    sniffed = files.sniff(content)
    if sniffed is None:
        raise Unprocessable(
            "The file is not a document of a type accepted here: PDF, DOCX, ODT or UTF-8 "
            "text. The type is read from the file's bytes, not from its name.",
            code="unsupported_document_type",
            accepted=list(files.ACCEPTED),
        )
    return sniffed


def create(
    session: Session,
    owner_id: uuid.UUID,
    *,
    content: bytes,
    filename: str | None,
    kind: DocumentKind,
    title: str | None,
    limits: Limits,
) -> dict[str, Any]:
    """Keep an uploaded file as a document of the caller's; its description is returned."""
    if len(content) > limits.max_bytes:
        raise too_large(limits.max_bytes)
    sniffed = checked(content)
    document = Document(
        owner_id=owner_id,
        kind=kind.value,
        title=title,
        filename=files.safe_filename(filename, sniffed),
        content_type=sniffed.media_type,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        content=content,
    )
    documents = DocumentRepository(session)
    try:
        lock_account(session, owner_id)
        count, total = documents.usage(owner_id)
        _check_quota(count, total, len(content), limits)
        documents.add(document)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return _description(document)


def _check_quota(count: int, total: int, size: int, limits: Limits) -> None:
    if count + 1 > limits.max_documents:
        raise Quota(
            f"You keep {count} documents, the most allowed ({limits.max_documents}); delete "
            "one to upload another.",
            quota="documents",
            limit=limits.max_documents,
            used=count,
        )
    if total + size > limits.max_total_bytes:
        raise Quota(
            f"Your documents take {total} bytes and this one {size}: more than the "
            f"{limits.max_total_bytes} bytes allowed in all; delete one to make room.",
            quota="bytes",
            limit=limits.max_total_bytes,
            used=total,
        )


_PUBLIC_FIELDS = (
    "id",
    "kind",
    "title",
    "filename",
    "content_type",
    "size",
    "sha256",
    "version",
    "created_at",
    "updated_at",
)


def _description(document: Document) -> dict[str, Any]:
    return {name: getattr(document, name) for name in _PUBLIC_FIELDS}


def get(session: Session, owner_id: uuid.UUID, document_id: uuid.UUID) -> Row[Any]:
    """The caller's document, described (no bytes), or a 404."""
    return DocumentRepository(session).describe(owner_id, document_id)


def content(session: Session, owner_id: uuid.UUID, document_id: uuid.UUID) -> Row[Any]:
    """The caller's document with its bytes, or a 404."""
    return DocumentRepository(session).with_content(owner_id, document_id)


def list_documents(
    session: Session,
    owner_id: uuid.UUID,
    *,
    kind: DocumentKind | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], bool, str | None]:
    """One page of the caller's documents (descriptions), newest first."""
    return DocumentRepository(session).page(owner_id, kind=kind, limit=limit, cursor=cursor)


def delete(
    session: Session, owner_id: uuid.UUID, document_id: uuid.UUID, *, if_match: str | None = None
) -> None:
    """Delete a document no draft letter encloses (409 ``document_attached`` otherwise)."""
    documents = DocumentRepository(session)

    def attempt() -> None:
        row = documents.describe(owner_id, document_id)
        check_if_match(if_match, row.version)
        drafts = documents.drafts_attaching(owner_id, document_id)
        if drafts:
            shown = drafts[:10]
            raise Conflict(
                "Draft letters enclose this document; take it out of their attachment_ids "
                "(or delete the drafts) first.",
                code="document_attached",
                letter_ids=[str(i) for i in shown],
            )
        documents.compare_and_delete(document_id, row.version)
        session.commit()

    optimistic_write(session, attempt, if_match=if_match, what="document")


class _Enclosing(Protocol):
    attachment_ids: list[str] | None


def attachments_of(
    session: Session, owner_id: uuid.UUID, letter: _Enclosing
) -> list[tuple[str, str, bytes]]:
    """The files ``letter`` encloses, in its order: ``(filename, media_type, bytes)`` each.

    Blocking, for the mail sender's worker thread. Only the owner's documents are read; an
    enclosed document that no longer exists is a 409 ``attachment_missing`` rather than a
    letter sent without it.
    """
    wanted = [uuid.UUID(str(i)) for i in letter.attachment_ids or ()]
    found = {row.id: row for row in DocumentRepository(session).contents(owner_id, wanted)}
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        raise Conflict(
            "The letter encloses documents that no longer exist: " + ", ".join(missing) + ".",
            code="attachment_missing",
            document_ids=missing,
        )
    return [
        (found[i].filename, files.download_type(found[i].content_type), bytes(found[i].content))
        for i in wanted
    ]
