"""The OAuth 2.0 authorization server, built from authlib's framework-neutral components.

authlib speaks the protocol (request validation, PKCE, client authentication, error answers);
this module gives it our storage and our rules:

- **Authorization code with PKCE.** Public apps must send an S256 ``code_challenge``; only
  S256 is accepted (``plain`` proves nothing a code does not). Every authorization request
  carries ``state``. The redirect URI must be one the app registered, character for character;
  an app with several must name one.
- **Scopes.** An app asks for some of the scopes it was registered with, and nothing else;
  the token carries what the user consented to, and is held to it by the same scope check as
  personal access tokens (:func:`app.accounts.tokens.authorize`).
- **Codes** live ten minutes and work once. A code presented a second time ends every token
  exchanged for it (its family).
- **Tokens are opaque** (``ivo_`` access tokens, ``ivr_`` refresh tokens) and stored as
  hashes, so revoking one, or the user revoking the app, takes effect on the next request.
  Access tokens live as long as a session's (``INFOVIEW_ACCESS_TOKEN_MINUTES``), refresh
  tokens ``INFOVIEW_REFRESH_TOKEN_DAYS``.
- **Refresh tokens rotate**: each refresh answers a new one and retires the old. A retired
  refresh token used again means it was copied: the whole family is revoked.
- **Revocation** (any app, for its own tokens) and **introspection** (confidential apps, for
  their own tokens).

authlib's components are synchronous: each endpoint runs in a worker thread on a blocking
session of its own (:func:`run`), never on the event loop.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    AuthorizationServer,
    ClientMixin,
    OAuth2Payload,
    OAuth2Request,
    TokenMixin,
)
from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from sqlalchemy import Engine
from sqlmodel import Session

from app.accounts.token_schemas import Scope
from app.kit.config import Settings
from app.kit.db import utcnow
from app.kit.security import sha256_hex
from app.oauth.repository import IssuedToken, OAuthRepository
from app.oauth.schemas import OAuthAuthorization, OAuthClient, OAuthCode, OAuthToken

ACCESS_PREFIX = "ivo_"
REFRESH_PREFIX = "ivr_"
CLIENT_PREFIX = "ivapp_"
CLIENT_SECRET_PREFIX = "ivsec_"
CODE_LIFETIME = timedelta(minutes=10)
GRANT_TYPES = ("authorization_code", "refresh_token")
SECRET_METHODS = ["client_secret_basic", "client_secret_post"]
ALL_METHODS = [*SECRET_METHODS, "none"]
SCOPES = tuple(scope.value for scope in Scope)

T = TypeVar("T")
_session: ContextVar[Session] = ContextVar("oauth_session")
_settings: ContextVar[Settings] = ContextVar("oauth_settings")


def _repository() -> OAuthRepository:
    return OAuthRepository(_session.get())


def _revoke_family_now(family_id: uuid.UUID) -> None:
    """Revoke a family of tokens and commit at once, whatever the request answers."""
    session = _session.get()
    session.rollback()
    OAuthRepository(session).revoke_family(family_id, utcnow())
    session.commit()


# --- authlib's view of our rows ---------------------------------------------------------------


class App(ClientMixin):  # type: ignore[misc]
    """A registered app, as authlib asks about it."""

    def __init__(self, row: OAuthClient) -> None:
        self.row = row

    @property
    def is_public(self) -> bool:
        return self.row.secret_hash is None

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        # Only an app with exactly one redirect URI may leave it out of a request.
        return self.row.redirect_uris[0] if len(self.row.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        return " ".join(s for s in scope_to_list(scope or "") or [] if s in self.row.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.row.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        if self.row.secret_hash is None:
            return False
        return hmac.compare_digest(sha256_hex(client_secret), self.row.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "none" if self.is_public else method in SECRET_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in GRANT_TYPES


class Code(AuthorizationCodeMixin):  # type: ignore[misc]
    def __init__(self, row: OAuthCode, grant: OAuthAuthorization) -> None:
        self.row = row
        self.grant = grant
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str | None:
        return self.row.redirect_uri or None

    def get_scope(self) -> str:
        return " ".join(self.row.scopes)


class Issued(TokenMixin):  # type: ignore[misc]
    """A token found by its access or its refresh secret (``kind`` says which)."""

    def __init__(self, found: IssuedToken, kind: str) -> None:
        self.token, self.grant, self.app = found
        self.kind = kind

    def check_client(self, client: App) -> bool:
        return self.app.id == client.row.id

    def get_scope(self) -> str:
        return " ".join(self.token.scopes)

    def get_expires_in(self) -> int:
        return int((self.expires_at - self.token.created_at).total_seconds())

    @property
    def expires_at(self) -> datetime:
        if self.kind == "refresh_token" and self.token.refresh_expires_at is not None:
            return self.token.refresh_expires_at
        return self.token.access_expires_at

    def is_expired(self) -> bool:
        return self.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        retired = self.kind == "refresh_token" and self.token.rotated_at is not None
        return self.token.revoked_at is not None or retired

    def get_user(self) -> uuid.UUID:
        return self.grant.owner_id

    def get_client(self) -> App:
        return App(self.app)


def _find_token(token: str, hint: str | None) -> Issued | None:
    repository = _repository()
    digest = sha256_hex(token)
    kinds = ["refresh_token", "access_token"] if hint == "refresh_token" else None
    for kind in kinds or ["access_token", "refresh_token"]:
        found = (repository.by_access if kind == "access_token" else repository.by_refresh)(digest)
        if found is not None:
            return Issued(found, kind)
    return None


# --- grants and endpoints ---------------------------------------------------------------------


def check_scope(request: OAuth2Request) -> None:
    """At least one scope, every one of them ours and registered for the app."""
    asked = scope_to_list(request.payload.scope or "") or []
    if not asked:
        raise InvalidScopeError("Ask for at least one scope.")
    unknown = [scope for scope in asked if scope not in SCOPES]
    if unknown:
        raise InvalidScopeError(f"Unknown scope: {' '.join(unknown)}.")
    client: App | None = request.client
    beyond = [scope for scope in asked if client is not None and scope not in client.row.scopes]
    if beyond:
        raise InvalidScopeError(f"The app is not registered for: {' '.join(beyond)}.")


class S256Challenge(CodeChallenge):  # type: ignore[misc]
    """PKCE with S256 only, and required of public apps when they ask, not only when they
    exchange the code."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: AuthorizationCodeGrant, redirect_uri: str) -> None:
        super().validate_code_challenge(grant, redirect_uri)
        data = grant.request.payload.data
        client: App = grant.request.client
        if client.is_public and not data.get("code_challenge"):
            raise InvalidRequestError("A public app must send a code_challenge (S256).")
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.")


class CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_METHODS

    def validate_authorization_request(self) -> str:
        redirect_uri: str = super().validate_authorization_request()
        if not self.request.payload.state:
            # Not sent back to the app: without state it could not tell this answer from a
            # forged one.
            raise InvalidRequestError("Missing 'state': the app must send one.")
        return redirect_uri

    def validate_requested_scope(self) -> None:
        check_scope(self.request)

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        repository = _repository()
        now = utcnow()
        client: App = request.client
        grant = repository.authorization_for(request.user, client.row.id)
        grant.scopes = scope_to_list(request.scope) or []
        grant.granted_at = now
        repository.add(grant)
        data = request.payload.data
        repository.add(
            OAuthCode(
                code_hash=sha256_hex(code),
                authorization_id=grant.id,
                redirect_uri=request.payload.redirect_uri or "",
                scopes=grant.scopes,
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge") and "S256",
                expires_at=now + CODE_LIFETIME,
            )
        )

    def query_authorization_code(self, code: str, client: App) -> Code | None:
        repository = _repository()
        found = repository.code(sha256_hex(code), client.row.id)
        if found is None:
            return None
        row, grant = found
        now = utcnow()
        if row.used_at is not None or not repository.claim_code(row.id, now):
            _revoke_family_now(row.id)  # a code used twice was stolen: its tokens end
            return None
        if row.expires_at <= now:
            return None
        return Code(row, grant)

    def delete_authorization_code(self, authorization_code: Code) -> None:
        """Nothing to do: the code was marked used when it was read."""

    def authenticate_user(self, authorization_code: Code) -> uuid.UUID:
        return authorization_code.grant.owner_id


class RefreshGrant(RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Issued | None:
        found = _repository().by_refresh(sha256_hex(refresh_token))
        if found is None:
            return None
        issued = Issued(found, "refresh_token")
        if issued.token.rotated_at is not None and issued.token.revoked_at is None:
            _revoke_family_now(issued.token.family_id)  # used twice: it was copied
            return None
        if issued.is_revoked() or issued.is_expired():
            return None
        return issued

    def authenticate_user(self, refresh_token: Issued) -> uuid.UUID:
        return refresh_token.grant.owner_id

    def revoke_old_credential(self, refresh_token: Issued) -> None:
        if not _repository().mark_rotated(refresh_token.token.id, utcnow()):
            _revoke_family_now(refresh_token.token.family_id)  # a concurrent second use
            raise InvalidGrantError("This refresh token was already used.")


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ALL_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Issued | None:
        return _find_token(token_string, token_type_hint)

    def revoke_token(self, token: Issued, request: OAuth2Request) -> None:
        repository = _repository()
        if token.kind == "refresh_token":  # and every access token renewed through it
            repository.revoke_family(token.token.family_id, utcnow())
        else:
            repository.revoke(token.token.id, utcnow())


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = SECRET_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Issued | None:
        return _find_token(token_string, token_type_hint)

    def check_permission(self, token: Issued, client: App, request: OAuth2Request) -> bool:
        return token.check_client(client)

    def introspect_token(self, token: Issued) -> dict[str, Any]:
        return {
            "active": True,
            "client_id": token.app.client_id,
            "scope": token.get_scope(),
            "sub": str(token.grant.owner_id),
            "token_type": "Bearer" if token.kind == "access_token" else "refresh_token",
            "iat": int(token.token.created_at.timestamp()),
            "exp": int(token.expires_at.timestamp()),
        }


@dataclass(frozen=True)
class Answer:
    """What an OAuth endpoint answers, for the router to send."""

    status: int
    body: Any
    headers: list[tuple[str, str]]

    @property
    def location(self) -> str | None:
        return next((value for name, value in self.headers if name.lower() == "location"), None)


class Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.register_grant(CodeGrant, [S256Challenge(required=True)])
        self.register_grant(RefreshGrant)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)
        self.register_token_generator("default", self._generate)

    def query_client(self, client_id: str) -> App | None:
        if not client_id or len(client_id) > 64:
            return None
        row = _repository().client_by_client_id(client_id)
        return None if row is None else App(row)

    @staticmethod
    def _generate(
        grant_type: str,
        client: App,
        user: uuid.UUID | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": ACCESS_PREFIX + secrets.token_urlsafe(32),
            "expires_in": _settings.get().access_token_minutes * 60,
            "scope": scope or "",
        }
        if include_refresh_token:
            token["refresh_token"] = REFRESH_PREFIX + secrets.token_urlsafe(32)
        return token

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        settings = _settings.get()
        if request.authorization_code is not None:
            code: Code = request.authorization_code
            authorization_id, family_id = code.grant.id, code.row.id
        else:
            issued: Issued = request.refresh_token
            authorization_id, family_id = issued.grant.id, issued.token.family_id
        now = utcnow()
        refresh = token.get("refresh_token")
        _repository().add(
            OAuthToken(
                authorization_id=authorization_id,
                family_id=family_id,
                access_hash=sha256_hex(token["access_token"]),
                refresh_hash=sha256_hex(refresh) if refresh else None,
                scopes=scope_to_list(token["scope"]) or [],
                created_at=now,
                access_expires_at=now + timedelta(seconds=token["expires_in"]),
                refresh_expires_at=(
                    now + timedelta(days=settings.refresh_token_days) if refresh else None
                ),
            )
        )

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def handle_response(self, status: int, body: Any, headers: Iterable[Any]) -> Answer:
        return Answer(status, body, [(str(name), str(value)) for name, value in headers])

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No listeners: what happens is in the database."""


SERVER = Server()


# --- requests in, answers out -----------------------------------------------------------------


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._data: dict[str, str] = {}
        self._datalist: dict[str, list[str]] = {}
        for key, value in pairs:
            self._data.setdefault(key, value)
            self._datalist.setdefault(key, []).append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class Request(OAuth2Request):  # type: ignore[misc]
    """An HTTP request as authlib reads it: the parameters of an authorization request come
    from the query only; those of the token, revocation and introspection endpoints from the
    form body only."""

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Mapping[str, str],
        query: list[tuple[str, str]],
        form: list[tuple[str, str]],
        *,
        parameters_in_query: bool,
    ) -> None:
        # Our own scheme check happens at the edge (the public base URL); authlib's would
        # refuse plain http on a developer's machine and behind a TLS-terminating proxy.
        # ``headers`` stays the framework's case-insensitive mapping: authlib asks for
        # "Authorization", HTTP/2 and ASGI spell it "authorization".
        super().__init__(method, "https://" + uri.split("://", 1)[-1], headers=headers)
        self._args = dict(query)
        self._form = dict(form)
        self.payload = _Payload(query if parameters_in_query else form)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


def run(engine: Engine, settings: Settings, work: Callable[[Session], T]) -> T:
    """Run ``work`` in this (worker) thread on a session of its own, for authlib's callbacks.

    What ``work`` leaves uncommitted is rolled back; it commits what it means to keep.
    """
    with Session(engine, expire_on_commit=False) as session:
        session_token = _session.set(session)
        settings_token = _settings.set(settings)
        try:
            return work(session)
        finally:
            _session.reset(session_token)
            _settings.reset(settings_token)


def respond(session: Session, answer: Answer) -> Answer:
    """Keep what an endpoint did when it succeeded; drop it otherwise."""
    if answer.status < 400:
        session.commit()
    else:
        session.rollback()
    return answer
