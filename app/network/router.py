"""HTTP for the referral network: leads from an interview, a contact's chain of referrers,
the courtesies owed, and warm paths.

Each route names its own tag, the first of which decides the scope a personal access token
needs: leads belong with the interview they came from (``interviews:write``), a chain with
the contact (``contacts:read``), courtesy and paths are insights (``insights:read``).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from app.accounts import tokens
from app.accounts.deps import ConnectionDep, CurrentReader
from app.agenda import service as agenda_service
from app.kit.api import API_PREFIX
from app.kit.database import scan
from app.kit.errors import Unprocessable
from app.kit.problems import problem_responses, success_headers
from app.kit.schemas import Timestamp
from app.network import service
from app.network.schemas import (
    ContactChain,
    CourtesyList,
    LeadsCreate,
    LeadsPublic,
    WarmPathList,
)

router = APIRouter(prefix=API_PREFIX)

InterviewId = Annotated[uuid.UUID, Path(description="The interview's id.")]
ContactId = Annotated[uuid.UUID, Path(description="The contact's id.")]


@router.post(
    "/interviews/{interview_id}/leads",
    tags=["interviews"],
    operation_id="interviews-create-leads",
    status_code=status.HTTP_201_CREATED,
    response_model=LeadsPublic,
    responses={**problem_responses(401, 404, 409, 422), **success_headers(201, "Location")},
)
async def create_leads(
    interview_id: InterviewId,
    data: LeadsCreate,
    connection: ConnectionDep,
    user: CurrentReader,
    response: Response,
) -> LeadsPublic:
    """Record who the interviewee suggested you talk to next.

    The closing question of an informational interview is "who else should I talk to?". Each
    lead becomes one of your contacts and a referral from the interviewee to them, tied to
    this interview (its `interview_id`). A lead is one of your contacts (`contact_id`), or a
    new person (`contact`, as for creating a contact) who is matched against your contacts
    first: the same `source` and `external_id`; else the same email, in any case; else the
    same full name and organization, in any case, unless both have a different email. A
    matched contact is kept as it is; a referral already recorded from the interviewee to
    the person is reused, not duplicated.

    Only once the interview is held (409 `interview_not_held` before). Up to 20 leads, each
    person once (422 `duplicate_lead`); the interviewee is not their own lead (422
    `self_referral`). All or nothing, with the `contact.created` and `referral.created` events
    of what was added. A personal access token needs `contacts:write` and `referrals:write`
    besides `interviews:write`.
    """
    why = "Leads are recorded as contacts and referrals."
    for scope in ("contacts:write", "referrals:write"):
        tokens.require(user, scope, why)
    answer = await connection.run_sync(service.add_leads, user.id, interview_id, data)
    response.headers["Location"] = f"/api/v1/referrals?referrer_id={answer.referrer_id}"
    return answer


@router.get(
    "/contacts/{contact_id}/chain",
    tags=["contacts"],
    operation_id="contacts-get-chain",
    response_model=ContactChain,
    responses=problem_responses(401, 404, 422),
)
async def get_chain(
    contact_id: ContactId, connection: ConnectionDep, user: CurrentReader
) -> ContactChain:
    """Show how you reached a contact: their referrer, that person's referrer, and so on.

    Nearest first, with how each referrer knows you, the interview at which they gave the
    lead (if they did at one) and the day. Where someone has several referrers, the earliest
    recorded referral is followed. The chain ends at someone you know directly, at a person
    already in it, or after 10 links (`has_more`). A personal access token needs
    `referrals:read` besides `contacts:read`.
    """
    tokens.require(user, "referrals:read", "A chain is made of referrals.")
    return await connection.run_sync(service.chain, user.id, contact_id)


@router.get(
    "/courtesy",
    tags=["insights"],
    operation_id="insights-courtesy",
    response_model=CourtesyList,
    responses=problem_responses(401, 422),
)
async def list_courtesy(
    connection: ConnectionDep,
    user: CurrentReader,
    due_before: Annotated[
        Timestamp | None,
        Query(description="Only letters due before this time; default: 7 days from now."),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=agenda_service.MAX_LIMIT, description="At most this many, 1 to 100.")
    ] = 50,
) -> CourtesyList:
    """List everyone you owe a thank-you, a report back or a keep-in-touch note.

    Oldest due first. These are the agenda's own items of kinds `thank`, `report_back` and
    `keep_in_touch`, due when the agenda has them due: a thank-you 24 hours after the
    interview was held, a report back to each referrer of the interviewee 7 days after the
    interview was thanked, a note when a contact's stay-in-touch cadence has come round. So a
    lead's interview, once thanked, owes a report back to the interviewee who suggested them.
    Each item carries the body of `POST /api/v1/letters/draft` (`draft`) that drafts its
    letter.
    """
    found = await connection.run_sync(service.courtesy, user.id, due_before=due_before, limit=limit)
    return CourtesyList(
        data=found.items,
        has_more=found.has_more,
        due_before=found.due_before,
        time_zone=found.time_zone,
    )


@router.get(
    "/paths",
    tags=["insights"],
    operation_id="insights-paths",
    response_model=WarmPathList,
    responses=problem_responses(401, 422),
)
async def list_paths(
    connection: ConnectionDep,
    user: CurrentReader,
    organization: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            pattern=r"\S",
            description="Paths to your contacts at this organization (any case). Give this or "
            "career_field.",
        ),
    ] = None,
    career_field: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            pattern=r"\S",
            description="Paths to your contacts in this career field (any case). Give this or "
            "organization.",
        ),
    ] = None,
    limit: Annotated[
        int,
        Query(
            ge=1, le=service.MAX_PATHS, description=f"At most this many, 1 to {service.MAX_PATHS}."
        ),
    ] = 10,
) -> WarmPathList:
    """Find warm paths to an organization or a career field through your referrals.

    A path starts with someone you know directly (a contact nobody referred you to) and
    follows referrals, each from a person on the path to the next, to one of your contacts at
    the organization or in the field: at most 4 people long, never through anyone twice.
    Shortest first; then by the relationships on the way (how each referrer knows you, from
    strongest to weakest: former employer, faculty and colleague; friend and family; other),
    the weakest one first, then all of them; then by how recently you were in touch with each
    person on it, from the first. Give exactly one of `organization` and `career_field` (422
    `exactly_one_filter` otherwise).
    """
    if (organization is None) == (career_field is None):
        given = "both" if organization is not None else "neither"
        raise Unprocessable(
            f"Give exactly one of organization and career_field ({given} given).",
            code="exactly_one_filter",
            errors=[
                {
                    "loc": ["query", "organization"],
                    "msg": "give exactly one of organization and career_field",
                    "type": "exactly_one_filter",
                }
            ],
        )
    found, has_more = await scan(
        connection,
        service.paths,
        user.id,
        organization=organization,
        career_field=career_field,
        limit=limit,
    )
    return WarmPathList(data=found, has_more=has_more)
