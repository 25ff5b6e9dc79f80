"""The contacts resource: the people a user talks to, and the upsert other platforms push to."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy import Row
from starlette.concurrency import run_in_threadpool
from starlette.convertors import PathConvertor, register_url_convertor

from app.accounts.deps import (
    ConnectionDep,
    CurrentReader,
    CurrentUser,
    IfMatch,
    ReadSessionDep,
    SessionDep,
    ThreadSessionDep,
)
from app.contacts import exporting, service
from app.contacts.exporting import ContactExportFormat, VCardVersion
from app.contacts.schemas import (
    NO_CONTROL_CHARS,
    Contact,
    ContactCreate,
    ContactPublic,
    ContactUpdate,
    ContactUpsert,
)
from app.kit.api import API_PREFIX
from app.kit.downloads import attachment
from app.kit.problems import declared_headers, get_only, problem_responses, success_headers
from app.kit.queries import etag
from app.kit.schemas import Page, PageCursor, PageLimit


class _RestOfPath(PathConvertor):
    """The rest of the path, newlines included, so that a bad external id is a 422.

    ``{x:path}`` stops at a newline and answers 404; this one hands every character to the
    parameter's validation, which names what is wrong. Slashes are allowed: ids like
    ``users/42`` are common on other platforms.
    """

    regex = "(?s:.*)"


register_url_convertor("rest", _RestOfPath())

router = APIRouter(prefix=API_PREFIX, tags=["contacts"])

ContactId = Annotated[uuid.UUID, Path(description="The contact's id.")]


def _public(contact: Contact | Row[Any], response: Response) -> ContactPublic:
    """The contact's public shape, with its ETag on the response."""
    response.headers["ETag"] = etag(contact.version)
    return ContactPublic.model_validate(contact, from_attributes=True)


@router.post(
    "/contacts",
    operation_id="contacts-create",
    status_code=status.HTTP_201_CREATED,
    response_model=ContactPublic,
    responses={**problem_responses(401, 409, 422), **success_headers(201, "ETag", "Location")},
)
async def create_contact(
    data: ContactCreate,
    user: CurrentReader,
    connection: ConnectionDep,
    request: Request,
    response: Response,
) -> ContactPublic:
    """Create a contact."""
    contact, version = await connection.run_sync(service.create, user.id, data)
    response.headers["Location"] = f"/api/v1/contacts/{contact.id}"
    response.headers["ETag"] = etag(version)
    return contact


@router.get(
    "/contacts",
    operation_id="contacts-list",
    response_model=Page[ContactPublic],
    responses=problem_responses(401, 422),
)
async def list_contacts(
    user: CurrentReader,
    session: ReadSessionDep,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="Case-insensitive text in the name, email, organization or phone.",
        ),
    ] = None,
    tag: Annotated[
        str | None, Query(min_length=1, max_length=50, description="Has exactly this tag.")
    ] = None,
    career_field: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="This career field, ignoring case."),
    ] = None,
    archived: Annotated[
        bool | None, Query(description="Only archived (true) or only active (false) contacts.")
    ] = None,
    source: Annotated[
        str | None,
        Query(min_length=1, max_length=100, pattern=NO_CONTROL_CHARS, description="Pushed from."),
    ] = None,
    external_id: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=255,
            pattern=NO_CONTROL_CHARS,
            description="The id the source platform gave it.",
        ),
    ] = None,
) -> Page[ContactPublic]:
    """List your contacts, newest first."""
    rows, has_more, next_cursor = await session.run(
        service.list_,
        user.id,
        limit=limit,
        cursor=cursor,
        q=q,
        tag=tag.strip() if tag else tag,
        career_field=career_field.strip() if career_field else career_field,
        archived=archived,
        source=source,
        external_id=external_id,
    )
    return Page[ContactPublic](
        data=[ContactPublic.model_validate(row) for row in rows],
        has_more=has_more,
        next_cursor=next_cursor,
    )


_EXPORT_DESCRIPTION = """\
Download your contacts as one file to load into an address book or a spreadsheet:
`format=vcard` (the default) writes one vCard per contact (`vcard_version` 4.0, the default,
or 3.0), `format=csv` a CSV in the columns of Google Contacts' own export (UTF-8 with a byte
order mark; a cell that a spreadsheet would run as a formula starts with `'`). Archived
contacts are left out unless `include_archived=true`. The file is streamed, newest contacts
first; a contact added or changed during the download may or may not be in it.
"""


@router.get(
    "/contacts/export",
    operation_id="contacts-export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The file, as an attachment.",
            "content": {
                "text/vcard": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        **problem_responses(401, 422),
    },
    description=_EXPORT_DESCRIPTION,
)
async def export_contacts(
    user: CurrentReader,
    session: ThreadSessionDep,
    format: Annotated[
        ContactExportFormat,
        Query(description="vcard (one card per contact) or csv (Google Contacts)."),
    ] = ContactExportFormat.VCARD,
    vcard_version: Annotated[
        VCardVersion, Query(description="The vCard version; ignored for csv.")
    ] = VCardVersion.V4,
    include_archived: Annotated[
        bool, Query(description="Archived contacts too (left out by default).")
    ] = False,
) -> StreamingResponse:
    """Download your contacts as a vCard or CSV file."""
    # Reading and writing out pages of contacts is work for worker threads, never the event
    # loop: the first page runs in one here, the rest as StreamingResponse iterates the chunks.
    stream = exporting.stream(
        session,
        user.id,
        format=format,
        vcard_version=vcard_version,
        include_archived=include_archived,
        caller_session=user.session_id,
    )
    # The first page is read before the answer starts: a gone account is still a plain 401.
    first = await run_in_threadpool(next, stream)

    def chunks() -> Iterator[bytes]:
        yield first
        yield from stream

    return StreamingResponse(
        chunks(),
        media_type=exporting.MEDIA_TYPES[format],
        headers={
            "Content-Disposition": attachment(exporting.FILENAMES[format]),
            "Cache-Control": "no-store",
        },
    )


# Other methods on /contacts/export are a 405, not a 422 from /contacts/{contact_id}.
get_only(router, "/contacts/export", "contacts-export-other-methods")


@router.put(
    "/contacts/by-external-id/{source}/{external_id:rest}",
    operation_id="contacts-upsert-by-external-id",
    response_model=ContactPublic,
    responses={
        **success_headers(200, "ETag"),
        201: {
            "model": ContactPublic,
            "description": "Created",
            "headers": declared_headers("ETag", "Location"),
        },
        **problem_responses(401, 404, 409, 412, 422),
    },
)
async def upsert_contact(
    source: Annotated[
        str,
        Path(min_length=1, max_length=100, pattern=NO_CONTROL_CHARS, description="Pushed from."),
    ],
    external_id: Annotated[
        str,
        Path(
            min_length=1,
            max_length=255,
            pattern=NO_CONTROL_CHARS,
            description="The id the source platform gave the contact.",
        ),
    ],
    data: ContactUpsert,
    user: CurrentUser,
    session: SessionDep,
    request: Request,
    response: Response,
    if_match: IfMatch = None,
) -> ContactPublic:
    """Create or update the contact another platform knows by this id (201 or 200)."""
    contact, created = await session.run(
        service.upsert_by_external_id, user.id, source, external_id, data, if_match=if_match
    )
    if created:
        response.status_code = status.HTTP_201_CREATED
        response.headers["Location"] = request.app.url_path_for(
            "get_contact", contact_id=contact.id
        )
    return _public(contact, response)


@router.get(
    "/contacts/{contact_id}",
    operation_id="contacts-get",
    response_model=ContactPublic,
    responses={**problem_responses(401, 404, 422), **success_headers(200, "ETag")},
)
async def get_contact(
    contact_id: ContactId, user: CurrentReader, session: ReadSessionDep, response: Response
) -> ContactPublic:
    """Get one contact."""
    return _public(await session.run(service.get_row, user.id, contact_id), response)


@router.patch(
    "/contacts/{contact_id}",
    operation_id="contacts-update",
    response_model=ContactPublic,
    responses={**problem_responses(401, 404, 409, 412, 422), **success_headers(200, "ETag")},
)
async def update_contact(
    contact_id: ContactId,
    data: ContactUpdate,
    user: CurrentUser,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> ContactPublic:
    """Change some of a contact's fields; archive it with ``{"archived": true}``."""
    contact = await session.run(service.update_, user.id, contact_id, data, if_match=if_match)
    return _public(contact, response)


@router.delete(
    "/contacts/{contact_id}",
    operation_id="contacts-delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 404, 409, 412, 422),
)
async def delete_contact(
    contact_id: ContactId, user: CurrentUser, session: SessionDep, if_match: IfMatch = None
) -> Response:
    """Delete a contact nothing refers to (otherwise archive it)."""
    await session.run(service.delete_, user.id, contact_id, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
