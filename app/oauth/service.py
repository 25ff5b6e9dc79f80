"""Registering apps, and the apps a user allowed: what the API's own endpoints do."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence

from sqlmodel import Session

from app.kit.security import sha256_hex
from app.oauth.repository import OAuthRepository
from app.oauth.schemas import (
    AuthorizationPublic,
    ClientCreate,
    ClientCreated,
    ClientPublic,
    ClientType,
    OAuthAuthorization,
    OAuthClient,
)
from app.oauth.server import CLIENT_PREFIX, CLIENT_SECRET_PREFIX


def public(app: OAuthClient) -> ClientPublic:
    return ClientPublic(
        id=app.id,
        client_id=app.client_id,
        name=app.name,
        type=ClientType.PUBLIC if app.secret_hash is None else ClientType.CONFIDENTIAL,
        redirect_uris=app.redirect_uris,
        scopes=app.scopes,
        created_at=app.created_at,
    )


def register(session: Session, owner_id: uuid.UUID, data: ClientCreate) -> ClientCreated:
    """Register an app; a confidential one's secret is in the answer and never again."""
    secret = None
    if data.type is ClientType.CONFIDENTIAL:
        secret = CLIENT_SECRET_PREFIX + secrets.token_urlsafe(32)
    app = OAuthClient(
        owner_id=owner_id,
        client_id=CLIENT_PREFIX + secrets.token_urlsafe(16),
        secret_hash=sha256_hex(secret) if secret else None,
        name=data.name,
        redirect_uris=data.redirect_uris,
        scopes=[scope.value for scope in data.scopes],
    )
    OAuthRepository(session).add(app)
    session.commit()
    return ClientCreated(**public(app).model_dump(), client_secret=secret)


def apps(
    session: Session, owner_id: uuid.UUID, *, limit: int, cursor: str | None
) -> tuple[Sequence[OAuthClient], bool, str | None]:
    return OAuthRepository(session).clients_page(owner_id, limit=limit, cursor=cursor)


def app(session: Session, owner_id: uuid.UUID, app_id: uuid.UUID) -> OAuthClient:
    return OAuthRepository(session).client(owner_id, app_id)


def delete_app(session: Session, owner_id: uuid.UUID, app_id: uuid.UUID) -> None:
    """Delete an app: every user's grant to it, and every token it holds, end with it."""
    repository = OAuthRepository(session)
    repository.delete(repository.client(owner_id, app_id))
    session.commit()


def _granted(grant: OAuthAuthorization, app: OAuthClient) -> AuthorizationPublic:
    return AuthorizationPublic(
        id=grant.id,
        client_id=app.client_id,
        client_name=app.name,
        scopes=grant.scopes,
        created_at=grant.created_at,
        granted_at=grant.granted_at,
    )


def authorizations(
    session: Session, owner_id: uuid.UUID, *, limit: int, cursor: str | None
) -> tuple[list[AuthorizationPublic], bool, str | None]:
    rows, has_more, next_cursor = OAuthRepository(session).authorizations_page(
        owner_id, limit=limit, cursor=cursor
    )
    return [_granted(grant, app) for grant, app in rows], has_more, next_cursor


def authorization(
    session: Session, owner_id: uuid.UUID, authorization_id: uuid.UUID
) -> AuthorizationPublic:
    return _granted(*OAuthRepository(session).authorization(owner_id, authorization_id))


def revoke(session: Session, owner_id: uuid.UUID, authorization_id: uuid.UUID) -> None:
    """Withdraw an app's access: its tokens stop working at once."""
    repository = OAuthRepository(session)
    grant, _ = repository.authorization(owner_id, authorization_id)
    repository.delete(grant)
    session.commit()
