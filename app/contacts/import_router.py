"""``POST /contacts/import``: contacts from the file a user exported from wherever they keep them.

The file comes as a ``multipart/form-data`` upload with a ``file`` part (what browsers' forms,
``curl -F`` and most generated SDKs send), or as the raw request body with the content type
browsers give such files (``text/csv``, ``text/vcard``, ``text/plain``,
``application/vnd.ms-excel``, ``application/octet-stream`` …). Either way it is streamed into a
spooled temporary file (memory up to :data:`SPOOL_BYTES`, disk beyond) up to the upload limit
(20 MiB by default, ``app.kit.uploads``), then read in a worker thread: encoding, kind and
layout are found from the file itself (:mod:`app.contacts.import_files`), and the rows are
written as :mod:`app.contacts.importing` describes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Annotated, Any, BinaryIO, cast

from fastapi import APIRouter, FastAPI, Query, Request
from pydantic import StringConstraints
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from app.accounts.deps import CurrentUser, ThreadSessionDep
from app.contacts import importing as importer
from app.contacts.import_files import MAPPABLE, PRESETS, FileFormat, parse_mapping
from app.contacts.importing import ContactImportResult, OnError
from app.contacts.schemas import NO_CONTROL_CHARS
from app.kit.api import API_PREFIX
from app.kit.errors import AppError, Unprocessable
from app.kit.media_types import ContentType, parse_content_type
from app.kit.problems import post_only, problem_responses

router = APIRouter(prefix=API_PREFIX, tags=["contacts"])

PATH = "/contacts/import"
TOO_LARGE_ADVICE = (
    "Import bigger files from the server's command line: "
    "`infoview import-contacts FILE --user EMAIL` reads files of any size."
)
# A file held in memory up to this size; past it, on disk.
SPOOL_BYTES = 1024 * 1024
RAW_TYPES = frozenset(
    {
        "text/csv",
        "application/csv",
        "text/vcard",
        "text/x-vcard",
        "text/directory",
        "text/plain",
        "text/tab-separated-values",
        "text/comma-separated-values",
        "application/vnd.ms-excel",
        "application/octet-stream",
    }
)
MULTIPART = "multipart/form-data"
MAX_MAPPINGS = len(MAPPABLE)


class UnsupportedMediaType(AppError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class UnsupportedCharset(AppError):
    status, code, title = 415, "unsupported_charset", "Unsupported charset"


def _charset(content_type: ContentType) -> str | None:
    """The codec a declared charset names (looked up in the allow-list), or None if none."""
    charset = content_type.unsupported_charset()
    if charset is not None:
        allowed = content_type.allowed_charsets
        raise UnsupportedCharset(
            f"The charset {charset[:40]!r} is not accepted; send {', '.join(allowed)}, "
            "or leave it out and the file's encoding is found from the file.",
            accepted_charsets=list(allowed),
        )
    return content_type.codec if content_type.charsets else None


async def _spooled(request: Request) -> UploadFile:
    """The raw body, streamed into a spooled temporary file (counted at the door)."""
    # Closed by the caller once imported, or here if the body stops short.
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
    upload = UploadFile(cast(BinaryIO, spool))
    try:
        async for chunk in request.stream():
            if chunk:
                await upload.write(chunk)  # in a worker thread once on disk
    except BaseException:
        await upload.close()
        raise
    return upload


async def _file(request: Request) -> tuple[UploadFile, str | None]:
    """The uploaded file and the charset its sender declared, whichever way it came."""
    content_type = parse_content_type(request.headers.get("content-type"))
    if content_type.media_type == MULTIPART:
        form = await request.form(max_files=1, max_fields=_MAX_OTHER_FIELDS)
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise Unprocessable(
                "The form has no file part named 'file'; send the file as the part `file`.",
                code="missing_file",
                errors=[{"loc": ["body", "file"], "msg": "required", "type": "missing"}],
            )
        part_type = parse_content_type(part.headers.get("content-type"))
        return part, _charset(part_type) if part_type.media_type else None
    if content_type.media_type not in RAW_TYPES:
        raise UnsupportedMediaType(
            "Send the file as a multipart/form-data part named `file`, or as the request body "
            "with Content-Type text/csv or text/vcard.",
            accepted=sorted([MULTIPART, *RAW_TYPES]),
        )
    charset = _charset(content_type)
    return await _spooled(request), charset


_MAX_OTHER_FIELDS = 4  # a form's fields besides the file, ignored; more is a 400
_RAW_FILE = {"type": "string", "format": "binary", "maxLength": 20 * 1024 * 1024}
_RAW_TEXT = {"type": "string", "maxLength": 20 * 1024 * 1024}
_OPENAPI_EXTRA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The file: CSV with a header row (any of the tools' layouts the "
        "description lists), or vCards (2.1, 3.0, 4.0). As a multipart form with the part "
        "`file`, or as the raw body (also sent as text/csv, text/vcard, text/plain, "
        "application/vnd.ms-excel). Up to 20 MiB by default.",
        "content": {
            MULTIPART: {
                "schema": {"$ref": "#/components/schemas/ContactImportUpload"},
                "encoding": {"file": {"contentType": "text/csv, text/vcard, text/plain"}},
            },
            "application/octet-stream": {"schema": _RAW_FILE},
            # The raw text bodies of the first version of the API, as it described them.
            "text/csv": {"schema": _RAW_TEXT},
            "text/vcard": {"schema": _RAW_TEXT},
            "text/x-vcard": {"schema": _RAW_TEXT},
        },
    }
}

_UPLOAD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "ContactImportUpload",
    "description": "A contact file sent as a form; other fields are ignored, four at most.",
    "properties": {"file": {**_RAW_FILE, "description": "The contact file."}},
    "maxProperties": 1 + _MAX_OTHER_FIELDS,
    "required": ["file"],
}


def declare_in_openapi(app: FastAPI) -> None:
    """Name the upload form in the document's components, so SDKs give it a plain name."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.setdefault("ContactImportUpload", _UPLOAD_SCHEMA)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


_PRESET_NAMES = ", ".join(f"{p.format.value} ({p.title})" for p in PRESETS)


@router.post(
    PATH,
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
    format: Annotated[
        FileFormat,
        Query(
            description="How to read the file. auto (the default) finds it from the file; "
            f"or name one of: infoview (our columns), {_PRESET_NAMES}, vcard. "
            "mapped is implied by a mapping."
        ),
    ] = FileFormat.AUTO,
    mapping: Annotated[
        list[Annotated[str, StringConstraints(max_length=300)]],
        Query(
            max_length=MAX_MAPPINGS,
            description="For any other CSV: which of the file's columns holds each field, as "
            "field:Header pairs (repeat the parameter), e.g. mapping=full_name:Contact Name&"
            "mapping=email:Work Email. Fields: " + ", ".join(MAPPABLE) + ".",
        ),
    ] = [],  # noqa: B006 - FastAPI copies defaults
) -> ContactImportResult:
    """Import contacts from the file LinkedIn, Google Contacts, Outlook, a phone or a
    spreadsheet exported; people already there are updated, never doubled or overwritten.

    **Sources recognised from the file itself:** LinkedIn `Connections.csv`; Google Contacts
    CSV (current and older "Google CSV"); Outlook CSV (desktop and Outlook.com); vCard 2.1
    (Android), 3.0 (iCloud, Google) and 4.0; and our own columns (full_name, email, phone,
    organization, title, career_field, profile_url, notes, tags separated by `;`,
    keep_in_touch_days, external_id, source). Any other CSV is read with a `mapping`.
    Encoding (BOMs, UTF-16, else UTF-8, else Windows-1252 with a warning), delimiter (comma,
    semicolon, tab, Excel's `sep=` line) and the lines before a header are found from the
    file; a `charset` on the content type wins.

    **Forgiving per field, strict per row.** An unusable value (a bad email, a website without
    `https://`, which is added) is repaired or left out and listed in `warnings` with its line
    and field; only a row without a usable name is a bad row. Further emails, phones and
    websites go to the contact's notes.

    **Matching.** A row updates the contact with the same source + external id, else the one
    with the same email *and* name. The same email under another name is a new contact,
    counted in `flagged` and marked `possible_duplicate_of` in `rows`. With on_error=abort (the
    default) any bad row means nothing is written: a 422 `invalid_rows` lists each bad row
    with its line. Files up to 20 MiB; `infoview import-contacts` takes bigger ones.
    """
    if len(mapping) > MAX_MAPPINGS:
        raise Unprocessable(f"At most {MAX_MAPPINGS} mappings.", code="invalid_mapping")
    columns = parse_mapping(mapping)
    upload, charset = await _file(request)
    try:
        # Thousands of rows take a while: off the event loop, so other requests are not held up.
        return await run_in_threadpool(
            importer.import_file,
            session,
            user.id,
            upload.file,
            charset=charset,
            fmt=FileFormat.MAPPED if columns else format,
            mapping=columns,
            on_error=on_error,
            dry_run=dry_run,
            source=source,
        )
    finally:
        await upload.close()


post_only(router, PATH, "contacts-import-other-methods")
