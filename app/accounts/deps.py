"""Dependencies shared by the routers: the database session, the caller, concurrency headers.

The request's session and connection come from :mod:`app.kit.database`: routers hand the
services, written against a plain ``Session``, to ``session.run(...)``; on PostgreSQL every
statement is awaited, on SQLite a lock wait is slept off. Work that is also heavy on the CPU
takes a blocking session (:data:`ThreadSessionDep`) into a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request, Response
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session

from app.accounts import service as auth_service
from app.accounts import tokens as access_tokens
from app.accounts.schemas import UserAccount
from app.accounts.tokens import Principal
from app.kit.config import Settings, get_settings
from app.kit.database import RequestConnection, RequestDatabase, RequestSession
from app.kit.db import TRANSACTIONS
from app.kit.errors import Unauthorized, caller_gone
from app.kit.middleware import (
    CONNECTION_STATE_KEY,
    READ_SESSION_STATE_KEY,
    SESSION_STATE_KEY,
    THREAD_SESSION_STATE_KEY,
)
from app.kit.queries import set_caller_session
from app.kit.rate_limits import effective_method, limit_writes
from app.kit.security import InvalidToken, decode_access_token

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
OAUTH2_SCHEME_NAME = "OAuth2PasswordBearer"
BEARER_SCHEME_NAME = "BearerToken"
BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": (
        "`Authorization: Bearer <token>`: an access token from `/api/v1/auth/token`, or a "
        "personal access token (`ivk_...`) from `/api/v1/tokens`."
    ),
}


async def request_connection(request: Request) -> RequestConnection:
    """The request's database connection, checked out on first use.

    Reads (the caller check, single rows, list pages) run on it directly; the request's
    session, when an operation needs one, is bound to it. The request-context middleware
    returns it to the pool once the response is complete.
    """
    state = request.scope.setdefault("state", {})
    connection: RequestConnection | None = state.get(CONNECTION_STATE_KEY)
    if connection is None:
        database: RequestDatabase = request.app.state.db
        # In autocommit (the pool's connections are): reads need no transaction around them,
        # no BEGIN and ROLLBACK round trips. The session, if the request opens one, puts the
        # connection in a transaction, and the pool takes it back to autocommit on return.
        connection = await database.connect()
        state[CONNECTION_STATE_KEY] = connection
    return connection


async def read_connection(request: Request) -> RequestConnection:
    """Where a read of this request runs: the session's transaction once there is a session.

    A read on the bare connection would begin a transaction the session did not begin, and a
    session joining such a transaction does not commit it: once a session exists, everything
    goes through it.
    """
    session: RequestSession | None = request.scope.get("state", {}).get(SESSION_STATE_KEY)
    if session is not None:
        connection: RequestConnection = await session.connection()
        return connection
    return await request_connection(request)


async def get_connection(request: Request) -> RequestConnection:
    """The request's connection, for operations that only read.

    Code written against a plain connection runs on it through ``run_sync``: every statement
    is awaited on the asynchronous driver, so the event loop never waits for the database.
    """
    return await read_connection(request)


async def get_session(request: Request) -> RequestSession:
    """The request's session, opened on first use, on the request's connection.

    Services are written against a plain ``Session`` and run on this one through
    ``run_sync``. The request-context middleware closes it (rolling back anything
    uncommitted) once the response is complete, streamed bodies included. Not a ``yield``
    dependency: the exit stack FastAPI wraps around those costs more than most of our queries.
    """
    state = request.scope.setdefault("state", {})
    session: RequestSession | None = state.get(SESSION_STATE_KEY)
    if session is None:
        connection = await request_connection(request)
        if connection.in_transaction():
            # The caller check's read is over; the session begins (and commits) its own.
            await connection.rollback()
        await connection.execution_options(isolation_level=TRANSACTIONS)
        database: RequestDatabase = request.app.state.db
        session = state[SESSION_STATE_KEY] = database.session(connection)
    return session


async def get_read_session(request: Request) -> RequestSession:
    """A session for an operation that only reads: no transaction, so no BEGIN or ROLLBACK.

    It runs on the request's connection as the caller check left it, outside any
    transaction; each statement sees what was committed when it ran. Never for writes: a write
    needs :func:`get_session`, whose transaction commits it whole or not at all.
    """
    state = request.scope.setdefault("state", {})
    session: RequestSession | None = state.get(SESSION_STATE_KEY) or state.get(
        READ_SESSION_STATE_KEY
    )
    if session is None:
        connection = await request_connection(request)
        database: RequestDatabase = request.app.state.db
        session = database.session(connection)
        state[READ_SESSION_STATE_KEY] = session
    return session


async def get_thread_session(request: Request) -> Session:
    """A blocking session, for an operation that runs in a worker thread.

    Work that is heavy on the CPU as well as on the database (password hashing, a file import,
    the calendar feed) runs off the event loop in a thread, on a session of its own from the
    blocking engine. It must only be used inside that thread.
    """
    state = request.scope.setdefault("state", {})
    session: Session | None = state.get(THREAD_SESSION_STATE_KEY)
    if session is None:
        engine = request.app.state.engine
        session = state[THREAD_SESSION_STATE_KEY] = Session(engine, expire_on_commit=False)
    return session


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[RequestSession, Depends(get_session)]
ConnectionDep = Annotated[RequestConnection, Depends(get_connection)]
ReadSessionDep = Annotated[RequestSession, Depends(get_read_session)]
ThreadSessionDep = Annotated[Session, Depends(get_thread_session)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def _principal(
    request: Request, response: Response, token: str | None, *, prove_alive: bool
) -> Principal:
    if not token:
        raise Unauthorized("A bearer token is required.", code="missing_token")
    found = request.scope.get("state", {}).get("principal")
    if isinstance(found, Principal):  # resolved by the Idempotency-Key middleware
        principal = found
    else:
        settings: Settings = request.app.state.settings
        if access_tokens.is_opaque_token(token):
            session = await get_session(request)
            principal = await session.run(access_tokens.resolve_principal, settings, token)
        elif prove_alive:  # a session JWT: one read on the connection, no session needed
            connection = await read_connection(request)
            claims = await connection.run_sync(auth_service.live_access_claims, settings, token)
            principal = Principal(id=claims.subject, session_id=claims.session_id)
        else:  # the operation's own read proves the account and its session are live
            try:
                claims = decode_access_token(settings, token)
            except InvalidToken as exc:
                raise caller_gone() from exc
            principal = Principal(id=claims.subject, session_id=claims.session_id)
    # Every caller-checked statement of this request checks this session is not revoked.
    set_caller_session(principal.session_id)
    # Personal access tokens are held to their scopes here, once for every route.
    access_tokens.authorize(
        principal, getattr(request.scope.get("route"), "tags", ()), effective_method(request)
    )
    request.scope.setdefault("state", {})["user_id"] = str(principal.id)
    await limit_writes(request, response, principal.id)
    return principal


async def current_user(
    request: Request,
    response: Response,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal:
    """Who the bearer token (a JWT or a personal access token) speaks for.

    Every token failure is a 401 with WWW-Authenticate; a personal access token used outside
    its scopes is a 403 ``insufficient_scope``. The principal's ``id`` is the user's id; the
    account itself is read only by the operations that need it (:data:`CurrentAccount`).
    """
    return await _principal(request, response, token, prove_alive=True)


async def current_reader(
    request: Request,
    response: Response,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal:
    """The caller of an operation whose own first statement proves the account exists.

    For operations that reach the database only through statements that start from the
    owner's row — :func:`app.kit.queries.get_owned_row`, :func:`app.kit.queries.keyset_rows`,
    ``keyset_page(..., owner_id=...)``, or a unit of work guarded by
    :meth:`app.kit.unit_of_work.UnitOfWork.for_caller` — and answer 401 when it is gone or its
    session has ended. A session JWT is then only verified here (signature and expiry,
    remembered per process), with no round trip of its own.
    """
    return await _principal(request, response, token, prove_alive=False)


CurrentUser = Annotated[Principal, Depends(current_user)]
CurrentReader = Annotated[Principal, Depends(current_reader)]


async def current_account(principal: CurrentUser, session: SessionDep) -> UserAccount:
    """The caller's account row, for the operations that show or change the account itself."""
    account = await session.get(UserAccount, principal.id)
    if account is None:  # deleted since the token was checked, a moment ago
        raise caller_gone()
    return account


CurrentAccount = Annotated[UserAccount, Depends(current_account)]
IfMatch = Annotated[
    str | None,
    Header(
        description="An ETag from an earlier read; the write is refused with 412 if stale.",
        max_length=200,
    ),
]


def declare_in_openapi(app: FastAPI) -> None:
    """Declare plain bearer auth wherever the OAuth2 password flow is declared, and
    ``security: []`` on every operation that takes no token (health, register, login …).

    Personal access tokens never come from the password flow, yet they are sent the same way;
    clients and tools that only understand ``http``/``bearer`` schemes (Schemathesis' auth
    checks among them) need the scheme spelled out.
    """
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        schemes = document.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes.setdefault(BEARER_SCHEME_NAME, dict(BEARER_SCHEME))
        for item in document.get("paths", {}).values():
            for operation in item.values():
                if not isinstance(operation, dict):
                    continue
                # An operation that takes no token says so, rather than leaving it unsaid.
                security = operation.setdefault("security", [])
                if not security or {BEARER_SCHEME_NAME: []} in security:
                    continue
                if any(OAUTH2_SCHEME_NAME in requirement for requirement in security):
                    security.append({BEARER_SCHEME_NAME: []})
        return document

    app.openapi = openapi  # type: ignore[method-assign]


__all__ = [
    "ConnectionDep",
    "CurrentAccount",
    "CurrentReader",
    "CurrentUser",
    "IfMatch",
    "ReadSessionDep",
    "SessionDep",
    "SettingsDep",
    "ThreadSessionDep",
    "declare_in_openapi",
    "get_settings",
]
