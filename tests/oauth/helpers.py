"""Driving the OAuth flow through HTTP, as an app and its user would."""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from authlib.oauth2.rfc7636 import create_s256_code_challenge

from tests.factories import PASSWORD, User

REDIRECT = "https://app.example/callback"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def register_app(
    client: Any,
    user: User,
    *,
    type: str = "public",
    scopes: tuple[str, ...] = ("contacts:read", "interviews:read"),
    redirect_uris: tuple[str, ...] = (REDIRECT,),
) -> dict[str, Any]:
    r = client.post(
        "/api/v1/apps",
        headers=user.headers,
        json={
            "name": "Career Hub",
            "redirect_uris": list(redirect_uris),
            "scopes": list(scopes),
            "type": type,
        },
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def authorize_query(app: dict[str, Any], verifier: str | None, **over: str | None) -> str:
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": app["client_id"],
        "redirect_uri": app["redirect_uris"][0],
        "scope": " ".join(app["scopes"]),
        "state": "st-" + secrets.token_hex(4),
    }
    if verifier is not None:
        params["code_challenge"] = create_s256_code_challenge(verifier)
        params["code_challenge_method"] = "S256"
    params.update(over)
    return urlencode({k: v for k, v in params.items() if v is not None})


def consent(
    client: Any, query: str, user: User, *, decision: str = "allow", password: str = PASSWORD
) -> Any:
    """Open the consent page and answer it; the response to the form's POST."""
    page = client.get("/oauth/authorize?" + query)
    assert page.status_code == 200, page.text
    csrf = CSRF_FIELD.search(page.text)
    assert csrf is not None
    return client.post(
        "/oauth/authorize?" + query,
        data={
            "csrf_token": csrf.group(1),
            "username": user.email,
            "password": password,
            "decision": decision,
        },
        follow_redirects=False,
    )


def redirect_params(response: Any) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(("https://", "http://127.0.0.1")), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def get_code(client: Any, app: dict[str, Any], user: User, verifier: str | None) -> str:
    query = authorize_query(app, verifier)
    params = redirect_params(consent(client, query, user))
    assert params["state"] == parse_qs(query)["state"][0]
    return params["code"]


def exchange(
    client: Any,
    app: dict[str, Any],
    code: str,
    verifier: str | None,
    *,
    secret: str | None = None,
    redirect_uri: str | None = None,
) -> Any:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri or app["redirect_uris"][0],
    }
    if verifier is not None:
        data["code_verifier"] = verifier
    auth = None
    if secret is not None:
        auth = (app["client_id"], secret)
    else:
        data["client_id"] = app["client_id"]
    return client.post("/oauth/token", data=data, auth=auth)


def new_verifier() -> str:
    return secrets.token_urlsafe(48)
