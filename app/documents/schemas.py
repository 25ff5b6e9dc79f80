"""A Document: a file a user keeps here to enclose with letters (a résumé, a portfolio)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary
from sqlmodel import Field, SQLModel

from app.kit.db import UTCDateTime, new_id, utcnow
from app.vocabulary import DocumentKind

TITLE_MAX = 200


class Document(SQLModel, table=True):
    """The file's bytes, kept in the database with what was found out about them."""

    __tablename__ = "document"
    __table_args__ = (Index("ix_document_owner_id_id", "owner_id", "id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    owner_id: uuid.UUID = Field(foreign_key="user_account.id", ondelete="CASCADE")
    kind: str = Field(max_length=20)
    title: str | None = Field(default=None, max_length=TITLE_MAX)
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=100)
    size: int
    sha256: str = Field(max_length=64)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class DocumentPublic(SQLModel):
    """A document's description; its bytes are at ``/documents/{id}/content``."""

    id: uuid.UUID
    kind: DocumentKind
    title: str | None
    filename: str = Field(description="The name it is saved under, made safe on upload.")
    content_type: str = Field(description="Found from the file's bytes, never from its name.")
    size: int = Field(description="In bytes.")
    sha256: str = Field(description="The SHA-256 of the bytes, hex.")
    created_at: datetime
    updated_at: datetime
