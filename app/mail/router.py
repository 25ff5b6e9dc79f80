"""``/mail``: the user's own mailbox for sending letters, and a test of it.

Session tokens only: a personal access token (an integration) never sees or changes where a
user's mail goes, nor the password that opens it.
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from starlette.concurrency import run_in_threadpool

from app.accounts.deps import CurrentUser, SettingsDep, ThreadSessionDep
from app.kit.problems import problem_responses
from app.mail import service
from app.mail.schemas import MailAccountIn, MailSetup, MailTestRequest, MailTestResult

router = APIRouter(tags=["mail"])


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
