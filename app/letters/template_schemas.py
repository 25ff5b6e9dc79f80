"""A user's own letter template for one kind of letter, and the shapes around drafting.

A user without a template of their own for a kind gets the built-in one, shipped in
``app/letters/templates/<kind>.j2``; saving one replaces it for that user only, and deleting
it brings the built-in back.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.kit.db import UTCDateTime, new_id, utcnow
from app.vocabulary import Channel, LetterKind

MAX_TEMPLATE_CHARS = 20_000


class LetterTemplate(SQLModel, table=True):
    """One user's template for one kind of letter (at most one per kind)."""

    __tablename__ = "letter_template"
    __table_args__ = (UniqueConstraint("owner_id", "kind"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    owner_id: uuid.UUID = Field(foreign_key="user_account.id", ondelete="CASCADE")
    kind: str = Field(max_length=20)
    source: str = Field(max_length=MAX_TEMPLATE_CHARS)
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TemplateUpdate(BaseModel):
    """A template to save for a kind of letter."""

    model_config = ConfigDict(extra="forbid")

    source: str = PydanticField(
        min_length=1,
        max_length=MAX_TEMPLATE_CHARS,
        description=(
            "Jinja2 text. A first line `Subject: …` becomes the letter's subject; the rest is "
            "its body. Only the documented variables are available (see `variables`)."
        ),
    )


class TemplatePublic(BaseModel):
    """The template a kind of letter is drafted from: the user's own, or the built-in one."""

    kind: LetterKind
    source: str
    custom: bool = PydanticField(description="True for your own template, false for ours.")
    updated_at: datetime | None = PydanticField(
        description="When your template was last saved; null for the built-in one."
    )
    variables: list[str] = PydanticField(
        description="Every variable a template can use, as dotted names."
    )


class LetterDraftCreate(BaseModel):
    """What to draft: a kind of letter, to one of your contacts, for one of your interviews."""

    model_config = ConfigDict(extra="forbid")

    kind: LetterKind
    recipient_id: uuid.UUID
    interview_id: uuid.UUID | None = None
    channel: Channel = Channel.EMAIL
