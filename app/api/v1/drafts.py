"""Letter drafts: a new draft letter filled in from a template and your records."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from app.api.deps import CurrentUser, SessionDep
from app.api.problems import problem_responses
from app.models.letter import LetterPublic
from app.models.template import LetterDraftCreate
from app.services import drafts as service
from app.services.common import etag

router = APIRouter(tags=["letters"])


@router.post(
    "/letters/draft",
    operation_id="letters-draft",
    status_code=status.HTTP_201_CREATED,
    response_model=LetterPublic,
    responses=problem_responses(401, 409, 422),
)
async def draft_letter(
    data: LetterDraftCreate, session: SessionDep, user: CurrentUser, response: Response
) -> LetterPublic:
    """Draft a letter from its template, filled with the contact's and interview's details."""
    letter = service.create(session, user.id, data)
    response.headers["Location"] = f"/api/v1/letters/{letter.id}"
    response.headers["ETag"] = etag(letter.version)
    return LetterPublic.model_validate(letter, from_attributes=True)
