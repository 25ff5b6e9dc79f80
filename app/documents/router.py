"""The documents resource: upload a résumé or another file, list, describe, download, delete.

An upload is a ``multipart/form-data`` form (``file``, ``kind``, optional ``title``), streamed
past the 1 MiB door up to the document limit (``app.kit.uploads``), spooled by the form parser
and read, checked and stored in a worker thread.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Request, Response, status
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from app.accounts.deps import (
    CurrentReader,
    CurrentUser,
    IfMatch,
    ReadSessionDep,
    SessionDep,
    ThreadSessionDep,
)
from app.documents import files
from app.documents import service as documents
from app.documents.schemas import TITLE_MAX, DocumentPublic
from app.kit.api import API_PREFIX
from app.kit.config import Settings
from app.kit.downloads import attachment
from app.kit.errors import AppError, Unprocessable
from app.kit.media_types import parse_content_type
from app.kit.problems import declared_headers, problem_responses, success_headers
from app.kit.queries import etag
from app.kit.schemas import Page, PageCursor, PageLimit, page_writer
from app.vocabulary import DocumentKind

router = APIRouter(prefix=API_PREFIX, tags=["documents"])
# A page is written from its rows as `Page[DocumentPublic]` would write it (`page_writer`).
_PAGE = page_writer(DocumentPublic)

PATH = "/documents"
TOO_LARGE_ADVICE = "Send a smaller file: a résumé as a PDF is usually well under a megabyte."
# Room for the form around the file: boundaries, part headers, the kind and the title.
FORM_OVERHEAD = 64 * 1024
MULTIPART = "multipart/form-data"
_FIELDS = frozenset({"file", "kind", "title"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

DocumentId = Annotated[uuid.UUID, Path(description="The document's id.")]


class UnsupportedMediaType(AppError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


def upload_limit(settings: Settings) -> int:
    """What the door lets through for one upload: the document and its form around it."""
    return settings.max_document_bytes + FORM_OVERHEAD


def _field_error(name: str, msg: str, kind: str) -> Unprocessable:
    return Unprocessable(
        f"{name}: {msg}.",
        code="validation_error",
        errors=[{"loc": ["body", name], "msg": msg, "type": kind}],
    )


def _text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _field_error(name, "must be a text field, not a file", "string_type")
    return value


async def _form(request: Request) -> tuple[UploadFile, DocumentKind, str | None]:
    content_type = parse_content_type(request.headers.get("content-type"))
    if content_type.media_type != MULTIPART:
        raise UnsupportedMediaType(
            "Send the document as multipart/form-data: the part `file`, the field `kind` "
            "(resume, portfolio or other) and, if you like, `title`.",
            accepted=[MULTIPART],
        )
    form = await request.form(max_files=1, max_fields=len(_FIELDS))
    unknown = sorted(set(form.keys()) - _FIELDS)
    if unknown:
        raise _field_error(unknown[0][:50], "unknown field", "extra_forbidden")
    part = form.get("file")
    if not isinstance(part, UploadFile):
        raise Unprocessable(
            "The form has no file part named 'file'; send the document as the part `file`.",
            code="missing_file",
            errors=[{"loc": ["body", "file"], "msg": "required", "type": "missing"}],
        )
    kind_text = _text(form.get("kind"), "kind")
    if kind_text is None:
        raise _field_error("kind", "required", "missing")
    try:
        kind = DocumentKind(kind_text)
    except ValueError:
        raise _field_error("kind", "must be one of resume, portfolio, other", "enum") from None
    title = _text(form.get("title"), "title")
    if title is not None:
        title = title.strip() or None
    if title is not None and (len(title) > TITLE_MAX or _CONTROL.search(title)):
        raise _field_error(
            "title", f"at most {TITLE_MAX} characters, no control characters", "string_too_long"
        )
    return part, kind, title


def _public(row: Any, response: Response) -> DocumentPublic:
    values = row if isinstance(row, dict) else row._mapping
    response.headers["ETag"] = etag(values["version"])
    return DocumentPublic.model_validate(dict(values))


_UPLOAD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "DocumentUpload",
    "description": "A document sent as a form.",
    "additionalProperties": False,
    "properties": {
        "file": {
            "type": "string",
            "format": "binary",
            "maxLength": 5 * 1024 * 1024,
            "description": "The file: PDF, DOCX, ODT or UTF-8 text (found from its bytes).",
        },
        "kind": {"type": "string", "enum": [k.value for k in DocumentKind]},
        "title": {"type": "string", "maxLength": TITLE_MAX},
    },
    "required": ["file", "kind"],
}
_OPENAPI_EXTRA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {MULTIPART: {"schema": {"$ref": "#/components/schemas/DocumentUpload"}}},
    }
}


def declare_in_openapi(app: FastAPI) -> None:
    """Name the upload form in the document's components, so SDKs give it a plain name."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.setdefault("DocumentUpload", _UPLOAD_SCHEMA)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


@router.post(
    PATH,
    operation_id="documents-create",
    status_code=status.HTTP_201_CREATED,
    response_model=DocumentPublic,
    responses={**problem_responses(401, 413, 415, 422), **success_headers(201, "ETag", "Location")},
    openapi_extra=_OPENAPI_EXTRA,
)
async def upload_document(
    request: Request, user: CurrentUser, session: ThreadSessionDep, response: Response
) -> DocumentPublic:
    """Upload a document (a résumé, a portfolio) to enclose with letters.

    A `multipart/form-data` form: the part `file`, the field `kind` (`resume`, `portfolio`,
    `other`) and an optional `title`. PDF, DOCX, ODT and UTF-8 text are accepted, recognised
    from the file's bytes (never from its name or declared type): anything else is a 422
    `unsupported_document_type`. A document is limited to 5 MiB by default (413
    `document_too_large`); you keep at most 20 documents and 25 MiB in all by default (422
    `document_quota_exceeded`, whose `quota` says which). The file name is kept, made safe,
    ending in the extension of the type found.
    """
    settings: Settings = request.app.state.settings
    part, kind, title = await _form(request)
    limits = documents.Limits(
        max_bytes=settings.max_document_bytes,
        max_documents=settings.max_documents_per_user,
        max_total_bytes=settings.max_document_storage_bytes,
    )

    def store() -> dict[str, Any]:
        content = documents.read_file(part.file, limits.max_bytes)
        return documents.create(
            session,
            user.id,
            content=content,
            filename=part.filename,
            kind=kind,
            title=title,
            limits=limits,
        )

    try:
        row = await run_in_threadpool(store)
    finally:
        await part.close()
    response.headers["Location"] = f"/api/v1/documents/{row['id']}"
    return _public(row, response)


@router.get(
    PATH,
    operation_id="documents-list",
    response_model=Page[DocumentPublic],
    responses=problem_responses(401, 422),
)
async def list_documents(
    session: ReadSessionDep,
    user: CurrentReader,
    kind: DocumentKind | None = None,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
) -> Response:
    """List your documents, newest first (descriptions; the bytes are at /content)."""
    rows, has_more, next_cursor = await session.run(
        documents.list_documents, user.id, kind=kind, limit=limit, cursor=cursor
    )
    page = {"data": rows, "has_more": has_more, "next_cursor": next_cursor}
    return Response(_PAGE.dump_json(page), media_type="application/json")


@router.get(
    PATH + "/{document_id}",
    operation_id="documents-get",
    response_model=DocumentPublic,
    responses={**problem_responses(401, 404, 422), **success_headers(200, "ETag")},
)
async def get_document(
    document_id: DocumentId, session: ReadSessionDep, user: CurrentReader, response: Response
) -> DocumentPublic:
    """Describe one of your documents."""
    return _public(await session.run(documents.get, user.id, document_id), response)


@router.get(
    PATH + "/{document_id}/content",
    operation_id="documents-download",
    response_class=Response,
    responses={
        200: {
            "description": "The file, as uploaded, to save (Content-Disposition: attachment).",
            "headers": declared_headers("ETag"),
            "content": {
                media_type: {"schema": {"type": "string", "format": "binary"}}
                for media_type in files.ACCEPTED
            },
        },
        **problem_responses(401, 404, 422),
    },
)
async def download_document(
    document_id: DocumentId, session: ReadSessionDep, user: CurrentReader
) -> Response:
    """Download one of your documents' file."""
    row = await session.run(documents.content, user.id, document_id)
    return Response(
        bytes(row.content),
        media_type=files.download_type(row.content_type),
        headers={
            "Content-Disposition": attachment(row.filename),
            "Cache-Control": "no-store",
            "ETag": etag(row.version),
        },
    )


@router.delete(
    PATH + "/{document_id}",
    operation_id="documents-delete",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 404, 409, 412, 422),
)
async def delete_document(
    document_id: DocumentId, session: SessionDep, user: CurrentUser, if_match: IfMatch = None
) -> Response:
    """Delete a document; one a draft letter encloses is refused (409 document_attached)."""
    await session.run(documents.delete, user.id, document_id, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
