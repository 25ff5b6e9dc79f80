"""A Contact: a person the user may talk to, or who gave the user a lead.

The table, and the shapes a contact takes on the wire (create, upsert, update, public).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    HttpUrl,
    StrictBool,
    StringConstraints,
    TypeAdapter,
    model_validator,
)
from pydantic import Field as PydanticField
from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.kit.db import JSONType, UTCDateTime, new_id, utcnow
from app.kit.schemas import Whole, together
from app.kit.times import MAX_ZONE_LENGTH, TimeZoneName


class Contact(SQLModel, table=True):
    """A person, owned by one user."""

    __tablename__ = "contact"
    __table_args__ = (
        UniqueConstraint("owner_id", "source", "external_id"),
        Index("ix_contact_owner_id_id", "owner_id", "id"),
        Index("ix_contact_owner_id_email", "owner_id", "email"),
        # The agenda's keep-in-touch scan reads only this index (20261126_agenda_indexes); it
        # also serves anything (owner_id, keep_in_touch_days) alone would.
        Index(
            "ix_contact_keep_in_touch_due",
            "owner_id",
            "keep_in_touch_days",
            "archived",
            "last_contacted_at",
            "created_at",
            "id",
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    owner_id: uuid.UUID = Field(foreign_key="user_account.id", ondelete="CASCADE")
    full_name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=50)
    organization: str | None = Field(default=None, max_length=200)
    title: str | None = Field(default=None, max_length=200)
    career_field: str | None = Field(default=None, max_length=100)
    profile_url: str | None = Field(default=None, max_length=2048)
    notes: str | None = Field(default=None, max_length=20000)
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    external_id: str | None = Field(default=None, max_length=255)
    source: str | None = Field(default=None, max_length=100)
    keep_in_touch_days: int | None = Field(default=None)
    last_contacted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    archived: bool = Field(default=False)
    # The IANA zone the person reads times in; null when not known (letters use the user's).
    time_zone: str | None = Field(default=None, max_length=MAX_ZONE_LENGTH)
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- What goes over the wire ------------------------------------------------------------------

# Control characters (C0, DEL and C1) never belong in an identifier another system will echo,
# nor in a URL.
_CONTROL_CHARS = r"\x00-\x1f\x7f-\x9f"
NO_CONTROL_CHARS = rf"^[^{_CONTROL_CHARS}]*$"
MAX_TAGS = 50
_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)
# URL parsers skip a tab or line break inside a URL and accept the rest, but the value is kept
# as written: its line break would start a line of its own in an interview's write-up.
_CONTROL_CHAR = re.compile(rf"[{_CONTROL_CHARS}]")


def _normalise_tags(tags: list[str]) -> list[str]:
    """Drop repeats (each tag already stripped), keeping the order the client gave."""
    return list(dict.fromkeys(tags))


def _check_profile_url(value: str | None) -> str | None:
    """An absolute http(s) URL, kept exactly as written (no added trailing slash)."""
    if value is None:
        return None
    if _CONTROL_CHAR.search(value):
        raise ValueError("must not contain a line break or any other control character")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http or https URL")
    _HTTP_URL.validate_python(value)
    return value


FullName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Tags = Annotated[list[Tag], PydanticField(max_length=MAX_TAGS), AfterValidator(_normalise_tags)]
Email = Annotated[EmailStr, PydanticField(max_length=320)]
Phone = Annotated[str, StringConstraints(max_length=50)]
Organization = Annotated[str, StringConstraints(max_length=200)]
Title = Annotated[str, StringConstraints(max_length=200)]
CareerField = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
ProfileUrl = Annotated[
    str,
    StringConstraints(max_length=2048),
    AfterValidator(_check_profile_url),
    PydanticField(
        description="An absolute http or https URL (a LinkedIn profile, a personal site).",
        json_schema_extra={
            "pattern": r"^[Hh][Tt][Tt][Pp][Ss]?://([^/?#@\u0000-\u001f\u007f-\u009f]*@)?"
            r"([A-Za-z0-9_-]+\.)*[A-Za-z][A-Za-z0-9_-]*\.?"
            r"(:([0-5]?[0-9]{1,4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])?)?"
            r"([/?#][^\u0000-\u001f\u007f-\u009f]*)?$"
        },
    ),
]
Notes = Annotated[str, StringConstraints(max_length=20000)]
ExternalId = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=NO_CONTROL_CHARS)
]
Source = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NO_CONTROL_CHARS)]
KeepInTouchDays = Annotated[int, Whole(ge=1, le=3650)]
TIME_ZONE_DESCRIPTION = (
    "The IANA time zone the person reads times in, such as Europe/Berlin; null when not "
    "known, and letters to them then show times in the user's zone."
)


def _omit_defaults(schema: dict[str, Any]) -> None:
    """In a PATCH body an absent field means "leave it"; ``null`` is not its default."""
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


class _ContactFields(BaseModel):
    """The writable fields of a contact other than its external identity."""

    model_config = ConfigDict(extra="forbid")

    full_name: FullName
    email: Email | None = None
    phone: Phone | None = None
    organization: Organization | None = None
    title: Title | None = None
    career_field: CareerField | None = None
    profile_url: ProfileUrl | None = None
    notes: Notes | None = None
    tags: Tags = PydanticField(default_factory=list)
    keep_in_touch_days: KeepInTouchDays | None = PydanticField(
        default=None, description="Stay-in-touch cadence in days; null for none."
    )
    archived: StrictBool = False
    time_zone: TimeZoneName | None = PydanticField(default=None, description=TIME_ZONE_DESCRIPTION)


class ContactCreate(_ContactFields):
    """A new contact. ``external_id`` and ``source`` come together or not at all."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=together("external_id", "source"))

    external_id: ExternalId | None = None
    source: Source | None = None

    @model_validator(mode="after")
    def _external_identity_is_whole(self) -> ContactCreate:
        if (self.external_id is None) != (self.source is None):
            raise ValueError("external_id and source must be given together")
        return self


class ContactUpsert(_ContactFields):
    """A contact pushed by another platform under its own id.

    ``source`` and ``external_id`` come from the path; if repeated in the body they must match.
    """

    external_id: ExternalId | None = None
    source: Source | None = None


class ContactUpdate(BaseModel):
    """Changes to a contact: only the fields sent change; ``null`` clears an optional field."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_omit_defaults)

    # Not nullable: an explicit null is a 422, an absent field is left alone. The None default
    # only marks "absent" (services read model_dump(exclude_unset=True)); it is never written.
    full_name: FullName = PydanticField(default=None)  # type: ignore[assignment]
    tags: Tags = PydanticField(default=None)  # type: ignore[arg-type]
    archived: StrictBool = PydanticField(default=None)  # type: ignore[assignment]

    email: Email | None = None
    phone: Phone | None = None
    organization: Organization | None = None
    title: Title | None = None
    career_field: CareerField | None = None
    profile_url: ProfileUrl | None = None
    notes: Notes | None = None
    keep_in_touch_days: KeepInTouchDays | None = None
    time_zone: TimeZoneName | None = PydanticField(default=None, description=TIME_ZONE_DESCRIPTION)
    external_id: ExternalId | None = None
    source: Source | None = None


class ContactPublic(BaseModel):
    """A contact as its owner sees it. ``last_contacted_at`` is derived, never written."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    full_name: str
    email: str | None
    phone: str | None
    organization: str | None
    title: str | None
    career_field: str | None
    profile_url: str | None
    notes: str | None
    tags: list[str]
    external_id: str | None
    source: str | None
    keep_in_touch_days: int | None
    last_contacted_at: datetime | None
    archived: bool
    time_zone: str | None = PydanticField(description=TIME_ZONE_DESCRIPTION)
    created_at: datetime
    updated_at: datetime
