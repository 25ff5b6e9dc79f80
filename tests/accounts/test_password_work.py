"""Passwords are hashed and checked a few at a time: argon2id holds 64 MiB and a core for each.

Registration and login run their password work through the app's ``PasswordWork``: at most
``at_once`` in worker threads, the next waiting on the event loop, and past ``waiting`` of them
a 503 ``password_checks_busy`` with ``Retry-After``, nothing done. Here the line is made full by
holding its only place from the server's own event loop, so the refusal needs no race.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import PASSWORD, assert_problem, password_line_full, register

REGISTER = "/api/v1/auth/register"
TOKEN = "/api/v1/auth/token"


def test_refused_then_served(client: TestClient) -> None:
    user = register(client)
    login = {"username": user.email, "password": PASSWORD}
    body = {"email": "later@example.com", "password": PASSWORD}
    with password_line_full(client) as work:
        refused = client.post(TOKEN, data=login)
        assert_problem(refused, 503, "password_checks_busy")
        assert refused.headers["Retry-After"] == "1"
        assert_problem(client.post(REGISTER, json=body), 503, "password_checks_busy")
    # Nothing was done by the refused calls: the address is still free, the login works.
    assert client.post(REGISTER, json=body).status_code == 201
    logged_in = client.post(TOKEN, data=login)
    assert logged_in.status_code == 200, logged_in.text
    assert work.limiter.borrowed_tokens == 0
