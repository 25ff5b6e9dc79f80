"""OAuth 2.0 for other platforms: the protocol's endpoints, the consent page, and the API's
operations for registering apps and seeing (and withdrawing) the apps a user allowed.

The protocol endpoints (``/oauth/...`` and the metadata under ``/.well-known/``) answer as
OAuth 2.0 requires — JSON ``{"error": ..., "error_description": ...}`` from the token,
revocation and introspection endpoints, redirects from the authorization endpoint — and are
described in the OpenAPI document by its ``OAuth2App`` security scheme rather than as
operations. The consent page is one small server-rendered form: who asks, for what in plain
words, the user's email and password, Allow or Deny.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749.errors import OAuth2Error
from fastapi import APIRouter, Depends, FastAPI, Request, Response, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from app.accounts import service as auth_service
from app.accounts.deps import CurrentUser, ReadSessionDep, SessionDep
from app.accounts.token_schemas import Scope
from app.accounts.tokens import ANY_TOKEN, required_scope
from app.kit.api import API_PREFIX
from app.kit.config import Settings
from app.kit.errors import AppError, ServiceUnavailable
from app.kit.problems import problem_responses, success_headers
from app.kit.rate_limits import limit_refresh, limit_token
from app.kit.schemas import Page, PageCursor, PageLimit
from app.kit.security import PasswordWork
from app.oauth import server as oauth
from app.oauth import service
from app.oauth.schemas import AuthorizationPublic, ClientCreate, ClientCreated, ClientPublic

router = APIRouter(prefix=API_PREFIX)
protocol = APIRouter(include_in_schema=False)

AUTHORIZE_PATH = "/oauth/authorize"
TOKEN_PATH = "/oauth/token"
REVOKE_PATH = "/oauth/revoke"
INTROSPECT_PATH = "/oauth/introspect"
METADATA_PATH = "/.well-known/oauth-authorization-server"
CSRF_COOKIE = "infoview_oauth_csrf"
# A form field longer than this is not one of ours.
MAX_FIELD = 4096

#: What each scope lets an app do, as the consent page says it.
SCOPE_WORDS: dict[str, str] = {
    Scope.CONTACTS_READ: "see your contacts",
    Scope.CONTACTS_WRITE: "add, change and delete your contacts",
    Scope.REFERRALS_READ: "see who referred you to whom",
    Scope.REFERRALS_WRITE: "record, change and delete referrals",
    Scope.INTERVIEWS_READ: "see your informational interviews, their notes and checklists",
    Scope.INTERVIEWS_WRITE: "plan interviews, move them along and change their notes",
    Scope.LETTERS_READ: "read your letters and check text for job requests",
    Scope.LETTERS_WRITE: "draft, change and send letters in your name",
    Scope.DOCUMENTS_READ: "read your résumé and other documents",
    Scope.DOCUMENTS_WRITE: "upload, replace and delete your documents",
    Scope.INTERACTIONS_READ: "see the calls, meetings and messages you logged",
    Scope.INTERACTIONS_WRITE: "log, change and delete calls, meetings and messages",
    Scope.WEBHOOKS_MANAGE: "subscribe to events in your account",
    Scope.EXPORT: "download all of your data",
    Scope.INSIGHTS_READ: "see what your network adds up to: leads owed a courtesy, warm paths, "
    "figures, search and field briefs",
}
assert set(SCOPE_WORDS) == set(Scope), "every scope needs its words on the consent page"

_pages = Environment(
    loader=FileSystemLoader(Path(__file__).parent),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


def issuer(request: Request) -> str:
    """This server's address as apps know it: the public base URL, else where it was reached."""
    settings: Settings = request.app.state.settings
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    return str(request.base_url).rstrip("/")


async def _in_thread(request: Request, work: Any) -> Any:
    return await run_in_threadpool(
        oauth.run, request.app.state.engine, request.app.state.settings, work
    )


async def _oauth_request(request: Request, *, parameters_in_query: bool) -> oauth.Request:
    form: list[tuple[str, str]] = []
    if request.method == "POST":
        parsed = await request.form(max_files=0, max_fields=50)
        form = [(key, value) for key, value in parsed.multi_items() if isinstance(value, str)]
    query = list(request.query_params.multi_items())
    if any(len(value) > MAX_FIELD for _, value in [*query, *form]):
        raise AppError("A parameter is too long.", code="parameter_too_long")
    return oauth.Request(
        request.method,
        str(request.url),
        request.headers,
        query,
        form,
        parameters_in_query=parameters_in_query,
    )


def _send(answer: oauth.Answer, extra: dict[str, str] | None = None) -> Response:
    headers = {name: value for name, value in answer.headers if name.lower() != "content-type"}
    headers.update(extra or {})
    if answer.location:
        return RedirectResponse(answer.location, status_code=302, headers=headers)
    return JSONResponse(answer.body, status_code=answer.status, headers=headers)


# --- the consent page ---------------------------------------------------------------------------


def _page(
    *,
    status_code: int = 200,
    message: str | None = None,
    grant: Any = None,
    request: Request | None = None,
    csrf_token: str = "",
    email: str = "",
) -> HTMLResponse:
    context: dict[str, Any] = {"message": message, "app": None}
    form_targets = "'self'"
    if grant is not None and request is not None:
        app: oauth.App = grant.request.client
        redirect = urlsplit(grant.redirect_uri)
        form_targets += f" {redirect.scheme}://{redirect.netloc}"
        context.update(
            app=app.row.name,
            scopes=[SCOPE_WORDS[s] for s in (grant.request.scope or "").split() if s],
            redirect_host=redirect.netloc,
            action=AUTHORIZE_PATH + "?" + request.url.query,
            csrf_token=csrf_token,
            email=email,
        )
    html = _pages.get_template("consent.html.j2").render(**context)
    response = HTMLResponse(html, status_code=status_code)
    # Allow/Deny post here and are redirected to the app: the form may go nowhere else.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
        f"base-uri 'none'; form-action {form_targets}"
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def _refusal(error: OAuth2Error, oauth_request: oauth.Request) -> Response:
    """An invalid authorization request: back to the app if its redirect URI was proven, else
    a page (never a redirect to an address the app did not register)."""
    answer = oauth.SERVER.handle_error_response(oauth_request, error)
    if answer.location and error.redirect_uri:
        return _send(answer)
    return _page(status_code=400, message=error.get_error_description() or error.error)


def _consent_grant(oauth_request: oauth.Request) -> Any:
    def work(session: Session) -> Any:
        try:
            return oauth.SERVER.get_consent_grant(request=oauth_request)
        except OAuth2Error as error:
            error.state = oauth_request.payload.state
            return error

    return work


@protocol.get(AUTHORIZE_PATH)
async def authorize_page(request: Request) -> Response:
    """The consent page: which app asks for what; sign in and allow, or deny."""
    oauth_request = await _oauth_request(request, parameters_in_query=True)
    grant = await _in_thread(request, _consent_grant(oauth_request))
    if isinstance(grant, OAuth2Error):
        return _refusal(grant, oauth_request)
    csrf_token = secrets.token_urlsafe(32)
    response = _page(grant=grant, request=request, csrf_token=csrf_token)
    response.set_cookie(
        CSRF_COOKIE,
        csrf_token,
        max_age=3600,
        path=AUTHORIZE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@protocol.post(AUTHORIZE_PATH, dependencies=[Depends(limit_token)])
async def authorize(request: Request) -> Response:
    """Allow or Deny, from the consent page."""
    oauth_request = await _oauth_request(request, parameters_in_query=True)
    form = oauth_request.form
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, form.get("csrf_token", "")):
        return _page(
            status_code=403,
            message="This form has expired or did not come from this page. Start again from "
            "the app.",
        )
    decision = form.get("decision")
    email, password = form.get("username", ""), form.get("password", "")

    def work(session: Session) -> Any:
        try:
            grant = oauth.SERVER.get_consent_grant(request=oauth_request)
        except OAuth2Error as error:
            error.state = oauth_request.payload.state
            return error
        if decision != "allow":
            return oauth.SERVER.create_authorization_response(
                oauth_request, grant_user=None, grant=grant
            )
        try:
            user = auth_service.authenticate(session, email, password)
        except AppError:
            return grant  # show the page again, with the message
        answer = oauth.SERVER.create_authorization_response(
            oauth_request, grant_user=user.id, grant=grant
        )
        return oauth.respond(session, answer)

    # The password check (argon2id) runs with the logins', a few at a time. A full line is
    # told on a page (this is a browser's form), not as a JSON problem.
    work_limit: PasswordWork = request.app.state.password_work
    try:
        result = await work_limit.run(
            oauth.run, request.app.state.engine, request.app.state.settings, work
        )
    except ServiceUnavailable as busy:
        page = _page(status_code=503, message="Too many sign-ins right now: go back and try again.")
        page.headers.update(busy.headers)
        return page
    if isinstance(result, OAuth2Error):
        return _refusal(result, oauth_request)
    if isinstance(result, oauth.Answer):
        return _send(result)
    return _page(
        status_code=400,
        message="Incorrect email or password.",
        grant=result,
        request=request,
        csrf_token=cookie,
        email=email,
    )


# --- token, revocation, introspection, metadata -------------------------------------------------


@protocol.post(TOKEN_PATH, dependencies=[Depends(limit_refresh)])
async def token(request: Request) -> Response:
    """Exchange a code (with its PKCE verifier) or a refresh token for tokens."""
    oauth_request = await _oauth_request(request, parameters_in_query=False)

    def work(session: Session) -> oauth.Answer:
        return oauth.respond(session, oauth.SERVER.create_token_response(oauth_request))

    return _send(await _in_thread(request, work))


def _endpoint(name: str) -> Any:
    async def answer(request: Request) -> Response:
        oauth_request = await _oauth_request(request, parameters_in_query=False)

        def work(session: Session) -> oauth.Answer:
            answer = oauth.SERVER.create_endpoint_response(name, oauth_request)
            return oauth.respond(session, answer)

        return _send(await _in_thread(request, work), {"Cache-Control": "no-store"})

    return answer


protocol.add_api_route(REVOKE_PATH, _endpoint("revocation"), methods=["POST"])
protocol.add_api_route(INTROSPECT_PATH, _endpoint("introspection"), methods=["POST"])


def metadata(base: str) -> dict[str, Any]:
    """The authorization server's metadata (RFC 8414)."""
    return {
        "issuer": base,
        "authorization_endpoint": base + AUTHORIZE_PATH,
        "token_endpoint": base + TOKEN_PATH,
        "revocation_endpoint": base + REVOKE_PATH,
        "introspection_endpoint": base + INTROSPECT_PATH,
        "scopes_supported": list(oauth.SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(oauth.GRANT_TYPES),
        "token_endpoint_auth_methods_supported": oauth.ALL_METHODS,
        "revocation_endpoint_auth_methods_supported": oauth.ALL_METHODS,
        "introspection_endpoint_auth_methods_supported": oauth.SECRET_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "service_documentation": base + "/docs",
    }


@protocol.get(METADATA_PATH)
async def server_metadata(request: Request) -> JSONResponse:
    """Where the endpoints are and what they support."""
    return JSONResponse(metadata(issuer(request)), headers={"Cache-Control": "max-age=3600"})


# --- registering apps ---------------------------------------------------------------------------


@router.post(
    "/apps",
    tags=["apps"],
    operation_id="apps-create",
    status_code=status.HTTP_201_CREATED,
    response_model=ClientCreated,
    responses={**problem_responses(401, 403, 422), **success_headers(201, "Location")},
)
async def create_app(
    data: ClientCreate, user: CurrentUser, session: SessionDep, response: Response
) -> ClientCreated:
    """Register an app that will act for users through OAuth 2.0."""
    created: ClientCreated = await session.run(service.register, user.id, data)
    response.headers["Location"] = f"/api/v1/apps/{created.id}"
    response.headers["Cache-Control"] = "no-store"
    return created


@router.get(
    "/apps",
    tags=["apps"],
    operation_id="apps-list",
    response_model=Page[ClientPublic],
    responses=problem_responses(401, 403, 422),
)
async def list_apps(
    user: CurrentUser,
    session: ReadSessionDep,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
) -> Page[ClientPublic]:
    """The apps you registered, newest first (never their secrets)."""
    rows, has_more, next_cursor = await session.run(
        service.apps, user.id, limit=limit, cursor=cursor
    )
    return Page[ClientPublic](
        data=[service.public(row) for row in rows], has_more=has_more, next_cursor=next_cursor
    )


@router.get(
    "/apps/{app_id}",
    tags=["apps"],
    operation_id="apps-get",
    response_model=ClientPublic,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_app(app_id: uuid.UUID, user: CurrentUser, session: ReadSessionDep) -> ClientPublic:
    """One of the apps you registered."""
    return service.public(await session.run(service.app, user.id, app_id))


@router.delete(
    "/apps/{app_id}",
    tags=["apps"],
    operation_id="apps-delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 422),
)
async def delete_app(app_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Response:
    """Delete an app you registered; every user's grant to it and every token it holds end."""
    await session.run(service.delete_app, user.id, app_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- the apps a user allowed --------------------------------------------------------------------


@router.get(
    "/authorizations",
    tags=["authorizations"],
    operation_id="authorizations-list",
    response_model=Page[AuthorizationPublic],
    responses=problem_responses(401, 403, 422),
)
async def list_authorizations(
    user: CurrentUser,
    session: ReadSessionDep,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
) -> Page[AuthorizationPublic]:
    """The apps you allowed to act for you, and what each may do."""
    rows, has_more, next_cursor = await session.run(
        service.authorizations, user.id, limit=limit, cursor=cursor
    )
    return Page[AuthorizationPublic](data=rows, has_more=has_more, next_cursor=next_cursor)


@router.get(
    "/authorizations/{authorization_id}",
    tags=["authorizations"],
    operation_id="authorizations-get",
    response_model=AuthorizationPublic,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_authorization(
    authorization_id: uuid.UUID, user: CurrentUser, session: ReadSessionDep
) -> AuthorizationPublic:
    """One app you allowed."""
    found: AuthorizationPublic = await session.run(service.authorization, user.id, authorization_id)
    return found


@router.delete(
    "/authorizations/{authorization_id}",
    tags=["authorizations"],
    operation_id="authorizations-revoke",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 422),
)
async def revoke_authorization(
    authorization_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> Response:
    """Withdraw an app's access; its tokens stop working at once."""
    await session.run(service.revoke, user.id, authorization_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- the OpenAPI document -----------------------------------------------------------------------

APP_SCHEME_NAME = "OAuth2App"


def declare_in_openapi(app: FastAPI) -> None:
    """Describe the authorization-code flow as a security scheme, and name on every operation
    an app's token may call the scope it needs (the same rule :func:`authorize` applies)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        schemes = document.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes[APP_SCHEME_NAME] = {
            "type": "oauth2",
            "description": (
                "For apps acting for a user: the authorization code flow with PKCE (S256). "
                "Register the app with `POST /api/v1/apps`; the server's metadata is at "
                f"`{METADATA_PATH}`. Tokens are opaque (`ivo_...`)."
            ),
            "flows": {
                "authorizationCode": {
                    "authorizationUrl": AUTHORIZE_PATH,
                    "tokenUrl": TOKEN_PATH,
                    "refreshUrl": TOKEN_PATH,
                    "scopes": {str(scope): words for scope, words in SCOPE_WORDS.items()},
                }
            },
        }
        for item in document.get("paths", {}).values():
            for method, operation in item.items():
                if not isinstance(operation, dict) or not operation.get("security"):
                    continue
                effective = "GET" if operation.get("x-reads-only") else method.upper()
                tags = operation.get("tags") or [None]
                scope = required_scope(tags[0], effective)
                if scope is None:
                    continue
                needed = [] if scope == ANY_TOKEN else [scope]
                operation["security"].append({APP_SCHEME_NAME: needed})
        return document

    app.openapi = openapi  # type: ignore[method-assign]
