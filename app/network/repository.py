"""Every statement the referral network sends to the database.

Each read starts from the caller's account row and outer-joins what it looks for, so one
statement also proves the caller exists (no row: a 401) and scopes everything to them:

- the leads of an interview: the interview, the caller's time zone, and the contacts a lead
  may already be, each with the interviewee's referral to them if there is one;
- a contact's chain of referrers: a recursive walk up the referrals, one referrer per step
  (the earliest recorded), cut at a depth;
- warm paths: a recursive walk up the referrals from every contact at an organization or in
  a field to someone nobody referred the user to, cut at a depth, with each path's
  relationship strengths summed up on the way.

The recursive walks are plain ``WITH RECURSIVE`` common table expressions, the same on SQLite
and PostgreSQL; a path carries the ids it went through as text, so that it never visits a
person twice.

Leads are written as one unit of work (:mod:`app.kit.unit_of_work`), guarded by the
interview still being held or later, with the same interviewee, for a caller who exists.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    Row,
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    tuple_,
)

from app.contacts.schemas import Contact
from app.interviews.schemas import Interview
from app.kit.queries import CALLER, caller_row, owner_table
from app.kit.unit_of_work import UnitOfWork
from app.referrals.schemas import Referral

CONTACTS: Any = Contact.__table__  # type: ignore[attr-defined]
REFERRALS: Any = Referral.__table__  # type: ignore[attr-defined]
INTERVIEWS: Any = Interview.__table__  # type: ignore[attr-defined]
OWNERS: Any = owner_table(CONTACTS)

# How the columns of an interviewee's referral to a matched contact are named in its row.
REFERRAL_PREFIX = "referral_"
# The most contacts one request's leads are matched against (each a candidate by id, email,
# external identity, or name and organization), earliest recorded first.
MAX_MATCHES = 200


# --- leads ---------------------------------------------------------------------------------------


def _wanted_interview(owner: Any) -> Any:
    i = INTERVIEWS.c
    return and_(i.id == bindparam("interview_id"), i.owner_id == owner.c.id)


def lead_facts(
    connection: Connection,
    owner_id: uuid.UUID,
    interview_id: uuid.UUID,
    *,
    contact_ids: Sequence[uuid.UUID],
    emails: Sequence[str],
    identities: Sequence[tuple[str, str]],
    names: Sequence[tuple[str, str]],
) -> list[Row[Any]]:
    """The interview the leads came from and the caller's contacts they may be, in one
    statement from the caller's row.

    No row: the caller is gone. Rows whose ``interview_state`` is null: no such interview of
    the caller's. Otherwise one row per candidate contact (contact columns by name, the
    interviewee's referral to them prefixed ``referral_``, null if none), or one row with no
    contact: the candidates are those with one of ``contact_ids``, one of the lower-cased
    ``emails``, one of the ``(source, external_id)`` ``identities``, or one of the lower-cased,
    trimmed ``(full_name, organization)`` ``names``; at most :data:`MAX_MATCHES`.
    """
    c, i = CONTACTS.c, INTERVIEWS.c
    asked = INTERVIEWS.alias("asked").c
    interviewee = (
        select(asked.contact_id)
        .where(asked.id == bindparam("interview_id"), asked.owner_id == bindparam("owner_id"))
        .scalar_subquery()
    )
    matches = [c.id.in_(list(contact_ids))] if contact_ids else []
    if emails:
        matches.append(func.lower(c.email).in_(list(emails)))
    if identities:
        matches.append(tuple_(c.source, c.external_id).in_(list(identities)))
    if names:
        key = tuple_(func.lower(func.trim(c.full_name)), func.lower(func.trim(c.organization)))
        matches.append(key.in_(list(names)))
    referral = REFERRALS.alias("lead_referral")
    rc = referral.c
    candidates = (
        select(
            *c,
            *(column.label(REFERRAL_PREFIX + column.name) for column in rc),
        )
        .select_from(
            CONTACTS.outerjoin(
                referral,
                and_(
                    rc.owner_id == c.owner_id,
                    rc.referred_id == c.id,
                    rc.referrer_id == interviewee,
                ),
            )
        )
        .where(c.owner_id == bindparam("owner_id"), or_(*matches) if matches else false())
        .order_by(c.created_at, c.id)
        .limit(MAX_MATCHES)
        .subquery("candidate")
    )
    statement = (
        select(
            OWNERS.c.id.label(CALLER),
            OWNERS.c.time_zone.label("caller_time_zone"),
            i.state.label("interview_state"),
            i.contact_id.label("interviewee_id"),
            i.held_at.label("interview_held_at"),
            *candidates.c,
        )
        .select_from(
            OWNERS.outerjoin(INTERVIEWS, _wanted_interview(OWNERS)).outerjoin(candidates, true())
        )
        .where(caller_row(OWNERS, bindparam("owner_id")))
    )
    params = {"owner_id": owner_id, "interview_id": interview_id}
    return list(connection.execute(statement, params))


def write_leads(
    connection: Connection,
    owner_id: uuid.UUID,
    interview_id: uuid.UUID,
    *,
    interviewee_id: uuid.UUID,
    states: Sequence[str],
    contacts: Sequence[dict[str, Any]],
    referrals: Sequence[dict[str, Any]],
    events: Sequence[tuple[Table, dict[str, Any]]],
) -> bool:
    """Insert the new contacts, then the new referrals, then their events, as one unit of
    work, committed; False, with nothing written, unless the caller exists and the interview
    is still theirs, in one of ``states``, with ``interviewee_id`` as its contact.

    A pair recorded meanwhile by another request raises ``IntegrityError``, nothing written.
    """
    i = INTERVIEWS.c
    guard = (
        select(i.id)
        .select_from(OWNERS.join(INTERVIEWS, i.owner_id == OWNERS.c.id))
        .where(
            caller_row(OWNERS, owner_id),
            i.id == interview_id,
            i.state.in_(list(states)),
            i.contact_id == interviewee_id,
        )
    )
    writes = UnitOfWork(guard)
    for row in contacts:
        writes.insert(CONTACTS, row)
    for row in referrals:
        writes.insert(REFERRALS, row)
    for event in events:
        writes.insert(*event)
    return writes.commit(connection)


# --- the chain -----------------------------------------------------------------------------------


def _first_referral(referred: Any) -> Any:
    """The id of the earliest recorded referral to ``referred`` (ties broken by id)."""
    first = REFERRALS.alias("first_referral")
    return (
        select(first.c.id)
        .where(first.c.owner_id == bindparam("owner_id"), first.c.referred_id == referred)
        .order_by(first.c.created_at, first.c.id)
        .limit(1)
        .scalar_subquery()
    )


def chain(
    connection: Connection, owner_id: uuid.UUID, contact_id: uuid.UUID, *, depth: int
) -> list[Row[Any]]:
    """The contact and up to ``depth`` steps up its chain of referrers, in one statement from
    the caller's row.

    No row: the caller is gone. A first row whose ``contact_name`` is null: no such contact
    of theirs. Otherwise the first row carries the contact, and each row a step (``step``
    from 1, nearest first): the referral followed (``referral_id``, ``relationship``,
    ``interview_id``, ``referred_on``) and the referrer (``referrer_id``, ``referrer_name``,
    ``referrer_organization``). Each step follows the earliest recorded referral to the person
    below; a cycle repeats people until the depth: the caller stops at the first repeat.
    """
    c, r = CONTACTS.c, REFERRALS.c
    anchor = select(
        literal(0, Integer).label("step"),
        literal(contact_id, CONTACTS.c.id.type).label("person_id"),
        _first_referral(literal(contact_id, CONTACTS.c.id.type)).label("next_referral"),
    )
    walk = anchor.cte("walk", recursive=True)
    up = REFERRALS.alias("step_referral")
    walk = walk.union_all(
        select(
            (walk.c.step + 1).label("step"),
            up.c.referrer_id.label("person_id"),
            _first_referral(up.c.referrer_id).label("next_referral"),
        )
        .select_from(walk.join(up, up.c.id == walk.c.next_referral))
        .where(walk.c.step < bindparam("depth"))
    )
    referrer = CONTACTS.alias("referrer")
    steps = (
        select(
            walk.c.step,
            r.id.label("referral_id"),
            r.relationship,
            r.interview_id,
            r.referred_on,
            referrer.c.id.label("referrer_id"),
            referrer.c.full_name.label("referrer_name"),
            referrer.c.organization.label("referrer_organization"),
        )
        .select_from(
            walk.join(REFERRALS, r.id == walk.c.next_referral).join(
                referrer, referrer.c.id == r.referrer_id
            )
        )
        .subquery("steps")
    )
    statement = (
        select(
            OWNERS.c.id.label(CALLER),
            c.full_name.label("contact_name"),
            c.organization.label("contact_organization"),
            *steps.c,
        )
        .select_from(
            OWNERS.outerjoin(
                CONTACTS, and_(c.id == bindparam("contact_id"), c.owner_id == OWNERS.c.id)
            ).outerjoin(steps, c.id.is_not(None))
        )
        .where(caller_row(OWNERS, bindparam("owner_id")))
        .order_by(steps.c.step)
    )
    params = {"owner_id": owner_id, "contact_id": contact_id, "depth": depth}
    return list(connection.execute(statement, params))


# --- warm paths ----------------------------------------------------------------------------------

# A path's id list as text: "/id/id/…/", so that "/<id>/" inside it means "already on it".
_SLASH = literal("/", String)


def _id_text(column: Any) -> Any:
    return cast(column, String)


def paths(
    connection: Connection,
    owner_id: uuid.UUID,
    *,
    organization: str | None,
    career_field: str | None,
    strength: dict[str, int],
    depth: int,
    targets: int,
    cap: int,
) -> list[Row[Any]]:
    """The shortest paths to the people sought, in one statement from the caller's row.

    The people sought are the caller's contacts whose organization (or career field) is the
    lower-cased, trimmed value given, at most ``targets`` of them. From each, the walk goes up
    the referrals (to the referrer of the person on top) while the path has fewer than
    ``depth`` people and never through someone already on it; a path is complete when its top
    person has no referrer: someone the user knows directly. Each referral taken adds its
    ``strength`` (by relationship) to the path's total and may lower its weakest.

    No row: the caller is gone. Otherwise rows of the complete paths (at most ``cap``, the
    shortest first, then the strongest), each step of each path one row: ``path`` (the path's
    ids), ``length``, ``weakest``, ``total``, ``position`` (1 for the person known directly),
    the step's contact and the referral from the step before to it; or one row with no path.
    """
    c, r = CONTACTS.c, REFERRALS.c
    sought = func.lower(func.trim(c.organization if organization is not None else c.career_field))
    value = (organization if organization is not None else career_field) or ""
    anchor_rows = (
        select(c.id)
        .where(c.owner_id == bindparam("owner_id"), sought == value.strip().lower())
        .order_by(c.id)
        .limit(targets)
        .subquery("sought")
    )
    top = 10_000  # above any strength: a path of one person has no weakest referral yet
    anchor = select(
        anchor_rows.c.id.label("target_id"),
        anchor_rows.c.id.label("person_id"),
        literal(None, REFERRALS.c.id.type).label("via_referral"),
        literal(1, Integer).label("length"),
        (_SLASH + _id_text(anchor_rows.c.id) + _SLASH).label("path"),
        literal(top, Integer).label("weakest"),
        literal(0, Integer).label("total"),
    )
    walk = anchor.cte("walk", recursive=True)
    up = REFERRALS.alias("up")
    link_strength = case(
        *((up.c.relationship == name, points) for name, points in strength.items()), else_=0
    )
    walk = walk.union_all(
        select(
            walk.c.target_id,
            up.c.referrer_id.label("person_id"),
            up.c.id.label("via_referral"),
            (walk.c.length + 1).label("length"),
            (walk.c.path + _id_text(up.c.referrer_id) + _SLASH).label("path"),
            case((link_strength < walk.c.weakest, link_strength), else_=walk.c.weakest).label(
                "weakest"
            ),
            (walk.c.total + link_strength).label("total"),
        )
        .select_from(
            walk.join(
                up,
                and_(up.c.owner_id == bindparam("owner_id"), up.c.referred_id == walk.c.person_id),
            )
        )
        .where(
            walk.c.length < bindparam("depth"),
            not_(walk.c.path.contains(_SLASH + _id_text(up.c.referrer_id) + _SLASH)),
        )
    )
    referred_above = REFERRALS.alias("above")
    complete = (
        select(walk.c.target_id, walk.c.path, walk.c.length, walk.c.weakest, walk.c.total)
        .where(
            not_(
                select(referred_above.c.id)
                .where(
                    referred_above.c.owner_id == bindparam("owner_id"),
                    referred_above.c.referred_id == walk.c.person_id,
                )
                .exists()
            )
        )
        .order_by(walk.c.length, walk.c.weakest.desc(), walk.c.total.desc(), walk.c.path)
        .limit(bindparam("cap"))
        .subquery("complete")
    )
    # Each complete path's steps: the walk's rows of the same search whose path it begins
    # with. A step's row holds the referral by which the walk went up *from* it, so the
    # referral leading to a step (from the step before, nearer the user) is the one of the
    # step above it: read here as the step's own ``via_referral`` and shifted by the caller.
    step = walk.alias("step")
    steps = (
        select(
            complete.c.path,
            complete.c.length,
            complete.c.weakest,
            complete.c.total,
            (complete.c.length - step.c.length + 1).label("position"),
            step.c.via_referral,
            step.c.person_id,
        )
        .select_from(
            complete.join(
                step,
                and_(
                    step.c.target_id == complete.c.target_id,
                    func.substr(complete.c.path, 1, func.length(step.c.path)) == step.c.path,
                ),
            )
        )
        .subquery("steps")
    )
    statement = (
        select(
            OWNERS.c.id.label(CALLER),
            steps.c.path,
            steps.c.length,
            steps.c.weakest,
            steps.c.total,
            steps.c.position,
            steps.c.via_referral,
            c.id.label("contact_id"),
            c.full_name,
            c.organization,
            c.last_contacted_at,
            r.relationship,
            r.interview_id,
            r.referrer_id,
        )
        .select_from(
            OWNERS.outerjoin(steps, true())
            .outerjoin(CONTACTS, c.id == steps.c.person_id)
            .outerjoin(REFERRALS, r.id == steps.c.via_referral)
        )
        .where(caller_row(OWNERS, bindparam("owner_id")))
        .order_by(
            steps.c.length,
            steps.c.weakest.desc(),
            steps.c.total.desc(),
            steps.c.path,
            steps.c.position,
        )
    )
    params = {"owner_id": owner_id, "depth": depth, "cap": cap}
    return list(connection.execute(statement, params))
