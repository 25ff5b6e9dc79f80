"""Take-aways: one interview as Markdown or JSON, the whole account as JSON, and its import.

All three are under the ``export`` tag, so a personal access token needs the ``export`` scope.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from app.accounts import export as account
from app.accounts.deps import CurrentUser, ReadSessionDep, ThreadSessionDep
from app.accounts.export import AccountDocument, ImportSummary
from app.interviews import export as interview_export
from app.interviews.export import InterviewExport, InterviewExportFormat
from app.kit import bodies
from app.kit.api import API_PREFIX
from app.kit.db import utcnow
from app.kit.downloads import attachment
from app.kit.problems import problem_responses

router = APIRouter(prefix=API_PREFIX, tags=["export"])

_MARKDOWN = "text/markdown; charset=utf-8"


def _download_headers(filename: str) -> dict[str, str]:
    """Save as ``filename``; personal data, so no cache may keep a copy."""
    return {"Content-Disposition": attachment(filename), "Cache-Control": "no-store"}


InterviewId = Annotated[uuid.UUID, Path(description="The interview's id.")]


class MarkdownResponse(Response):
    """A Markdown answer: the document types its body as a string of ``text/markdown``."""

    media_type = "text/markdown"
    charset = "utf-8"


def _write_up(export: InterviewExport, format: InterviewExportFormat) -> Response:
    """The write-up as an attachment, in ``format``."""
    if format == InterviewExportFormat.JSON:
        body, media_type, extension = export.model_dump_json(), "application/json", "json"
    else:
        body, media_type, extension = interview_export.to_markdown(export), _MARKDOWN, "md"
    filename = interview_export.filename(export, extension)
    return Response(body, media_type=media_type, headers=_download_headers(filename))


@router.get(
    "/interviews/{interview_id}/export",
    operation_id="interviews-export",
    response_model=InterviewExport,
    responses={
        200: {
            "description": "The write-up, as an attachment (Markdown by default).",
            "content": {"text/markdown": {"schema": {"type": "string"}}},
        },
        **problem_responses(401, 403, 404, 422),
    },
    description=(
        "One operation for both formats, picked by `format`. Its answer has two media types, "
        "which a generated client cannot type by the parameter: such a client is better served "
        "by `GET …/export/markdown` (text) and `GET …/export/json` (the `InterviewExport` "
        "model), which answer the same bytes."
    ),
)
async def export_interview(
    interview_id: InterviewId,
    user: CurrentUser,
    session: ReadSessionDep,
    format: Annotated[
        InterviewExportFormat, Query(description="markdown (a write-up) or json.")
    ] = InterviewExportFormat.MARKDOWN,
) -> Response:
    """Download an interview's questions, answers, advice, next steps, people and dates."""
    return _write_up(await session.run(interview_export.build, user.id, interview_id), format)


@router.get(
    "/interviews/{interview_id}/export/markdown",
    operation_id="interviews-export-markdown",
    response_class=MarkdownResponse,
    responses={
        200: {"description": "The write-up as Markdown, an attachment (`.md`)."},
        **problem_responses(401, 403, 404, 422),
    },
)
async def export_interview_markdown(
    interview_id: InterviewId, user: CurrentUser, session: ReadSessionDep
) -> Response:
    """Download an interview's write-up as Markdown, user text escaped, times in your zone."""
    export = await session.run(interview_export.build, user.id, interview_id)
    return _write_up(export, InterviewExportFormat.MARKDOWN)


@router.get(
    "/interviews/{interview_id}/export/json",
    operation_id="interviews-export-json",
    response_model=InterviewExport,
    responses={
        200: {"description": "The write-up as JSON, an attachment (`.json`)."},
        **problem_responses(401, 403, 404, 422),
    },
)
async def export_interview_json(
    interview_id: InterviewId, user: CurrentUser, session: ReadSessionDep
) -> Response:
    """Download an interview's questions, answers, advice, next steps, people and dates as JSON."""
    export = await session.run(interview_export.build, user.id, interview_id)
    return _write_up(export, InterviewExportFormat.JSON)


@router.get(
    "/export",
    operation_id="export-account",
    response_model=AccountDocument,
    responses={
        200: {"description": "Everything you own, streamed as one JSON document."},
        **problem_responses(401, 403, 422),
    },
)
async def export_account(request: Request, user: CurrentUser) -> StreamingResponse:
    """Download everything you own as one JSON document (streamed)."""
    stream = account.stream_export(request.app.state.engine, user.id)
    # The first chunk opens the snapshot: a failure there is still an ordinary error answer.
    first = await run_in_threadpool(next, stream)

    def chunks() -> Iterator[bytes]:
        yield first
        yield from stream

    filename = f"infoview-export-{utcnow().date().isoformat()}.json"
    return StreamingResponse(
        chunks(),
        media_type="application/json",
        headers=_download_headers(filename),
    )


_IMPORT_DESCRIPTION = """\
Load a document written by `GET /api/v1/export` into your account, which must be empty
(409 `account_not_empty` otherwise). Every record gets a new id and references are remapped;
states, state times, events, sent letters and timestamps are kept as exported: an import
restores history, so it bypasses the workflow guards and letter rules on purpose. The whole
document is checked first; any problem is a 422 whose `errors[].loc` is the JSON path of the
value at fault, and nothing is written. The request body is limited to 1 MiB.
"""


# Up to a megabyte of records: checked in the worker thread that imports them, not on the loop.
AccountDocumentBody = bodies.checked_later(AccountDocument)


@router.post(
    "/import",
    operation_id="import-account",
    response_model=ImportSummary,
    responses=problem_responses(401, 403, 409, 413, 415, 422),
    description=_IMPORT_DESCRIPTION,
)
async def import_account(
    document: AccountDocumentBody,  # type: ignore[valid-type]
    user: CurrentUser,
    session: ThreadSessionDep,
) -> Any:
    """Load an export into your empty account."""

    def load() -> ImportSummary:
        return account.import_document(session, user.id, bodies.validate(AccountDocument, document))

    return await run_in_threadpool(load)
