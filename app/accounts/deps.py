"""Dependencies shared by the routers: the database session, the caller, concurrency headers.

Dependencies are ``async`` on purpose: FastAPI runs sync dependencies in a thread pool, and
the thread hop costs more than the sub-millisecond queries they wrap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request, Response
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Connection
from sqlmodel import Session

from app.accounts import service as auth_service
from app.accounts import tokens as access_tokens
from app.accounts.schemas import UserAccount
from app.accounts.tokens import Principal
from app.kit.config import Settings, get_settings
from app.kit.errors import Unauthorized
from app.kit.rate_limits import limit_writes

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


SESSION_STATE_KEY = "db_session"
CONNECTION_STATE_KEY = "db_connection"


def request_connection(request: Request) -> Connection:
    """The request's database connection, checked out on first use.

    Reads (the caller check, single rows, list pages) run on it directly; the request's
    session, when an operation needs one, is bound to it. The request-context middleware
    returns it to the pool once the response is complete.
    """
    state = request.scope.setdefault("state", {})
    connection: Connection | None = state.get(CONNECTION_STATE_KEY)
    if connection is None:
        connection = state[CONNECTION_STATE_KEY] = request.app.state.engine.connect()
    return connection


def read_connection(request: Request) -> Connection:
    """Where a read of this request runs: the session's transaction once there is a session.

    A read on the bare connection would begin a transaction the session did not begin, and a
    session joining such a transaction does not commit it: once a session exists, everything
    goes through it.
    """
    session: Session | None = request.scope.get("state", {}).get(SESSION_STATE_KEY)
    return session.connection() if session is not None else request_connection(request)


async def get_connection(request: Request) -> Connection:
    """The request's connection, for operations that only read."""
    return read_connection(request)


async def get_session(request: Request) -> Session:
    """The request's session, opened on first use, on the request's connection.

    The request-context middleware closes it (rolling back anything uncommitted) once the
    response is complete, streamed bodies included. Not a ``yield`` dependency: the exit stack
    FastAPI wraps around those costs more than most of our queries.
    """
    state = request.scope.setdefault("state", {})
    session: Session | None = state.get(SESSION_STATE_KEY)
    if session is None:
        connection = request_connection(request)
        if connection.in_transaction():
            # The caller check's read is over; the session begins (and commits) its own.
            connection.rollback()
        session = state[SESSION_STATE_KEY] = Session(bind=connection, expire_on_commit=False)
    return session


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[Session, Depends(get_session)]
ConnectionDep = Annotated[Connection, Depends(get_connection)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


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
    if not token:
        raise Unauthorized("A bearer token is required.", code="missing_token")
    principal = request.scope.get("state", {}).get("principal")
    if not isinstance(principal, Principal):  # else resolved by the Idempotency-Key middleware
        settings = request.app.state.settings
        if access_tokens.is_personal_token(token):
            principal = access_tokens.resolve_principal(await get_session(request), settings, token)
        else:  # a session JWT: one read on the connection, no session needed
            user_id = auth_service.user_id_from_access_token(
                read_connection(request), settings, token
            )
            principal = Principal(id=user_id)
    # Personal access tokens are held to their scopes here, once for every route.
    access_tokens.authorize(
        principal, getattr(request.scope.get("route"), "tags", ()), request.method
    )
    request.scope.setdefault("state", {})["user_id"] = str(principal.id)
    await limit_writes(request, response, principal.id)
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]


async def current_account(principal: CurrentUser, session: SessionDep) -> UserAccount:
    """The caller's account row, for the operations that show or change the account itself."""
    account = session.get(UserAccount, principal.id)
    if account is None:  # deleted since the token was checked, a moment ago
        raise Unauthorized("The access token is invalid or expired.", code="invalid_token")
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
    """Declare plain bearer auth wherever the OAuth2 password flow is declared.

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
                security = operation.get("security") if isinstance(operation, dict) else None
                if not security or {BEARER_SCHEME_NAME: []} in security:
                    continue
                if any(OAUTH2_SCHEME_NAME in requirement for requirement in security):
                    security.append({BEARER_SCHEME_NAME: []})
        return document

    app.openapi = openapi  # type: ignore[method-assign]


__all__ = [
    "ConnectionDep",
    "CurrentAccount",
    "CurrentUser",
    "IfMatch",
    "SessionDep",
    "SettingsDep",
    "declare_in_openapi",
    "get_settings",
]
