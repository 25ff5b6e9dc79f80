"""OAuth 2.0 for apps, through HTTP on both databases: the flows, and the attacks refused."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from fastapi.testclient import TestClient

from tests.factories import assert_problem, password_line_full, register
from tests.oauth.helpers import (
    REDIRECT,
    authorize_query,
    consent,
    exchange,
    get_code,
    new_verifier,
    redirect_params,
    register_app,
)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _tokens(client: TestClient, app: dict[str, Any], user: Any) -> dict[str, Any]:
    verifier = new_verifier()
    code = get_code(client, app, user, verifier)
    r = exchange(client, app, code, verifier)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_the_metadata_describes_the_server(client: TestClient) -> None:
    # Served over TLS, as in production (RFC 8414 wants an https issuer).
    r = client.get("https://testserver/.well-known/oauth-authorization-server")
    assert r.status_code == 200
    metadata = AuthorizationServerMetadata(r.json())
    metadata.validate()
    assert metadata["issuer"] == "https://testserver"
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["token_endpoint"] == "https://testserver/oauth/token"
    assert "contacts:read" in metadata["scopes_supported"]


def test_a_public_app_gets_tokens_with_pkce_and_is_held_to_its_scopes(
    client: TestClient,
) -> None:
    user = register(client)
    app = register_app(client, user)
    assert app["type"] == "public" and app["client_secret"] is None
    tokens = _tokens(client, app, user)
    assert tokens["token_type"] == "Bearer"
    assert tokens["scope"] == "contacts:read interviews:read"
    assert tokens["access_token"].startswith("ivo_")
    assert tokens["refresh_token"].startswith("ivr_")

    headers = _bearer(tokens["access_token"])
    assert client.get("/api/v1/contacts", headers=headers).status_code == 200
    refused = client.post("/api/v1/contacts", headers=headers, json={"name": "Ana"})
    body = assert_problem(refused, 403, "insufficient_scope")
    assert body["detail"].startswith("This app token lacks the contacts:write scope")
    # An app never manages tokens, apps or grants.
    for path in ("/api/v1/tokens", "/api/v1/apps", "/api/v1/authorizations"):
        assert_problem(client.get(path, headers=headers), 403, "insufficient_scope")

    # The consent is listed for the user, with the app's name and the scopes.
    listed = client.get("/api/v1/authorizations", headers=user.headers).json()["data"]
    assert [(a["client_name"], a["scopes"]) for a in listed] == [
        ("Career Hub", ["contacts:read", "interviews:read"])
    ]


def test_refresh_tokens_rotate_and_a_reused_one_ends_the_family(client: TestClient) -> None:
    user = register(client)
    app = register_app(client, user)
    first = _tokens(client, app, user)
    form = {"grant_type": "refresh_token", "client_id": app["client_id"]}
    second = client.post("/oauth/token", data={**form, "refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    renewed = second.json()
    assert renewed["refresh_token"] != first["refresh_token"]
    assert client.get("/api/v1/contacts", headers=_bearer(renewed["access_token"])).is_success

    # The first refresh token again: someone copied it. Everything of that login ends.
    reused = client.post("/oauth/token", data={**form, "refresh_token": first["refresh_token"]})
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    again = client.post("/oauth/token", data={**form, "refresh_token": renewed["refresh_token"]})
    assert again.json()["error"] == "invalid_grant"
    gone = client.get("/api/v1/contacts", headers=_bearer(renewed["access_token"]))
    assert_problem(gone, 401, "invalid_token")


def test_a_refresh_cannot_widen_the_scopes(client: TestClient) -> None:
    user = register(client)
    app = register_app(client, user, scopes=("contacts:read", "contacts:write"))
    verifier = new_verifier()
    query = authorize_query(app, verifier, scope="contacts:read")
    code = redirect_params(consent(client, query, user))["code"]
    tokens = exchange(client, app, code, verifier).json()
    r = client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "client_id": app["client_id"],
            "refresh_token": tokens["refresh_token"],
            "scope": "contacts:read contacts:write",
        },
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


def test_a_confidential_app_authenticates_and_introspects_and_revokes(
    client: TestClient,
) -> None:
    user = register(client)
    app = register_app(client, user, type="confidential")
    secret = app["client_secret"]
    assert secret.startswith("ivsec_")
    # Without PKCE: a confidential app proves itself with its secret.
    code = get_code(client, app, user, None)
    assert exchange(client, app, code, None).status_code in {400, 401}  # no secret: refused
    code = get_code(client, app, user, None)
    tokens = exchange(client, app, code, None, secret=secret).json()
    auth = (app["client_id"], secret)

    seen = client.post("/oauth/introspect", data={"token": tokens["access_token"]}, auth=auth)
    assert seen.status_code == 200
    body = seen.json()
    assert body["active"] is True and body["scope"] == "contacts:read interviews:read"
    assert body["sub"] == user.id and body["client_id"] == app["client_id"]
    unknown = client.post("/oauth/introspect", data={"token": "ivo_nothing"}, auth=auth)
    assert unknown.json() == {"active": False}
    # Public apps cannot introspect.
    other = register_app(client, user)
    refused = client.post(
        "/oauth/introspect", data={"token": tokens["access_token"], "client_id": other["client_id"]}
    )
    assert refused.status_code in {400, 401} and refused.json()["error"] == "invalid_client"

    # Revoking the refresh token ends the access token renewed from it too.
    r = client.post(
        "/oauth/revoke",
        data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
        auth=auth,
    )
    assert r.status_code == 200
    assert_problem(client.get("/api/v1/contacts", headers=_bearer(tokens["access_token"])), 401)
    after = client.post("/oauth/introspect", data={"token": tokens["access_token"]}, auth=auth)
    assert after.json() == {"active": False}


def test_a_redirect_uri_not_registered_is_never_followed(client: TestClient) -> None:
    user = register(client)
    app = register_app(client, user)
    for uri in (REDIRECT + "/", REDIRECT + "?x=1", "https://evil.example/callback"):
        page = client.get(
            "/oauth/authorize?" + authorize_query(app, new_verifier(), redirect_uri=uri),
            follow_redirects=False,
        )
        assert page.status_code == 400 and "location" not in page.headers
        assert "not supported" in page.text
    # Nor at the token endpoint: the code is bound to the URI it was issued for.
    verifier = new_verifier()
    code = get_code(client, app, user, verifier)
    r = exchange(client, app, code, verifier, redirect_uri="https://evil.example/callback")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_a_code_works_once_and_its_reuse_ends_the_tokens(client: TestClient) -> None:
    user = register(client)
    app = register_app(client, user)
    verifier = new_verifier()
    code = get_code(client, app, user, verifier)
    tokens = exchange(client, app, code, verifier).json()
    again = exchange(client, app, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert_problem(client.get("/api/v1/contacts", headers=_bearer(tokens["access_token"])), 401)


def test_pkce_is_checked_and_required_of_public_apps(client: TestClient) -> None:
    user = register(client)
    app = register_app(client, user)
    code = get_code(client, app, user, new_verifier())
    wrong = exchange(client, app, code, new_verifier())
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    missing = exchange(client, app, get_code(client, app, user, new_verifier()), None)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    # A public app that sends no challenge is sent back with an error, before any consent.
    r = client.get("/oauth/authorize?" + authorize_query(app, None), follow_redirects=False)
    assert redirect_params(r)["error"] == "invalid_request"
    plain = authorize_query(app, None, code_challenge="a" * 43, code_challenge_method="plain")
    r = client.get("/oauth/authorize?" + plain, follow_redirects=False)
    assert redirect_params(r)["error"] == "invalid_request"


def test_scopes_beyond_the_registration_are_refused(client: TestClient) -> None:
    user = register(client)
    app = register_app(client, user)
    for scope in ("contacts:read contacts:write", "admin", ""):
        query = authorize_query(app, new_verifier(), scope=scope)
        r = client.get("/oauth/authorize?" + query, follow_redirects=False)
        assert redirect_params(r)["error"] == "invalid_scope", scope


def test_state_is_required(client: TestClient) -> None:
    user = register(client)
    app = register_app(client, user)
    query = authorize_query(app, new_verifier(), state=None)
    r = client.get("/oauth/authorize?" + query, follow_redirects=False)
    assert r.status_code == 400 and "state" in r.text


def test_the_consent_form_needs_its_csrf_token_and_the_password(client: TestClient) -> None:
    user = register(client)
    app = register_app(client, user)
    query = authorize_query(app, new_verifier())
    client.get("/oauth/authorize?" + query)
    forged = client.post(
        "/oauth/authorize?" + query,
        data={"csrf_token": "guess", "username": user.email, "password": "x", "decision": "allow"},
        follow_redirects=False,
    )
    assert forged.status_code == 403 and "location" not in forged.headers
    wrong = consent(client, query, user, password="not the password")
    assert wrong.status_code == 400 and "Incorrect email or password" in wrong.text
    assert client.get("/api/v1/authorizations", headers=user.headers).json()["data"] == []


def test_deny_sends_the_user_back_with_access_denied(client: TestClient) -> None:
    user = register(client)
    app = register_app(client, user)
    query = authorize_query(app, new_verifier(), state="keep-me")
    params = redirect_params(consent(client, query, user, decision="deny"))
    assert params == {
        "error": "access_denied",
        "error_description": params.get("error_description", ""),
        "state": "keep-me",
    } or (params["error"] == "access_denied" and params["state"] == "keep-me")
    assert "code" not in params


def test_a_busy_password_line_is_told_on_the_page(client: TestClient) -> None:
    """The consent form's sign-in waits its turn with the logins; past the line, the browser
    gets a page saying so (with Retry-After), no code, and the next try goes through."""
    user = register(client)
    app = register_app(client, user)
    with password_line_full(client):
        busy = consent(client, authorize_query(app, new_verifier()), user)
    assert busy.status_code == 503
    assert busy.headers["content-type"].startswith("text/html")
    assert busy.headers["Retry-After"] == "1"
    assert "Too many sign-ins" in busy.text and "location" not in busy.headers
    assert get_code(client, app, user, new_verifier())


def test_the_consent_page_is_plain_escaped_and_unframeable(client: TestClient) -> None:
    user = register(client)
    r = client.post(
        "/api/v1/apps",
        headers=user.headers,
        json={
            "name": "<script>alert(1)</script>",
            "redirect_uris": [REDIRECT],
            "scopes": ["letters:write"],
            "type": "public",
        },
    )
    app = r.json()
    page = client.get("/oauth/authorize?" + authorize_query(app, new_verifier()))
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;" in page.text
    assert "draft, change and send letters in your name" in page.text
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "form-action 'self' https://app.example" in csp
    assert page.headers["cache-control"] == "no-store"
    assert "samesite=strict" in page.headers["set-cookie"].lower()


def test_revoking_an_authorization_or_deleting_the_app_ends_its_tokens(
    client: TestClient,
) -> None:
    user = register(client)
    stranger = register(client)
    app = register_app(client, user)
    tokens = _tokens(client, app, user)
    (grant,) = client.get("/api/v1/authorizations", headers=user.headers).json()["data"]
    path = f"/api/v1/authorizations/{grant['id']}"
    # Another user's grant is not theirs to see or revoke.
    assert_problem(client.get(path, headers=stranger.headers), 404)
    assert_problem(client.delete(path, headers=stranger.headers), 404)
    assert client.get(path, headers=user.headers).json()["client_id"] == app["client_id"]
    assert client.delete(path, headers=user.headers).status_code == 204
    assert_problem(client.get("/api/v1/contacts", headers=_bearer(tokens["access_token"])), 401)

    tokens = _tokens(client, app, user)
    assert_problem(client.delete(f"/api/v1/apps/{app['id']}", headers=stranger.headers), 404)
    assert client.delete(f"/api/v1/apps/{app['id']}", headers=user.headers).status_code == 204
    assert_problem(client.get("/api/v1/contacts", headers=_bearer(tokens["access_token"])), 401)
    assert client.get("/api/v1/authorizations", headers=user.headers).json()["data"] == []


def test_registering_an_app_checks_its_redirect_uris(client: TestClient) -> None:
    user = register(client)
    for uris in (
        ["http://app.example/cb"],  # plain http off this machine
        ["https://app.example/cb#frag"],
        ["/relative"],
        [],
    ):
        r = client.post(
            "/api/v1/apps",
            headers=user.headers,
            json={"name": "X", "redirect_uris": uris, "scopes": ["contacts:read"]},
        )
        assert_problem(r, 422)
    ok = register_app(client, user, redirect_uris=("http://127.0.0.1:8765/cb",))
    listed = client.get("/api/v1/apps", headers=user.headers).json()["data"]
    assert [a["id"] for a in listed] == [ok["id"]] and "client_secret" not in listed[0]
