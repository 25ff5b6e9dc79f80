"""OAuth 2.0 against a live server: a real OAuth client library, and a real browser on the
consent page (Debian's chromium through chromium-driver; ``make test`` installs both)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client

from tests.factories import PASSWORD
from tests.live_server import free_port, live_server
from tests.oauth.helpers import CSRF_FIELD

pytestmark = pytest.mark.timeout(180)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def base_url(database_url: str) -> Iterator[str]:
    with live_server(database_url, workers=1) as url:
        yield url


class _Callback(BaseHTTPRequestHandler):
    """The app's redirect URI: remembers what it was sent back with."""

    received: list[str] = []

    def do_GET(self) -> None:
        type(self).received.append(self.path)
        body = b"<!doctype html><title>Signed in</title><p id=done>Back in the app.</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def callback() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Callback)
    _Callback.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/callback"
    server.shutdown()


def _developer(base_url: str, redirect_uri: str, app_type: str) -> tuple[dict[str, Any], str]:
    """Register a user (who also registers the app); their email and the app."""
    email = f"dev-{free_port()}@example.com"
    with httpx.Client(base_url=base_url) as http:
        assert http.post(
            "/api/v1/auth/register", json={"email": email, "password": PASSWORD}
        ).is_success
        token = http.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        app = http.post(
            "/api/v1/apps",
            headers=headers,
            json={
                "name": "Career Hub",
                "redirect_uris": [redirect_uri],
                "scopes": ["contacts:read", "contacts:write"],
                "type": app_type,
            },
        )
        assert app.status_code == 201, app.text
    return app.json(), email


def _client(base_url: str, app: dict[str, Any], redirect_uri: str) -> OAuth2Client:
    return OAuth2Client(
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        token_endpoint_auth_method="client_secret_basic" if app["client_secret"] else "none",
        scope="contacts:read contacts:write",
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )


@pytest.mark.parametrize("app_type", ["public", "confidential"])
def test_an_oauth_client_library_completes_the_flow(
    base_url: str, callback: str, app_type: str
) -> None:
    app, email = _developer(base_url, callback, app_type)
    verifier = "v" * 20 + "-" + "x" * 40
    with _client(base_url, app, callback) as oauth:
        url, state = oauth.create_authorization_url(
            base_url + "/oauth/authorize", code_verifier=verifier
        )
        # The user, in their browser: the page, then Allow.
        with httpx.Client() as browser:
            page = browser.get(url)
            csrf = CSRF_FIELD.search(page.text)
            assert page.status_code == 200 and csrf is not None
            answer = browser.post(
                url,
                data={
                    "csrf_token": csrf.group(1),
                    "username": email,
                    "password": PASSWORD,
                    "decision": "allow",
                },
            )
        assert answer.status_code == 302
        back = answer.headers["location"]
        token = oauth.fetch_token(
            base_url + "/oauth/token",
            authorization_response=back,
            state=state,
            code_verifier=verifier,
        )
        assert token["scope"] == "contacts:read contacts:write"
        made = oauth.post(base_url + "/api/v1/contacts", json={"full_name": "Dana Okafor"})
        assert made.status_code == 201, made.text
        first = token["refresh_token"]
        renewed = oauth.refresh_token(base_url + "/oauth/token", refresh_token=first)
        assert renewed["refresh_token"] != first
        listed = oauth.get(base_url + "/api/v1/contacts").json()["data"]
        assert [c["full_name"] for c in listed] == ["Dana Okafor"]
        assert oauth.revoke_token(
            base_url + "/oauth/revoke", renewed["refresh_token"], "refresh_token"
        ).is_success
        assert oauth.get(base_url + "/api/v1/contacts").status_code == 401


def _browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(), (
        "Debian's chromium and chromium-driver are needed: `make test` installs them "
        "(apt-get install chromium chromium-driver)"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def test_the_consent_page_in_a_real_browser(base_url: str, callback: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    app, email = _developer(base_url, callback, "public")
    verifier = "b" * 64
    driver = _browser()
    try:
        with _client(base_url, app, callback) as oauth:
            # Wrong password first: the page says so, and keeps the email typed.
            url, state = oauth.create_authorization_url(
                base_url + "/oauth/authorize", code_verifier=verifier
            )
            driver.get(url)
            assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
            heading = driver.find_element(By.TAG_NAME, "h1").text
            assert heading == "Allow Career Hub to use your Infoview account?"
            scopes = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#scopes li")]
            assert scopes == ["see your contacts", "add, change and delete your contacts"]
            # Every field has its label.
            for field in ("username", "password"):
                label = driver.find_element(By.CSS_SELECTOR, f"label[for={field}]")
                assert label.is_displayed()
            driver.find_element(By.ID, "username").send_keys(email)
            driver.find_element(By.ID, "password").send_keys("not the password")
            driver.find_element(By.ID, "allow").click()
            message = WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "message"))
            assert message.text == "Incorrect email or password."
            assert driver.find_element(By.ID, "username").get_attribute("value") == email

            driver.find_element(By.ID, "password").send_keys(PASSWORD)
            driver.find_element(By.ID, "allow").click()
            WebDriverWait(driver, 20).until(lambda d: d.current_url.startswith(callback))
            assert driver.find_element(By.ID, "done").text == "Back in the app."
            back = driver.current_url
            assert parse_qs(urlsplit(back).query)["state"] == [state]
            token = oauth.fetch_token(
                base_url + "/oauth/token",
                authorization_response=back,
                state=state,
                code_verifier=verifier,
            )
            assert oauth.get(base_url + "/api/v1/contacts").status_code == 200

            # Deny: back to the app with access_denied and no code.
            url, state = oauth.create_authorization_url(
                base_url + "/oauth/authorize", code_verifier=verifier
            )
            driver.get(url)
            driver.find_element(By.ID, "deny").click()
            WebDriverWait(driver, 20).until(lambda d: d.current_url.startswith(callback))
            denied = parse_qs(urlsplit(driver.current_url).query)
            assert denied["error"] == ["access_denied"] and "code" not in denied
            assert token["access_token"].startswith("ivo_")
    finally:
        driver.quit()
