"""The letters resource: drafts, edits, lists, deletes and sends letters to contacts.

Creating, editing and sending run the job-ask check over the whole letter, which takes CPU:
those run in a worker thread on a blocking session, off the event loop.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from starlette.concurrency import run_in_threadpool

from app.accounts import tokens
from app.accounts.deps import (
    CurrentUser,
    IfMatch,
    ReadSessionDep,
    SessionDep,
    SettingsDep,
    ThreadSessionDep,
)
from app.accounts.tokens import Principal
from app.kit.api import API_PREFIX
from app.kit.problems import post_only, problem_responses, success_headers
from app.kit.queries import etag
from app.kit.rate_limits import READS_ONLY
from app.kit.schemas import Page, PageCursor, PageLimit
from app.letters import service as letters_service
from app.letters.schemas import (
    Letter,
    LetterCheck,
    LetterCheckResult,
    LetterCreate,
    LetterPublic,
    LetterUpdate,
)
from app.vocabulary import LetterDelivery, LetterKind, LetterStatus

router = APIRouter(prefix=API_PREFIX, tags=["letters"])


def _may_enclose(user: Principal, attachment_ids: list[uuid.UUID] | None) -> None:
    """Enclosing documents reads them: a personal access token also needs documents:read."""
    if attachment_ids:
        tokens.require(user, "documents:read", "Enclosing documents reads them.")


def _public(letter: Letter, response: Response) -> LetterPublic:
    response.headers["ETag"] = etag(letter.version)
    return LetterPublic.model_validate(letter, from_attributes=True)


@router.post(
    "/letters",
    operation_id="letters-create",
    status_code=status.HTTP_201_CREATED,
    response_model=LetterPublic,
    responses={**problem_responses(401, 409, 422), **success_headers(201, "ETag", "Location")},
)
async def create_letter(
    data: LetterCreate, session: ThreadSessionDep, user: CurrentUser, response: Response
) -> LetterPublic:
    """Draft a letter to one of your contacts."""
    _may_enclose(user, data.attachment_ids)
    letter = await run_in_threadpool(letters_service.create, session, user.id, data)
    response.headers["Location"] = f"/api/v1/letters/{letter.id}"
    return _public(letter, response)


@router.post(
    "/letters/check",
    operation_id="letters-check",
    response_model=LetterCheckResult,
    responses=problem_responses(401, 422),
    openapi_extra=READS_ONLY,
)
async def check_letter(data: LetterCheck, user: CurrentUser) -> LetterCheckResult:
    """Run the job-ask check on a text, saving nothing.

    The same analysis as creating, editing and sending a letter: each sentence that asks the
    reader for a job (or for help getting one), the words that do, why they read so, and an
    informational question to ask instead. `allowed` says whether a letter of this `kind` would
    be accepted (a feeler may ask about openings). For editors that warn while the user types;
    it only reads (scope `letters:read`) and is not counted as a write.
    """
    return await run_in_threadpool(letters_service.check_text, data)


post_only(router, "/letters/check", "letters-check-other-methods")


@router.get(
    "/letters",
    operation_id="letters-list",
    response_model=Page[LetterPublic],
    responses=problem_responses(401, 422),
)
async def list_letters(
    session: ReadSessionDep,
    user: CurrentUser,
    kind: LetterKind | None = None,
    letter_status: Annotated[LetterStatus | None, Query(alias="status")] = None,
    interview_id: uuid.UUID | None = None,
    recipient_id: uuid.UUID | None = None,
    source: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    external_id: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
) -> Page[LetterPublic]:
    """List your letters, newest first."""
    rows, has_more, next_cursor = await session.run(
        letters_service.list_letters,
        user.id,
        kind=kind,
        status=letter_status,
        interview_id=interview_id,
        recipient_id=recipient_id,
        source=source,
        external_id=external_id,
        limit=limit,
        cursor=cursor,
    )
    return Page[LetterPublic](
        data=[LetterPublic.model_validate(row, from_attributes=True) for row in rows],
        has_more=has_more,
        next_cursor=next_cursor,
    )


@router.get(
    "/letters/{letter_id}",
    operation_id="letters-get",
    response_model=LetterPublic,
    responses={**problem_responses(401, 404, 422), **success_headers(200, "ETag")},
)
async def get_letter(
    letter_id: uuid.UUID, session: ReadSessionDep, user: CurrentUser, response: Response
) -> LetterPublic:
    """Get one of your letters."""
    return _public(await session.run(letters_service.get, user.id, letter_id), response)


@router.patch(
    "/letters/{letter_id}",
    operation_id="letters-update",
    response_model=LetterPublic,
    responses={**problem_responses(401, 404, 409, 412, 422), **success_headers(200, "ETag")},
)
async def update_letter(
    letter_id: uuid.UUID,
    data: LetterUpdate,
    session: ThreadSessionDep,
    user: CurrentUser,
    response: Response,
    if_match: IfMatch = None,
) -> LetterPublic:
    """Edit a draft letter; a sent letter never changes."""
    _may_enclose(user, data.attachment_ids)
    letter = await run_in_threadpool(
        letters_service.update_letter, session, user.id, letter_id, data, if_match=if_match
    )
    return _public(letter, response)


@router.delete(
    "/letters/{letter_id}",
    operation_id="letters-delete",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 404, 409, 412, 422),
)
async def delete_letter(
    letter_id: uuid.UUID, session: SessionDep, user: CurrentUser, if_match: IfMatch = None
) -> Response:
    """Delete a draft letter; a sent letter stays on the record."""
    await session.run(letters_service.delete_letter, user.id, letter_id, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/letters/{letter_id}/send",
    operation_id="letters-send",
    response_model=LetterPublic,
    responses={**problem_responses(401, 404, 409, 412, 422), **success_headers(200, "ETag")},
)
async def send_letter(
    letter_id: uuid.UUID,
    session: ThreadSessionDep,
    user: CurrentUser,
    response: Response,
    settings: SettingsDep,
    if_match: IfMatch = None,
    delivery: Annotated[
        LetterDelivery | None,
        Query(
            description="email: the API sends it through your mailbox or the server's relay; "
            "record: you sent it yourself and the API records it. Default: email where mail "
            "is set up, else record."
        ),
    ] = None,
) -> LetterPublic:
    """Send a draft letter: emailed by the API, or recorded as sent elsewhere.

    With `?delivery=email` (the default where mail is set up: your mailbox, else the server's
    relay) the letter is queued and closed to changes; `delivery_status` is `queued`, then
    `delivered` when the mail server accepts it (the letter is then `sent`, with `sent_at` and
    `message_id`), or `failed` with `delivery_error` (a draft again). With `delivery=record`
    it is stamped sent now. Either way the letter rules and the job-ask check run first, and a
    sent letter never changes again.
    """
    letter = await run_in_threadpool(
        letters_service.send,
        session,
        user.id,
        letter_id,
        if_match=if_match,
        delivery=delivery,
        settings=settings,
    )
    return _public(letter, response)
