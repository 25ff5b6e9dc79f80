"""Accounts and tokens: register, log in, refresh, log out, and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.accounts import service as auth_service
from app.accounts.deps import CurrentAccount, SessionDep, SettingsDep, ThreadSessionDep
from app.accounts.schemas import UserCreate, UserPublic, UserUpdate
from app.kit.api import API_PREFIX
from app.kit.config import Settings
from app.kit.nul_guard import NUL_FREE
from app.kit.problems import PASSWORD_CHECKS_BUSY, problem_responses, success_headers
from app.kit.rate_limits import (
    limit_logout,
    limit_refresh,
    limit_register,
    limit_token,
    with_rate_limit_headers,
)
from app.kit.schemas import MAX_SMALL_BODY_KEYS, few_keys
from app.kit.security import PasswordWork

router = APIRouter(prefix=API_PREFIX, tags=["auth"])


class TokenResponse(BaseModel):
    """An access token (short-lived JWT) and the refresh token that renews it."""

    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")


class TokenForm(BaseModel):
    """The OAuth2 password grant as /docs "Authorize" sends it, with every field bounded."""

    model_config = ConfigDict(
        extra="ignore",
        # Other fields are ignored; like every field of a form, they are NUL-free text, and the
        # form has at most MAX_SMALL_BODY_KEYS fields in all (``few_keys`` below).
        json_schema_extra={
            "additionalProperties": {
                "type": "string",
                "pattern": NUL_FREE,
                "maxLength": Settings.model_fields["max_body_bytes"].default,
            },
            "maxProperties": MAX_SMALL_BODY_KEYS,
        },
    )

    grant_type: str | None = Field(default=None, pattern="^password$", max_length=20)
    username: str = Field(min_length=1, max_length=320, description="The account's email.")
    password: str = Field(min_length=1, max_length=1024)
    scope: str = Field(default="", max_length=1000)
    client_id: str | None = Field(default=None, max_length=255)
    client_secret: str | None = Field(default=None, max_length=255)


class RefreshRequest(BaseModel):
    """A refresh token to rotate or revoke."""

    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=4096)

    _few_keys = model_validator(mode="before")(few_keys)


def _tokens(pair: auth_service.TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.post(
    "/auth/register",
    operation_id="auth-register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    responses={
        **with_rate_limit_headers(problem_responses(409, 422, 429)),
        **success_headers(201, "Location"),
        503: PASSWORD_CHECKS_BUSY,
    },
    dependencies=[Depends(limit_register)],
)
async def register(
    data: UserCreate, session: ThreadSessionDep, request: Request, response: Response
) -> UserPublic:
    """Create an account."""
    # argon2 takes tens of milliseconds and 64 MiB: hashed off the event loop, a few at a time.
    work: PasswordWork = request.app.state.password_work
    user = await work.run(auth_service.register, session, data)
    response.headers["Location"] = str(request.app.url_path_for("me"))
    return UserPublic.model_validate(user, from_attributes=True)


@router.post(
    "/auth/token",
    operation_id="auth-token",
    response_model=TokenResponse,
    responses={
        **with_rate_limit_headers(problem_responses(401, 422, 429)),
        503: PASSWORD_CHECKS_BUSY,
    },
    dependencies=[Depends(limit_token)],
)
async def token(
    form: Annotated[TokenForm, Form()],
    session: ThreadSessionDep,
    settings: SettingsDep,
    request: Request,
) -> TokenResponse:
    """Log in (OAuth2 password form, the email as username); get access and refresh tokens."""

    # argon2 again: the check and the new tokens are made off the event loop, in one thread.
    def log_in() -> auth_service.TokenPair:
        user = auth_service.authenticate(session, form.username, form.password)
        return auth_service.login(session, settings, user)

    work: PasswordWork = request.app.state.password_work
    return _tokens(await work.run(log_in))


@router.post(
    "/auth/refresh",
    operation_id="auth-refresh",
    response_model=TokenResponse,
    responses=with_rate_limit_headers(problem_responses(401, 422, 429)),
    dependencies=[Depends(limit_refresh)],
)
async def refresh(
    data: RefreshRequest, session: SessionDep, settings: SettingsDep
) -> TokenResponse:
    """Trade a refresh token for a new pair; the old refresh token stops working."""
    return _tokens(await session.run(auth_service.refresh, settings, data.refresh_token))


@router.post(
    "/auth/logout",
    operation_id="auth-logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=with_rate_limit_headers(problem_responses(401, 422, 429)),
    dependencies=[Depends(limit_logout)],
)
async def logout(data: RefreshRequest, session: SessionDep, settings: SettingsDep) -> Response:
    """End a session: its refresh tokens and its access tokens stop working at once."""
    await session.run(auth_service.logout, settings, data.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/me", operation_id="me-get", response_model=UserPublic, responses=problem_responses(401)
)
async def me(user: CurrentAccount) -> UserPublic:
    """The account the token belongs to."""
    return UserPublic.model_validate(user, from_attributes=True)


@router.patch(
    "/me",
    operation_id="me-update",
    response_model=UserPublic,
    responses=problem_responses(401, 403, 422, 429),
)
async def update_me(data: UserUpdate, user: CurrentAccount, session: SessionDep) -> UserPublic:
    """Change your profile: the name letters are signed with, the time zone you read times in."""
    updated = await session.run(auth_service.update_profile, user, data)
    return UserPublic.model_validate(updated, from_attributes=True)


@router.delete(
    "/me",
    operation_id="me-delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401),
)
async def delete_me(user: CurrentAccount, session: SessionDep) -> Response:
    """Delete the account and everything it owns. Its tokens stop working at once."""
    await session.run(auth_service.delete_account, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
