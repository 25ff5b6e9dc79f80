"""``/mail``: the user's own mailbox for sending letters, and a test of it.

Session tokens only: a personal access token (an integration) never sees or changes where a
user's mail goes, nor the password that opens it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from app.accounts.deps import CurrentUser, SettingsDep, ThreadSessionDep
from app.kit.api import API_PREFIX
from app.kit.errors import AppError, Unprocessable
from app.kit.media_types import parse_content_type
from app.kit.problems import problem_responses
from app.mail import inbound, service
from app.mail.schemas import (
    InboundResult,
    InboundToken,
    MailAccountIn,
    MailSetup,
    MailTestRequest,
    MailTestResult,
)

router = APIRouter(prefix=API_PREFIX, tags=["mail"])


@router.get(
    "/mail/account",
    operation_id="mail-account-get",
    response_model=MailSetup,
    responses=problem_responses(401, 403),
)
async def get_mail_account(
    session: ThreadSessionDep, user: CurrentUser, settings: SettingsDep
) -> MailSetup:
    """How your letters leave: your own mailbox if set up (never its password), the relay."""
    return await run_in_threadpool(service.setup, session, settings, user.id)


@router.put(
    "/mail/account",
    operation_id="mail-account-put",
    response_model=MailSetup,
    responses=problem_responses(401, 403, 422),
)
async def put_mail_account(
    data: MailAccountIn, session: ThreadSessionDep, user: CurrentUser, settings: SettingsDep
) -> MailSetup:
    """Send your letters through your own mailbox; the password is stored encrypted.

    The server must be on the public internet. Try it first with `POST /mail/test`.
    """
    return await run_in_threadpool(service.save_account, session, settings, user.id, data)


@router.delete(
    "/mail/account",
    operation_id="mail-account-delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404),
)
async def delete_mail_account(session: ThreadSessionDep, user: CurrentUser) -> Response:
    """Stop sending through your own mailbox (the server's relay, if any, takes over)."""
    await run_in_threadpool(service.delete_account, session, user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/mail/test",
    operation_id="mail-test",
    response_model=MailTestResult,
    responses=problem_responses(401, 403, 404, 422),
)
async def test_mail(
    session: ThreadSessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    data: MailTestRequest,
) -> MailTestResult:
    """Log in to a mailbox (`account`, else `{}` for yours) and say what its server answered.

    Nothing is sent and nothing is stored; `ok` is false with the server's reason when it
    refused the login or could not be reached.
    """
    return await run_in_threadpool(service.test_account, session, settings, user.id, data.account)


@router.post(
    "/mail/inbound",
    operation_id="mail-inbound-rotate",
    status_code=status.HTTP_201_CREATED,
    response_model=InboundToken,
    responses=problem_responses(401, 403),
)
async def rotate_inbound(
    request: Request, session: ThreadSessionDep, user: CurrentUser
) -> InboundToken:
    """Create (or replace) your secret inbound address: point your mail provider's inbound
    route at `url`, and replies to your letters come back as interactions."""
    base = str(request.base_url)
    return await run_in_threadpool(inbound.rotate, session, user.id, base)


@router.delete(
    "/mail/inbound",
    operation_id="mail-inbound-delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403),
)
async def delete_inbound(session: ThreadSessionDep, user: CurrentUser) -> Response:
    """Turn the inbound address off: posts to it are refused from now on."""
    await run_in_threadpool(inbound.revoke, session, user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class UnsupportedMediaType(AppError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


_RAW_MAIL = {"type": "string", "format": "binary", "maxLength": 1024 * 1024}
_FORM_FIELDS = ("email", "body-mime", "message")


@router.post(
    "/inbound/email/{token}",
    operation_id="inbound-email",
    response_model=InboundResult,
    responses=problem_responses(404, 413, 415, 422),
    openapi_extra={
        "security": [],
        "requestBody": {
            "required": True,
            "description": "The received email as raw MIME, or a form whose `email` (or "
            "`body-mime`, `message`) field holds it, as mail providers' inbound routes post.",
            "content": {
                "message/rfc822": {"schema": _RAW_MAIL},
                "application/octet-stream": {"schema": _RAW_MAIL},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"email": {**_RAW_MAIL, "description": "Raw MIME."}},
                        "required": ["email"],
                    }
                },
            },
        },
    },
)
async def inbound_email(
    token: Annotated[str, Path(max_length=inbound.MAX_TOKEN_LENGTH)],
    request: Request,
    session: ThreadSessionDep,
) -> InboundResult:
    """An email received for you: recorded as a reply when it answers one of your letters.

    The secret in the path is the only credential (no bearer token). Matched by In-Reply-To
    and References to an emailed letter's Message-ID, else by the sender's address; the same
    email posted twice counts once. Emails up to 1 MiB.
    """
    owner_id = await run_in_threadpool(inbound.owner_for, session, token)
    content_type = parse_content_type(request.headers.get("content-type"))
    if content_type.is_form:
        form = await request.form(max_files=2, max_fields=50)
        found = next((form[f] for f in _FORM_FIELDS if f in form), None)
        if isinstance(found, UploadFile):
            raw = await found.read()
        elif isinstance(found, str):
            raw = found.encode("utf-8", "surrogateescape")
        else:
            raise Unprocessable(
                "The form has no `email` field holding the raw message.", code="empty_email"
            )
    elif content_type.media_type in ("message/rfc822", "application/octet-stream", "text/plain"):
        raw = await request.body()
    else:
        raise UnsupportedMediaType(
            "Post the raw message (message/rfc822) or a form with its `email` field."
        )
    return await run_in_threadpool(inbound.receive, session, owner_id, raw)
