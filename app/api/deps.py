"""Dependencies shared by the routers: the database session, the caller, concurrency headers.

The session dependency is ``async`` on purpose: FastAPI runs sync dependencies in a thread
pool, and the thread hop costs more than the sub-millisecond queries it would wrap.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request, Response
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session

from app.api.ratelimits import limit_writes
from app.config import Settings, get_settings
from app.errors import Unauthorized
from app.models.user import UserAccount
from app.services import access_tokens
from app.services.access_tokens import Principal

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request, closed (and rolled back if uncommitted) afterwards."""
    engine = request.app.state.engine
    with Session(engine, expire_on_commit=False) as session:
        yield session


def get_app_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def current_user(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> UserAccount:
    """The user the bearer token (a JWT or a personal access token) speaks for.

    Every token failure is a 401 with WWW-Authenticate; a personal access token used outside
    its scopes is a 403 ``insufficient_scope``.
    """
    if not token:
        raise Unauthorized("A bearer token is required.", code="missing_token")
    principal = request.scope.get("state", {}).get("principal")
    if isinstance(principal, Principal):  # already resolved by the Idempotency-Key middleware
        user = session.merge(principal.user, load=False)
    else:
        principal = access_tokens.resolve_principal(session, settings, token)
        user = principal.user
    # Personal access tokens are held to their scopes here, once for every route.
    access_tokens.authorize(
        principal, getattr(request.scope.get("route"), "tags", ()), request.method
    )
    request.scope.setdefault("state", {})["user_id"] = str(user.id)
    limit_writes(request, response, user.id)
    return user


CurrentUser = Annotated[UserAccount, Depends(current_user)]
IfMatch = Annotated[
    str | None,
    Header(
        description="An ETag from an earlier read; the write is refused with 412 if stale.",
        max_length=200,
    ),
]


__all__ = ["CurrentUser", "IfMatch", "SessionDep", "SettingsDep", "get_settings"]
