"""The referral network's shapes: leads given at an interview, a contact's chain of referrers,
the courtesies owed, and warm paths.

Nothing here is a table: leads are contacts and referrals (a referral remembers the interview
its lead was given at, ``Referral.interview_id``); the rest is computed.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as PydanticField

from app.agenda.schemas import AgendaKind
from app.contacts.schemas import ContactCreate, ContactPublic
from app.referrals.schemas import Notes, ReferralPublic, ReferredOn
from app.vocabulary import LetterKind, Relationship

# At most this many leads in one request: one conversation's worth of names.
MAX_LEADS = 20


# --- leads ---------------------------------------------------------------------------------------


def _one_of_contact(schema: dict[str, Any]) -> None:
    """Say in the document what the validator enforces: exactly one of ``contact_id`` and
    ``contact``, null counting as not given. Not both, with ``dependentSchemas``; at least one,
    with a ``not`` (neither null nor absent on both). No top-level ``oneOf``/``anyOf``, which
    SDK generators would turn into a union of two models."""
    neither = {"properties": {"contact_id": {"type": "null"}, "contact": {"type": "null"}}}
    schema["not"] = neither
    schema["dependentSchemas"] = {
        name: {
            "anyOf": [
                {"properties": {name: {"type": "null"}}},
                {"properties": {other: {"type": "null"}}},
            ]
        }
        for name, other in (("contact_id", "contact"), ("contact", "contact_id"))
    }


class LeadCreate(BaseModel):
    """One person the interviewee suggested: one of your contacts, or a new one."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_one_of_contact)

    contact_id: uuid.UUID | None = PydanticField(
        default=None, description="One of your contacts; give this or `contact`, not both."
    )
    contact: ContactCreate | None = PydanticField(
        default=None,
        description="A person to add to your contacts, unless one of them is already this "
        "person: same source and external_id, else the same email (any case), else the same "
        "full name and organization (any case, when the contact on record has no other email).",
    )
    relationship: Relationship = PydanticField(
        default=Relationship.OTHER,
        description="How the interviewee (the referrer) knows you; `other` unless you say.",
    )
    notes: Notes | None = PydanticField(
        default=None, description="What the interviewee said about this person."
    )
    referred_on: ReferredOn | None = PydanticField(
        default=None,
        description="The day the lead was given; by default the day the interview was held, "
        "in your time zone.",
    )

    @model_validator(mode="after")
    def _exactly_one_person(self) -> LeadCreate:
        if (self.contact_id is None) == (self.contact is None):
            raise ValueError("give exactly one of contact_id and contact")
        return self


class LeadsCreate(BaseModel):
    """The people the interviewee suggested you talk to next."""

    model_config = ConfigDict(extra="forbid")

    leads: Annotated[list[LeadCreate], PydanticField(min_length=1, max_length=MAX_LEADS)] = (
        PydanticField(description=f"1 to {MAX_LEADS} people, each named once.")
    )


class LeadPublic(BaseModel):
    """One lead as recorded: the contact and the referral from the interviewee to them."""

    contact: ContactPublic
    referral: ReferralPublic
    contact_matched: bool = PydanticField(
        description="The lead is a contact you already had (named by contact_id, or matched); "
        "false when it was added now."
    )
    referral_matched: bool = PydanticField(
        description="The interviewee was already recorded as having referred you to this "
        "person; that referral is reused as it is."
    )


class LeadsPublic(BaseModel):
    """The leads an interview gave, in the order they were sent."""

    interview_id: uuid.UUID
    referrer_id: uuid.UUID = PydanticField(
        description="The interviewee, now the referrer of every lead."
    )
    data: list[LeadPublic]


# --- the chain -----------------------------------------------------------------------------------


class ContactSummary(BaseModel):
    """Who a contact is, in a line."""

    id: uuid.UUID
    full_name: str
    organization: str | None


class ChainLink(BaseModel):
    """One step up the chain: who referred the contact below, and how."""

    referrer: ContactSummary
    referral_id: uuid.UUID
    relationship: Relationship = PydanticField(description="How the referrer knows you.")
    interview_id: uuid.UUID | None = PydanticField(
        description="The interview at which the referrer suggested the contact below; null "
        "when the referral was recorded on its own."
    )
    referred_on: date | None


class ContactChain(BaseModel):
    """How you reached a contact: their referrer, that person's referrer, and so on."""

    contact: ContactSummary
    links: list[ChainLink] = PydanticField(
        description="Nearest first. Where a contact has several referrers, the earliest "
        "recorded one is followed. The chain ends at someone nobody referred you to (you know "
        "them directly), at a person already in it, or at the depth cap."
    )
    has_more: bool = PydanticField(
        description="The chain goes on above the last link shown (the depth cap was reached)."
    )


# --- courtesy ------------------------------------------------------------------------------------


class CourtesyDraft(BaseModel):
    """The body of `POST /api/v1/letters/draft` that drafts this letter."""

    kind: LetterKind
    recipient_id: uuid.UUID
    interview_id: uuid.UUID | None


class CourtesyItem(BaseModel):
    """One letter owed: to whom, which kind, about which interview, since when."""

    kind: AgendaKind = PydanticField(
        description="The agenda's kind of the item: `thank`, `report_back` or `keep_in_touch`."
    )
    letter_kind: LetterKind = PydanticField(
        description="The letter to send: `thank_you`, `report_back` or `keep_in_touch`."
    )
    contact_id: uuid.UUID = PydanticField(description="The person owed the letter.")
    interview_id: uuid.UUID | None = PydanticField(
        description="The interview the letter is about; null for keep_in_touch."
    )
    due_at: datetime = PydanticField(description="When the agenda has it fall due (UTC).")
    overdue: bool
    title: str = PydanticField(description="What to do, for people, as the agenda says it.")
    due_label: str = PydanticField(description="due_at as the user reads it, in their zone.")
    draft: CourtesyDraft = PydanticField(
        description="Send this as the body of `POST /api/v1/letters/draft` to draft the letter."
    )


class CourtesyList(BaseModel):
    """The letters owed, oldest due first."""

    data: list[CourtesyItem]
    has_more: bool = PydanticField(
        description="More are owed before due_before than limit let through."
    )
    due_before: datetime = PydanticField(description="The horizon the list was computed for.")
    time_zone: str = PydanticField(description="The user's IANA time zone, for titles and labels.")


# --- warm paths ----------------------------------------------------------------------------------


class PathStep(BaseModel):
    """One person on a path, and the referral that leads to them from the step before."""

    contact: ContactSummary
    last_contacted_at: datetime | None = PydanticField(
        description="When you were last in touch with them; null if never."
    )
    referral_id: uuid.UUID | None = PydanticField(
        description="The referral from the previous step to this person; null on the first "
        "step, someone you know directly."
    )
    relationship: Relationship | None = PydanticField(
        description="How the previous step (the referrer) knows you; null on the first step."
    )
    interview_id: uuid.UUID | None = PydanticField(
        description="The interview at which the previous step suggested this person, if any."
    )


class WarmPath(BaseModel):
    """A chain of introductions from you to someone at the organization or in the field."""

    length: int = PydanticField(description="How many people are on the path, 1 to 4.")
    steps: list[PathStep] = PydanticField(
        description="From someone you know directly to the person sought, in order."
    )


class WarmPathList(BaseModel):
    """The warmest paths first: shortest, then strongest relationships, then most recent
    contact."""

    data: list[WarmPath]
    has_more: bool = PydanticField(description="More paths were found than limit let through.")
