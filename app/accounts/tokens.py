"""Personal access tokens, and who a bearer token speaks for.

The same ``Authorization: Bearer`` header carries either a session JWT or a personal access
token (recognisable by its ``ivk_`` prefix, so secret scanners can spot a leaked one). This
module resolves both to a :class:`Principal`, and decides what a token's scopes allow.

Scopes are enforced per operation from its tag and method, in one place, so routers need no
change: ``contacts``/``referrals``/``interviews``/``letters`` need ``<tag>:read`` to read and
``<tag>:write`` for anything else; ``webhooks`` needs ``webhooks:manage``; ``export`` needs
``export``; reading the account (``auth`` tag, GET) is open to any token. An operation that
also reads another resource asks for that resource's read scope too (:func:`require`):
drafting a letter needs ``contacts:read`` and ``referrals:read``, and ``interviews:read`` when
it names an interview, since the letter is filled from them. Everything else —
managing tokens, deleting the account, any operation of a tag not listed — is refused to
personal access tokens (fail closed), so a new router is never silently open to them.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlmodel import Session

from app.accounts import service as auth_service
from app.accounts.repository import PersonalAccessTokenRepository
from app.accounts.token_schemas import PersonalAccessToken, Scope, TokenCreate
from app.kit.config import Settings
from app.kit.db import utcnow
from app.kit.errors import Forbidden, NotFound, Unauthorized, Unprocessable
from app.kit.security import sha256_hex
from app.oauth.repository import OAuthRepository
from app.oauth.server import ACCESS_PREFIX as APP_TOKEN_PREFIX

SECRET_PREFIX = "ivk_"
DISPLAY_PREFIX_CHARS = len(SECRET_PREFIX) + 8
# last_used_at is a hint for people, not an audit log: one write a minute per token at most.
TOUCH_INTERVAL = timedelta(minutes=1)

_RESOURCE_TAGS = frozenset(
    {"contacts", "referrals", "interviews", "letters", "interactions", "documents"}
)
_READ_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user's id, and the personal access token used (None for a JWT).

    ``id`` is the user's id, so a principal reads like the user wherever only that is needed.
    ``session_id`` is the session a JWT belongs to (its login's refresh-token family).
    """

    id: uuid.UUID
    token_id: uuid.UUID | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    session_id: uuid.UUID | None = None
    #: The app an OAuth access token was issued to (its ``client_id``), if it is one.
    app: str | None = None

    @property
    def is_personal_token(self) -> bool:
        """Whether the caller holds a scoped token (a personal access token or an app's)."""
        return self.token_id is not None

    @property
    def token_kind(self) -> str:
        return "app token" if self.app else "personal access token"


def is_personal_token(token: str) -> bool:
    """Whether a bearer token is a personal access token (rather than a JWT)."""
    return token.startswith(SECRET_PREFIX)


def is_opaque_token(token: str) -> bool:
    """Whether a bearer token is looked up by its hash: a personal access token or an app's
    OAuth access token (rather than a session JWT)."""
    return token.startswith((SECRET_PREFIX, APP_TOKEN_PREFIX))


def _app_principal(session: Session, token: str) -> Principal:
    found = OAuthRepository(session).by_access(sha256_hex(token))
    now = utcnow()
    if found is None or found[0].access_expires_at <= now or found[0].revoked_at is not None:
        raise Unauthorized("The access token is invalid or expired.", code="invalid_token")
    issued, grant, app = found
    return Principal(
        id=grant.owner_id, token_id=issued.id, scopes=frozenset(issued.scopes), app=app.client_id
    )


def resolve_principal(session: Session, settings: Settings, token: str) -> Principal:
    """The principal a bearer token speaks for; anything wrong is a 401."""
    if token.startswith(APP_TOKEN_PREFIX):
        return _app_principal(session, token)
    if not is_personal_token(token):
        claims = auth_service.live_access_claims(session, settings, token)
        return Principal(id=claims.subject, session_id=claims.session_id)
    tokens = PersonalAccessTokenRepository(session)
    row = tokens.with_user(sha256_hex(token))
    if row is None:
        raise Unauthorized("The access token is invalid or expired.", code="invalid_token")
    pat, user = row
    now = utcnow()
    if pat.revoked_at is not None:
        raise Unauthorized("This personal access token was revoked.", code="token_revoked")
    if pat.expires_at is not None and pat.expires_at <= now:
        raise Unauthorized("This personal access token has expired.", code="token_expired")
    if pat.last_used_at is None or pat.last_used_at <= now - TOUCH_INTERVAL:
        # Conditional, so concurrent requests with one token write it once per interval.
        tokens.touch(pat.id, now, unused_since=now - TOUCH_INTERVAL)
        session.commit()
    return Principal(id=user.id, token_id=pat.id, scopes=frozenset(pat.scopes))


# --- Scopes -----------------------------------------------------------------------------------

ANY_TOKEN = "*"


def required_scope(tag: str | None, method: str) -> str | None:
    """The scope an operation needs from a personal access token.

    ``ANY_TOKEN`` when every token may call it, ``None`` when no token may.
    """
    method = method.upper()
    if tag in _RESOURCE_TAGS:
        return f"{tag}:read" if method in _READ_METHODS else f"{tag}:write"
    if tag == "webhooks":
        return Scope.WEBHOOKS_MANAGE.value
    if tag == "export":
        return Scope.EXPORT.value
    if tag == "insights" and method in _READ_METHODS:  # computed across every domain
        return Scope.INSIGHTS_READ.value
    if tag == "templates":  # letter templates belong with the letters they fill
        return "letters:read" if method in _READ_METHODS else "letters:write"
    if tag == "agenda" and method in _READ_METHODS:  # computed from interviews and contacts
        return "interviews:read"
    if tag in {"auth", "questions"} and method in _READ_METHODS:
        return ANY_TOKEN
    return None


def authorize(principal: Principal, tags: Sequence[object], method: str) -> None:
    """Refuse (403 ``insufficient_scope``) an operation the caller's token does not cover.

    ``tags`` are the operation's OpenAPI tags; the first one names its resource.
    """
    if not principal.is_personal_token:
        return
    tag = str(tags[0]) if tags else None
    scope = required_scope(tag, method)
    if scope == ANY_TOKEN:
        return
    if scope is None:
        kind = principal.token_kind[0].upper() + principal.token_kind[1:] + "s"
        detail = (
            f"{kind} cannot manage tokens; use a session token."
            if tag == "tokens"
            else f"{kind} cannot call this operation; use a session token."
        )
        raise Forbidden(
            detail,
            code="insufficient_scope",
            headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'},
        )
    require(principal, scope)


def require(principal: Principal, scope: str, why: str = "") -> None:
    """Refuse (403 ``insufficient_scope``) a personal access token without ``scope``.

    For an operation that reads another resource on top of its own (drafting a letter reads
    contacts, referrals and interviews); ``why`` ends the message, after a space.
    """
    if principal.is_personal_token and scope not in principal.scopes:
        raise Forbidden(
            f"This {principal.token_kind} lacks the {scope} scope.{why and ' ' + why}",
            code="insufficient_scope",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
            required_scope=scope,
        )


# --- Managing tokens --------------------------------------------------------------------------


def create(
    session: Session, owner_id: uuid.UUID, data: TokenCreate
) -> tuple[PersonalAccessToken, str]:
    """Create a token; return it with its secret, which is not kept and cannot be shown again."""
    if data.expires_at is not None and data.expires_at <= utcnow():
        raise Unprocessable(
            "expires_at must be in the future.",
            code="expires_at_in_past",
            errors=[
                {"loc": ["body", "expires_at"], "msg": "must be in the future", "type": "past"}
            ],
        )
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    token = PersonalAccessToken(
        owner_id=owner_id,
        name=data.name,
        scopes=[scope.value for scope in data.scopes],
        token_hash=sha256_hex(secret),
        prefix=secret[:DISPLAY_PREFIX_CHARS],
        expires_at=data.expires_at,
    )
    PersonalAccessTokenRepository(session).add(token)
    session.commit()
    return token, secret


def list_(
    session: Session, owner_id: uuid.UUID, *, limit: int, cursor: str | None
) -> tuple[Sequence[PersonalAccessToken], bool, str | None]:
    """The owner's tokens that are not revoked (expired ones included), newest first."""
    return PersonalAccessTokenRepository(session).page(owner_id, limit=limit, cursor=cursor)


def get(session: Session, owner_id: uuid.UUID, token_id: uuid.UUID) -> PersonalAccessToken:
    """One of the owner's tokens; a revoked one is as good as gone (404)."""
    token = PersonalAccessTokenRepository(session).get(owner_id, token_id)
    if token.revoked_at is not None:
        raise NotFound(f"No token with id {token_id}.", code="token_not_found")
    return token


def revoke(session: Session, owner_id: uuid.UUID, token_id: uuid.UUID) -> None:
    """Revoke a token at once; it answers 401 from then on."""
    token = get(session, owner_id, token_id)
    token.revoked_at = utcnow()
    PersonalAccessTokenRepository(session).add(token)
    session.commit()
