"""The referral network: the snowball of leads, how a contact was reached, the courtesies
owed down the chain, and warm paths to an organization or a field.

**Leads.** An informational interview ends with "who else should I talk to?". Each name the
interviewee gives becomes a referral from the interviewee (the referrer) to that person,
tied to the interview (``Referral.interview_id``), and the person one of the user's contacts:

- ``contact_id`` names one of the user's contacts (else a 422 on that field);
- a new ``contact`` is one the user already has if one matches, in this order: the same
  ``source`` and ``external_id``; else the same email, in any case; else the same full name
  and organization, in any case and without surrounding spaces, unless both have an email
  (then the emails differ: another person). The earliest recorded match wins, and is kept
  as it is: a lead never changes a contact. No match: the contact is added.

A referral already recorded from the interviewee to the person is reused as it is, never
duplicated. The interviewee cannot be their own lead, nor can one request name a person
twice (422). Leads are taken only once the interview is held (the letter rules' own
``HELD_OR_LATER``); before, a 409 ``interview_not_held``. Everything is one unit of work,
with the ``contact.created`` and ``referral.created`` events of what was added.

From then on the workflow's rules apply down the chain as they stand: the interviewee is a
referrer of each lead, so once a lead's interview is thanked the agenda owes the
interviewee a report back, and the lead's interview reaches ``reported_back`` only after it.

**The chain** of a contact: who referred the user to them, who referred the user to that
person, and so on; the earliest recorded referral at each step, at most :data:`CHAIN_DEPTH`
steps, ending at the first person already in it.

**Courtesy**: the letters the agenda says are owed — a thank-you (``thank``), a report back
to a referrer (``report_back``) and a note to someone whose stay-in-touch cadence has come
round (``keep_in_touch``) — read through the agenda itself, restricted to those kinds, each
with the body that drafts its letter.

**Warm paths** to an organization or a career field: chains of referrals from someone the
user knows directly (a contact nobody referred them to) to a contact there, at most
:data:`PATH_DEPTH` people long, ranked by :func:`_rank`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row
from sqlalchemy.exc import IntegrityError

from app.agenda import service as agenda_service
from app.agenda.schemas import AgendaItem, AgendaKind
from app.contacts.schemas import Contact, ContactPublic
from app.kit.db import utcnow
from app.kit.errors import Conflict, NotFound, Unprocessable, caller_gone
from app.kit.queries import WRITE_ATTEMPTS, new_row
from app.kit.times import local_date
from app.letters.rules import HELD_OR_LATER
from app.network import repository
from app.network.schemas import (
    ChainLink,
    ContactChain,
    ContactSummary,
    CourtesyDraft,
    CourtesyItem,
    LeadCreate,
    LeadPublic,
    LeadsCreate,
    LeadsPublic,
    PathStep,
    WarmPath,
)
from app.referrals.schemas import Referral, ReferralPublic
from app.vocabulary import InterviewState, LetterKind, Relationship
from app.webhooks.outbox import event_row

CHAIN_DEPTH = 10
PATH_DEPTH = 4
# The most people sought one search of paths starts from, and the most complete paths it
# reads (the shortest and strongest first) before ranking them by recency.
PATH_TARGETS = 500
PATH_CANDIDATES = 200
MAX_PATHS = 50

# How much a relationship counts on a path: the referrer's relationship to the user, as the
# referral records it. Work and teaching ties above personal ones, personal above the rest.
RELATIONSHIP_STRENGTH: dict[Relationship, int] = {
    Relationship.FORMER_EMPLOYER: 3,
    Relationship.FACULTY: 3,
    Relationship.COLLEAGUE: 3,
    Relationship.FRIEND: 2,
    Relationship.FAMILY: 2,
    Relationship.OTHER: 1,
}

# The agenda's kinds that are letters owed to someone, and the letter each is answered by.
COURTESY_LETTERS: dict[AgendaKind, LetterKind] = {
    AgendaKind.THANK: LetterKind.THANK_YOU,
    AgendaKind.REPORT_BACK: LetterKind.REPORT_BACK,
    AgendaKind.KEEP_IN_TOUCH: LetterKind.KEEP_IN_TOUCH,
}


# --- leads ---------------------------------------------------------------------------------------


def _fold(value: str | None) -> str | None:
    """A name, organization or email as compared: trimmed and lower-cased."""
    return value.strip().lower() if value is not None and value.strip() else None


def _lead_error(index: int, field: str, message: str, code: str) -> Unprocessable:
    return Unprocessable(
        message,
        code=code,
        errors=[{"loc": ["body", "leads", index, field], "msg": message, "type": code}],
    )


def _not_held(state: str) -> Conflict:
    return Conflict(
        "Leads are taken once the interview is held: they are the answer to its closing "
        f"question (the interview is {state}).",
        code="interview_not_held",
        state=state,
    )


def _match(lead: LeadCreate, candidates: Sequence[Row[Any]]) -> Row[Any] | None:
    """The user's contact a new lead already is, by the rule in this module's docstring."""
    person = lead.contact
    assert person is not None
    if person.source is not None and person.external_id is not None:
        for row in candidates:
            if (row.source, row.external_id) == (person.source, person.external_id):
                return row
    email = _fold(person.email)
    if email is not None:
        for row in candidates:
            if _fold(row.email) == email:
                return row
    name, organization = _fold(person.full_name), _fold(person.organization)
    if organization is None:
        return None
    for row in candidates:
        if (_fold(row.full_name), _fold(row.organization)) != (name, organization):
            continue
        if row.email is None or email is None:
            return row
    return None


def _referral_of(row: Row[Any]) -> dict[str, Any] | None:
    """The interviewee's referral to a candidate, from its prefixed columns, if any."""
    values = {
        name[len(repository.REFERRAL_PREFIX) :]: value
        for name, value in row._mapping.items()
        if isinstance(name, str) and name.startswith(repository.REFERRAL_PREFIX)
    }
    return values if values.get("id") is not None else None


_CONTACT_COLUMNS = tuple(Contact.model_fields)


@dataclass
class _Plan:
    """What one attempt decided to answer and to write."""

    leads: list[LeadPublic]
    contacts: list[dict[str, Any]]
    referrals: list[dict[str, Any]]
    events: list[Any]
    interviewee_id: uuid.UUID


def _plan(
    rows: list[Row[Any]], owner_id: uuid.UUID, interview_id: uuid.UUID, data: LeadsCreate
) -> _Plan:
    """Match each lead, refuse what cannot be, and describe the rows to add."""
    if not rows:
        raise caller_gone()
    first = rows[0]
    if first.interview_state is None:
        raise NotFound(f"No interview with id {interview_id}.", code="interview_not_found")
    if InterviewState(first.interview_state) not in HELD_OR_LATER:
        raise _not_held(first.interview_state)
    interviewee_id: uuid.UUID = first.interviewee_id
    candidates = [row for row in rows if row.id is not None]
    by_id = {row.id: row for row in candidates}
    held_at: datetime = first.interview_held_at or utcnow()
    given_on = local_date(held_at.astimezone(UTC), first.caller_time_zone)
    now = utcnow()

    plan = _Plan([], [], [], [], interviewee_id)
    seen: dict[Any, int] = {}
    for index, lead in enumerate(data.leads):
        field = "contact_id" if lead.contact_id is not None else "contact"
        contact: dict[str, Any] | None = None
        referral: dict[str, Any] | None = None
        if lead.contact_id is not None:
            found = by_id.get(lead.contact_id)
            if found is None:
                raise _lead_error(
                    index,
                    field,
                    "contact_id does not name one of your records.",
                    "invalid_reference",
                )
        else:
            found = _match(lead, candidates)
        if found is not None:
            contact = {name: found._mapping[name] for name in _CONTACT_COLUMNS}
            referral = _referral_of(found)
            key: Any = found.id
        else:
            assert lead.contact is not None
            contact = new_row(
                Contact, owner_id=owner_id, **lead.contact.model_dump(), created_at=now
            )
            contact["updated_at"] = now
            key = (
                ("email", _fold(lead.contact.email))
                if lead.contact.email
                else ("name", _fold(lead.contact.full_name), _fold(lead.contact.organization))
            )
        if contact["id"] == interviewee_id:
            raise _lead_error(
                index,
                field,
                "The interviewee cannot be their own lead.",
                "self_referral",
            )
        if key in seen:
            raise _lead_error(
                index,
                field,
                f"This person is already lead {seen[key]} of this request.",
                "duplicate_lead",
            )
        seen[key] = index
        public_contact = ContactPublic.model_validate(contact)
        if found is None:
            plan.contacts.append(contact)
            plan.events.append(event_row(owner_id, "contact.created", public_contact))
        if referral is None:
            referral = new_row(
                Referral,
                owner_id=owner_id,
                referrer_id=interviewee_id,
                referred_id=contact["id"],
                relationship=lead.relationship.value,
                notes=lead.notes,
                referred_on=lead.referred_on or given_on,
                interview_id=interview_id,
                created_at=now,
                updated_at=now,
            )
            public_referral = ReferralPublic.model_validate(referral)
            plan.referrals.append(referral)
            plan.events.append(event_row(owner_id, "referral.created", public_referral))
            referral_matched = False
        else:
            public_referral = ReferralPublic.model_validate(referral)
            referral_matched = True
        plan.leads.append(
            LeadPublic(
                contact=public_contact,
                referral=public_referral,
                contact_matched=found is not None,
                referral_matched=referral_matched,
            )
        )
    return plan


def add_leads(
    connection: Connection, owner_id: uuid.UUID, interview_id: uuid.UUID, data: LeadsCreate
) -> LeadsPublic:
    """Record the people the interviewee suggested, as contacts and referrals from them.

    Two round trips: one statement reads the caller, the interview and the contacts the leads
    may already be; one unit of work writes what is new. When the interview changed between
    the two, or another request recorded one of the pairs meanwhile, it is all read and
    decided again (at most :data:`~app.kit.queries.WRITE_ATTEMPTS` times).
    """
    contact_ids = [lead.contact_id for lead in data.leads if lead.contact_id is not None]
    people = [lead.contact for lead in data.leads if lead.contact is not None]
    emails = sorted({e for p in people if (e := _fold(p.email)) is not None})
    identities = sorted({(p.source, p.external_id) for p in people if p.source and p.external_id})
    names = sorted(
        {
            (name, organization)
            for p in people
            if (name := _fold(p.full_name)) is not None
            and (organization := _fold(p.organization)) is not None
        }
    )
    for _ in range(WRITE_ATTEMPTS):
        rows = repository.lead_facts(
            connection,
            owner_id,
            interview_id,
            contact_ids=contact_ids,
            emails=emails,
            identities=identities,
            names=names,
        )
        plan = _plan(rows, owner_id, interview_id, data)
        try:
            written = repository.write_leads(
                connection,
                owner_id,
                interview_id,
                interviewee_id=plan.interviewee_id,
                states=[state.value for state in HELD_OR_LATER],
                contacts=plan.contacts,
                referrals=plan.referrals,
                events=plan.events,
            )
        except IntegrityError:  # a pair recorded meanwhile: read it, and reuse it
            continue
        if written:
            return LeadsPublic(
                interview_id=interview_id, referrer_id=plan.interviewee_id, data=plan.leads
            )
    raise Conflict(
        "The interview or its leads kept changing while this request ran; retry.",
        code="concurrent_update",
    )


# --- the chain -----------------------------------------------------------------------------------


def chain(connection: Connection, owner_id: uuid.UUID, contact_id: uuid.UUID) -> ContactChain:
    """How the user reached a contact: referrer after referrer, nearest first."""
    rows = repository.chain(connection, owner_id, contact_id, depth=CHAIN_DEPTH)
    if not rows:
        raise caller_gone()
    first = rows[0]
    if first.contact_name is None:
        raise NotFound(f"No contact with id {contact_id}.", code="contact_not_found")
    links: list[ChainLink] = []
    seen = {contact_id}
    has_more = False
    for row in rows:
        if row.referral_id is None:
            continue
        if row.referrer_id in seen:  # round again: the chain has come back on itself
            break
        if len(links) == CHAIN_DEPTH:
            has_more = True
            break
        seen.add(row.referrer_id)
        links.append(
            ChainLink(
                referrer=ContactSummary(
                    id=row.referrer_id,
                    full_name=row.referrer_name,
                    organization=row.referrer_organization,
                ),
                referral_id=row.referral_id,
                relationship=Relationship(row.relationship),
                interview_id=row.interview_id,
                referred_on=row.referred_on,
            )
        )
    return ContactChain(
        contact=ContactSummary(
            id=contact_id, full_name=first.contact_name, organization=first.contact_organization
        ),
        links=links,
        has_more=has_more,
    )


# --- courtesy ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Courtesy:
    """The letters owed, oldest due first, and whether more are owed before the horizon."""

    items: list[CourtesyItem]
    has_more: bool
    due_before: datetime
    time_zone: str


def _courtesy(item: AgendaItem) -> CourtesyItem:
    letter = COURTESY_LETTERS[item.kind]
    return CourtesyItem(
        kind=item.kind,
        letter_kind=letter,
        contact_id=item.contact_id,
        interview_id=item.interview_id,
        due_at=item.due_at,
        overdue=item.overdue,
        title=item.title,
        due_label=item.due_label,
        draft=CourtesyDraft(
            kind=letter, recipient_id=item.contact_id, interview_id=item.interview_id
        ),
    )


def courtesy(
    connection: Connection,
    owner_id: uuid.UUID,
    *,
    due_before: datetime | None = None,
    limit: int,
) -> Courtesy:
    """The agenda's letters owed (thank, report back, keep in touch) before ``due_before``."""
    found = agenda_service.agenda(
        connection, owner_id, due_before=due_before, limit=limit, kinds=COURTESY_LETTERS
    )
    return Courtesy(
        items=[_courtesy(item) for item in found.items],
        has_more=found.has_more,
        due_before=found.due_before,
        time_zone=found.time_zone,
    )


# --- warm paths ----------------------------------------------------------------------------------


def _when(value: datetime | None) -> float:
    """A last contact as a number to sort by: never is the coldest of all."""
    if value is None:
        return float("-inf")
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _rank(path: WarmPath) -> tuple[Any, ...]:
    """The warmest first: fewer people; then the weakest relationship on the path, stronger
    first, then all of them summed (:data:`RELATIONSHIP_STRENGTH`); then how recently the user
    was in touch with each person on it, the one known directly first (never last); then the
    ids, for a stable order."""
    strengths = [
        RELATIONSHIP_STRENGTH[step.relationship]
        for step in path.steps
        if step.relationship is not None
    ]
    return (
        path.length,
        -min(strengths, default=0),
        -sum(strengths),
        tuple(-_when(step.last_contacted_at) for step in path.steps),
        tuple(str(step.contact.id) for step in path.steps),
    )


def paths(
    connection: Connection,
    owner_id: uuid.UUID,
    *,
    organization: str | None,
    career_field: str | None,
    limit: int,
) -> tuple[list[WarmPath], bool]:
    """The warmest paths to contacts at ``organization`` or in ``career_field`` (exactly one
    given), at most ``limit``; and whether more were found."""
    rows = repository.paths(
        connection,
        owner_id,
        organization=organization,
        career_field=career_field,
        strength={kind.value: points for kind, points in RELATIONSHIP_STRENGTH.items()},
        depth=PATH_DEPTH,
        targets=PATH_TARGETS,
        cap=PATH_CANDIDATES,
    )
    if not rows:
        raise caller_gone()
    grouped: dict[str, list[Row[Any]]] = {}
    for row in rows:
        if row.path is not None:
            grouped.setdefault(row.path, []).append(row)
    found: list[WarmPath] = []
    for steps in grouped.values():
        steps.sort(key=lambda row: row.position)
        # Each row holds the referral from it to the next step: shift them down by one.
        before: Row[Any] | None = None
        path_steps: list[PathStep] = []
        for row in steps:
            path_steps.append(
                PathStep(
                    contact=ContactSummary(
                        id=row.contact_id, full_name=row.full_name, organization=row.organization
                    ),
                    last_contacted_at=row.last_contacted_at,
                    referral_id=before.via_referral if before is not None else None,
                    relationship=Relationship(before.relationship) if before is not None else None,
                    interview_id=before.interview_id if before is not None else None,
                )
            )
            before = row
        found.append(WarmPath(length=len(path_steps), steps=path_steps))
    found.sort(key=_rank)
    return found[:limit], len(found) > limit
