"""Suggested questions: a bank of informational-interview questions to copy from."""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.accounts.deps import CurrentUser
from app.kit.api import API_PREFIX
from app.kit.problems import problem_responses
from app.questions import SuggestedQuestions, suggested

router = APIRouter(prefix=API_PREFIX, tags=["questions"])


@router.get(
    "/questions/suggested",
    operation_id="questions-suggested",
    response_model=SuggestedQuestions,
    responses=problem_responses(401, 422),
)
async def suggested_questions(user: CurrentUser, response: Response) -> SuggestedQuestions:
    """List good informational-interview questions, grouped by topic."""
    response.headers["Cache-Control"] = "private, max-age=3600"
    return suggested()
