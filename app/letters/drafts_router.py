"""Letter drafts: a new draft letter filled in from a template and your records."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from starlette.concurrency import run_in_threadpool

from app.accounts import tokens
from app.accounts.deps import CurrentUser, ThreadSessionDep
from app.kit.api import API_PREFIX
from app.kit.problems import post_only, problem_responses, success_headers
from app.kit.queries import etag
from app.letters import drafts as service
from app.letters.schemas import LetterPublic
from app.letters.template_schemas import LetterDraftCreate

router = APIRouter(prefix=API_PREFIX, tags=["letters"])


@router.post(
    "/letters/draft",
    operation_id="letters-draft",
    status_code=status.HTTP_201_CREATED,
    response_model=LetterPublic,
    responses={**problem_responses(401, 409, 422), **success_headers(201, "ETag", "Location")},
)
async def draft_letter(
    data: LetterDraftCreate, session: ThreadSessionDep, user: CurrentUser, response: Response
) -> LetterPublic:
    """Draft a letter from its template, filled with the contact's and interview's details.

    The letter is filled from your contacts, referrals and the interview, so a personal access
    token needs `contacts:read` and `referrals:read` (and `interviews:read` with an
    `interview_id`) besides `letters:write`.
    """
    # A template can print any field it is given: only a token that may read them fills one.
    why = "A draft is filled in from the records it reads."
    for scope in ("contacts:read", "referrals:read"):
        tokens.require(user, scope, why)
    if data.interview_id is not None:
        tokens.require(user, "interviews:read", why)
    # Rendering the template and checking the letter take CPU: off the event loop.
    letter = await run_in_threadpool(service.create, session, user.id, data)
    response.headers["Location"] = f"/api/v1/letters/{letter.id}"
    response.headers["ETag"] = etag(letter.version)
    return LetterPublic.model_validate(letter, from_attributes=True)


post_only(router, "/letters/draft", "letters-draft-other-methods")
