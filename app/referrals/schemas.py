"""A Referral: who gave the user a lead to whom."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints
from pydantic import Field as PydanticField
from sqlalchemy import CheckConstraint, ForeignKey, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.kit.db import UTCDateTime, new_id, utcnow
from app.vocabulary import Relationship


class Referral(SQLModel, table=True):
    """``referrer`` gave the lead to talk to ``referred``; a pair is recorded once."""

    __tablename__ = "referral"
    __table_args__ = (
        UniqueConstraint("owner_id", "referrer_id", "referred_id"),
        CheckConstraint("referrer_id <> referred_id", name="referrer_is_not_referred"),
        Index("ix_referral_owner_id_id", "owner_id", "id"),
        Index("ix_referral_referred_id", "referred_id"),
        Index("ix_referral_referrer_id", "referrer_id"),
        Index("ix_referral_interview_id", "interview_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    owner_id: uuid.UUID = Field(foreign_key="user_account.id", ondelete="CASCADE")
    referrer_id: uuid.UUID = Field(foreign_key="contact.id")
    referred_id: uuid.UUID = Field(foreign_key="contact.id")
    relationship: str = Field(max_length=20)
    notes: str | None = Field(default=None, max_length=20000)
    referred_on: date | None = None
    # The interview at which the referrer suggested the referred (a lead), if it came from one.
    # Interviews point at referrals too: this key is the one added after both tables exist
    # (``use_alter``), so that the tables still have an order to be created and dropped in.
    interview_id: uuid.UUID | None = Field(
        default=None,
        sa_column_args=[ForeignKey("interview.id", ondelete="SET NULL", use_alter=True)],
    )
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- What goes over the wire ------------------------------------------------------------------

Notes = Annotated[str, StringConstraints(max_length=20000)]
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _calendar_date_only(value: Any) -> Any:
    """A date written as YYYY-MM-DD; no timestamps or numbers coerced into one."""
    if isinstance(value, datetime) or not isinstance(value, str | date):
        raise ValueError("must be a date written as YYYY-MM-DD")
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise ValueError("must be a date written as YYYY-MM-DD")
    return value


ReferredOn = Annotated[
    date,
    BeforeValidator(_calendar_date_only),
    PydanticField(description="The day the lead was given (YYYY-MM-DD)."),
]


class ReferralCreate(BaseModel):
    """A new referral: ``referrer_id`` gave the lead to ``referred_id``; both are your contacts."""

    model_config = ConfigDict(extra="forbid")

    referrer_id: uuid.UUID = PydanticField(description="The contact who gave the lead.")
    referred_id: uuid.UUID = PydanticField(description="The contact to talk to.")
    relationship: Relationship = PydanticField(description="The referrer's relationship to you.")
    notes: Notes | None = None
    referred_on: ReferredOn | None = None


def _omit_defaults(schema: dict[str, Any]) -> None:
    """In a PATCH body an absent field means "leave it"; ``null`` is not its default."""
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


class ReferralUpdate(BaseModel):
    """Changes to a referral. The pair (referrer, referred) is fixed once recorded."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_omit_defaults)

    # Not nullable: the None default only marks "absent" (services read exclude_unset).
    relationship: Relationship = PydanticField(default=None)  # type: ignore[assignment]
    notes: Notes | None = None
    referred_on: ReferredOn | None = None


class ReferralPublic(BaseModel):
    """A referral as its owner sees it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    referrer_id: uuid.UUID
    referred_id: uuid.UUID
    relationship: Relationship
    notes: str | None
    referred_on: date | None
    interview_id: uuid.UUID | None = PydanticField(
        default=None,
        description="The interview at which the referrer suggested this lead (asked who else "
        "you should talk to); null when the referral was recorded on its own.",
    )
    created_at: datetime
    updated_at: datetime
