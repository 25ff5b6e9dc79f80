"""``POST /contacts/import``: contacts from a CSV or vCard file sent as the request body.

The file is the raw body (not a multipart form): ``Content-Type: text/csv`` for CSV,
``text/vcard`` (or ``text/x-vcard``, ``text/directory``) for vCard, UTF-8 unless a ``charset``
parameter names another of the few the API reads (``app.kit.media_types.TEXT_CHARSETS``:
ISO-8859-1, ISO-8859-15, Windows-1252, UTF-16); any other charset is a 415. Bodies are
capped by the global request limit (1 MiB by default); larger files go through
``infoview import-contacts``. The columns, the matching of duplicates and the all-or-nothing
rule are described in :mod:`app.contacts.importing`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from app.accounts.deps import CurrentUser, ThreadSessionDep
from app.contacts import importing as importer
from app.contacts.importing import ContactImportResult, ImportFormat, OnError
from app.contacts.schemas import NO_CONTROL_CHARS
from app.kit.errors import AppError, Unprocessable
from app.kit.media_types import parse_content_type
from app.kit.problems import post_only, problem_responses

router = APIRouter(tags=["contacts"])

MEDIA_TYPES = {
    "text/csv": ImportFormat.CSV,
    "application/csv": ImportFormat.CSV,
    "text/vcard": ImportFormat.VCARD,
    "text/x-vcard": ImportFormat.VCARD,
    "text/directory": ImportFormat.VCARD,
}


class UnsupportedMediaType(AppError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class UnsupportedCharset(AppError):
    status, code, title = 415, "unsupported_charset", "Unsupported charset"


def _media_type(header: str | None) -> tuple[ImportFormat, str]:
    """The file's format and the codec that reads it, from the request's Content-Type.

    The charset is looked up in the allow-list, never handed to ``codecs`` as sent (the NUL
    guard has normally refused any other already, before authentication).
    """
    content_type = parse_content_type(header)
    fmt = MEDIA_TYPES.get(content_type.media_type)
    if fmt is None:
        raise UnsupportedMediaType(
            "Send the file as the request body with Content-Type text/csv or text/vcard.",
            accepted=sorted(MEDIA_TYPES),
        )
    charset = content_type.unsupported_charset()
    if charset is not None:
        allowed = content_type.allowed_charsets
        raise UnsupportedCharset(
            f"The charset {charset[:40]!r} is not accepted; send {', '.join(allowed)}.",
            accepted_charsets=list(allowed),
        )
    return fmt, content_type.codec


_FILE_SCHEMA = {"type": "string", "maxLength": 1024 * 1024}
_OPENAPI_EXTRA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The file itself: CSV with a header row, or one or more vCards.",
        "content": {
            "text/csv": {"schema": _FILE_SCHEMA},
            "text/vcard": {"schema": _FILE_SCHEMA},
            "text/x-vcard": {"schema": _FILE_SCHEMA},
        },
    }
}


@router.post(
    "/contacts/import",
    operation_id="contacts-import",
    response_model=ContactImportResult,
    responses=problem_responses(401, 403, 409, 413, 415, 422),
    openapi_extra=_OPENAPI_EXTRA,
)
async def import_contacts(
    request: Request,
    user: CurrentUser,
    session: ThreadSessionDep,
    dry_run: Annotated[
        bool, Query(description="Answer what would happen, and write nothing.")
    ] = False,
    on_error: Annotated[
        OnError,
        Query(description="abort: a bad row stops the whole import; skip: leave bad rows out."),
    ] = OnError.ABORT,
    source: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            pattern=NO_CONTROL_CHARS,
            description="The source of rows that carry an external_id but no source.",
        ),
    ] = None,
) -> ContactImportResult:
    """Import contacts from a CSV or vCard file; duplicates are updated, not doubled.

    CSV columns: full_name (required), email, phone, organization, title, career_field,
    profile_url, notes, tags (separated by `;`), keep_in_touch_days, external_id, source.
    A row matches an existing contact by source + external_id, else by email (ignoring case).
    With on_error=abort (the default) any bad row means nothing is written: a 422
    `invalid_rows` lists every bad row with its line. The body is limited to 1 MiB; use
    `infoview import-contacts` for bigger files.
    """
    fmt, codec = _media_type(request.headers.get("content-type"))
    body = await request.body()
    if not body.strip():
        raise Unprocessable("The file is empty.", code="empty_file")
    text = importer.decode(body, codec)
    # Thousands of rows take a while: off the event loop, so other requests are not held up.
    return await run_in_threadpool(
        importer.import_text,
        session,
        user.id,
        text,
        fmt,
        on_error=on_error,
        dry_run=dry_run,
        source=source,
    )


post_only(router, "/contacts/import", "contacts-import-other-methods")
