"""Schemathesis from outside: its command line against a live server, with its default checks.

An integrator who points Schemathesis at the published document runs every check it has,
``positive_data_acceptance`` included: a request the document calls valid must not be refused
as invalid (400 or 422). That holds only if every constraint the server enforces is in the
document — cursor shape, Idempotency-Key shape, fields that may be left out but never null,
fields that come in pairs, the years a timestamp may name, the fields a form may carry.

This module runs ``st run`` (the CLI, in a subprocess, over HTTP) against ``infoview serve`` on
a fresh SQLite database, as a signed-in user's personal access token, and asserts that it
exits 0. ``make test`` runs a short, deterministic pass; ``make fuzz`` (``-m fuzz``) a long one.

What the run is told, each with its reason:

- A fresh ``Idempotency-Key`` for every request whose key is well formed (a hook,
  ``tests/schemathesis_hooks.py``). A key is unique per request by contract, which no schema
  can say; a generator that sends one value twice gets the 422 ``idempotency_key_reused`` that
  the document declares.
- 412 is an accepted answer to well-formed data: a generated ``If-Match`` is a well-formed
  ETag of a version the resource is not at (RFC 9110's 412).
- ``DELETE /api/v1/me`` is left out: it ends the account the run signs in with.
- A few operations may refuse valid-looking data with a 422 for a reason that lies outside
  the request, listed in ``WORLD_RULES`` with that reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.live_server import live_server

SCHEMATHESIS = Path(sys.executable).parent / "st"
PASSWORD = "correct horse battery"
QUICK_EXAMPLES = 5
LONG_EXAMPLES = int(os.environ.get("INFOVIEW_FUZZ_EXAMPLES") or 100)

# Operations whose 422 depends on something no request schema can state. Each is still held
# to every other check, and to positive data acceptance for every status but 422.
WORLD_RULES: dict[str, str] = {
    # The URL must reach a public address: the server resolves the host, and what a name
    # resolves to is not a property of the document.
    "webhooks-create": "the webhook URL's host must resolve to a public address",
    "webhooks-update": "the webhook URL's host must resolve to a public address",
    "mail-account-put": "the mail server's host must resolve to a public address",
    # A partial update leaves the stored pair whole: sending `source` alone is valid on a
    # resource that already has an external_id, and refused on one that has none.
    "contacts-update": "external_id and source stay paired with what is stored",
    "interviews-update": "external_id and source stay paired with what is stored",
    "letters-update": "external_id and source stay paired with what is stored",
    # Times measured against the clock: not in the future, or not in the past.
    "interactions-create": "occurred_at is not in the future",
    # Questions put to the referral network and the figures.
    "insights-paths": "exactly one of organization and career_field",
    "insights-stats": "from is not after to",
    "interviews-create-leads": "contact_id names a record of this user; each person once",
    "interactions-update": "occurred_at is not in the future",
    "tokens-create": "expires_at is in the future",
    # Only a feeler letter may ask about openings; which template text reads as a job ask
    # depends on its kind, a path parameter, and on the words (the job-ask check).
    "templates-put": "a template's text must not ask for a job, unless it is a feeler's",
    "letters-create": "a letter's text must not ask for a job, unless it is a feeler",
    "letters-draft": "a drafted letter's text must not ask for a job",
    # The ids a request names must be records of this user: a well-formed id of nothing is a
    # 422 naming the field (the request is fine; the world it points at is not).
    "interviews-create": "contact_id and referral_id name records of this user",
    "referrals-create": "referrer_id and referred_id name records of this user",
    "import-account": "the records refer to each other by id, and to nothing outside",
    "letters-send": "delivery=smtp needs the user's mailbox set up first",
    # A body that repeats the path's external identity must repeat it exactly.
    "contacts-upsert-by-external-id": "a body external_id and source, if any, are the path's",
    # Files are bytes: a contact file must decode to text without NUL in the charset it
    # names, and a document's type is read from its bytes.
    "contacts-import": "the file's bytes decode, in its charset, to text without NUL",
    "documents-create": "the file is a PDF, DOCX, ODT or UTF-8 text",
    # A raw message is bytes: no schema says "no NUL byte" of a binary body.
    "inbound-email": "a raw message must hold no NUL byte (RFC 5322)",
}


def _config(examples: int) -> str:
    """The run's configuration file (TOML), with the exceptions above."""
    lines = [
        # The account import's document nests every record kind, each string NUL-free by a
        # pattern: Hypothesis throws many drafts away before one fits. That measures the
        # generator, not the API; every draft that fits is still sent and checked.
        'suppress-health-check = ["filter_too_much"]',
        "",
        "[generation]",
        f"max-examples = {examples}",
        "",
        "[checks.positive_data_acceptance]",
        'expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "412", "429", "5xx"]',
    ]
    for operation_id in WORLD_RULES:
        lines += [
            "",
            "[[operations]]",
            f'include-operation-id = "{operation_id}"',
            "[operations.checks.positive_data_acceptance]",
            'expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "412", "422", '
            '"429", "5xx"]',
        ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def server(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A live server on a fresh database, and a personal access token with every scope."""
    path = tmp_path / "live.db"
    shutil.copyfile(sqlite_template, path)
    with live_server(f"sqlite:///{path}", workers=1) as url:
        email = f"st-{uuid.uuid4().hex[:10]}@example.com"
        r = httpx.post(f"{url}/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        assert r.status_code == 201, r.text
        r = httpx.post(f"{url}/api/v1/auth/token", data={"username": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        access = r.json()["access_token"]
        document = httpx.get(f"{url}/openapi.json").json()
        scopes = document["components"]["securitySchemes"]["OAuth2App"]["flows"][
            "authorizationCode"
        ]["scopes"]
        r = httpx.post(
            f"{url}/api/v1/tokens",
            json={"name": "schemathesis", "scopes": sorted(scopes)},
            headers={"Authorization": f"Bearer {access}"},
        )
        assert r.status_code == 201, r.text
        yield url, r.json()["token"]


def run_schemathesis(base_url: str, token: str, tmp: Path, *, examples: int, quick: bool) -> None:
    config = tmp / "schemathesis.toml"
    config.write_text(_config(examples))
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "run",
        f"{base_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--exclude-operation-id",
        "me-delete",
        "--workers",
        "1",
        "--no-color",
        "--warnings",
        "off",
    ]
    if quick:
        command += ["--generation-deterministic", "--seed", "1"]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=1800,
        env={
            **os.environ,
            "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks",
            "PYTHONPATH": str(Path(__file__).parent.parent),
        },
        cwd=tmp,  # where the command line leaves its reports
    )
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]


def test_default_checks_pass_from_outside(server: tuple[str, str], tmp_path: Path) -> None:
    run_schemathesis(*server, tmp_path, examples=QUICK_EXAMPLES, quick=True)


@pytest.mark.fuzz
def test_default_checks_pass_from_outside_long(server: tuple[str, str], tmp_path: Path) -> None:
    run_schemathesis(*server, tmp_path, examples=LONG_EXAMPLES, quick=False)
