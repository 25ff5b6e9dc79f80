"""A Python SDK generated from the app's own OpenAPI document walks the whole workflow.

The document is the one the code builds right now (``create_app().openapi()``), not the
committed ``openapi/openapi.json``, so the test judges the routes as they are. The generator
(openapi-python-client) must not warn about it: a warning means a piece of the SDK is missing
or wrong, and the fix belongs in the document. The client then talks to a real
``infoview serve`` on a fresh SQLite database, and nothing else does: register, log in, two
contacts, a referral, an interview, its checklist, the request letter, every transition up to
``reported-back`` with the letters each one needs, the history, the interview's write-up (the
Markdown as text, the JSON as the typed model), and the account export.

The generator settings: ``post_hooks`` emptied, so that generation does not depend on a
formatter being installed, and ``content_type_overrides`` reading the contact import's raw
``text/csv`` and ``text/vcard`` bodies and an inbound email's ``message/rfc822`` as files (a
kind of body the generator cannot express on its own; without the override it warns and leaves
those out). The import's main form, a
multipart upload with a ``file`` part, needs no setting: a test uploads a sample export through
the generated method.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
import typing
import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from app.kit.config import Settings
from app.main import create_app
from tests.conftest import TEST_SECRET
from tests.live_server import live_server

PACKAGE = "infoview_sdk"
GENERATOR = Path(sys.executable).parent / "openapi-python-client"
GENERATOR_CONFIG = {
    # The raw text bodies the first version documented, read as the files they are.
    "content_type_overrides": {
        "text/csv": "application/octet-stream",
        "text/vcard": "application/octet-stream",
        "text/x-vcard": "application/octet-stream",
        "message/rfc822": "application/octet-stream",
    },
    "post_hooks": [],
}
PASSWORD = "correct horse battery"


def _generator() -> str | None:
    if GENERATOR.exists():
        return str(GENERATOR)
    return shutil.which("openapi-python-client")


pytestmark = pytest.mark.skipif(
    _generator() is None, reason="openapi-python-client is not installed (pip install '.[dev]')"
)


def current_document(tmp: Path) -> dict[str, Any]:
    """The document of the code as it is now; building it touches no database."""
    app = create_app(
        Settings(
            env="test",
            database_url=f"sqlite:///{tmp / 'unused.db'}",
            secret_key=TEST_SECRET,
            run_dispatcher=False,
        )
    )
    document: dict[str, Any] = app.openapi()
    app.state.engine.dispose()
    return document


def _compiles_cleanly(package: Path) -> None:
    """Every generated module compiles without a SyntaxWarning (tomorrow's SyntaxError)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", SyntaxWarning)
        for path in sorted(package.rglob("*.py")):
            compile(path.read_text(), str(path), "exec")


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """Generate the client package and import it."""
    tmp = tmp_path_factory.mktemp("sdk")
    document_path = tmp / "openapi.json"
    document_path.write_text(json.dumps(current_document(tmp)))
    config_path = tmp / "generator.json"
    config_path.write_text(json.dumps(GENERATOR_CONFIG))
    generator = _generator()
    assert generator is not None
    result = subprocess.run(
        [
            generator,
            "generate",
            "--path",
            str(document_path),
            "--output-path",
            str(tmp / PACKAGE),
            "--meta",
            "none",
            "--config",
            str(config_path),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "warning" not in output.lower(), f"the generator warned about our document:\n{output}"
    assert "error" not in output.lower(), output
    _compiles_cleanly(tmp / PACKAGE)
    sys.path.insert(0, str(tmp))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def test_generator_reads_every_operation(sdk: ModuleType, tmp_path: Path) -> None:
    """Every operation of the document became a method, named after its operationId."""
    document = current_document(tmp_path)
    for item in document["paths"].values():
        for operation in item.values():
            tag = operation["tags"][0].replace("-", "_")
            name = operation["operationId"].replace("-", "_")
            module = importlib.import_module(f"{PACKAGE}.api.{tag}.{name}")
            assert callable(module.sync_detailed), operation["operationId"]


@pytest.fixture
def base_url(sqlite_template: Path, tmp_path: Path) -> Iterator[str]:
    """``infoview serve`` (one worker) on a fresh copy of the migrated SQLite database."""
    path = tmp_path / "sdk.db"
    shutil.copyfile(sqlite_template, path)
    with live_server(f"sqlite:///{path}", workers=1) as url:
        yield url


def _ok(response: Any, status: int) -> Any:
    """The parsed body of a response that must have ``status``."""
    assert response.status_code == status, response.content
    return response.parsed


def _login(base_url: str) -> Any:
    from infoview_sdk import AuthenticatedClient, Client
    from infoview_sdk.api.auth import auth_register, auth_token
    from infoview_sdk.models import UserCreate

    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True, timeout=10)
    email = f"sdk-{uuid.uuid4().hex[:10]}@example.com"
    body = UserCreate(email=email, password=PASSWORD)
    _ok(auth_register.sync_detailed(client=anonymous, body=body), 201)
    login_form = typing.get_type_hints(auth_token.sync_detailed)["body"]
    form = login_form(username=email, password=PASSWORD)
    tokens = _ok(auth_token.sync_detailed(client=anonymous, body=form), 200)
    return AuthenticatedClient(
        base_url=base_url, token=tokens.access_token, raise_on_unexpected_status=True, timeout=10
    )


def test_the_generated_client_uploads_a_contact_file(sdk: ModuleType, base_url: str) -> None:
    from infoview_sdk.api.contacts import contacts_import, contacts_list
    from infoview_sdk.models import ContactImportUpload
    from infoview_sdk.types import File

    client = _login(base_url)
    sample = Path(__file__).parent / "data" / "contacts" / "linkedin_connections.csv"
    upload = ContactImportUpload(
        file=File(payload=sample.open("rb"), file_name=sample.name, mime_type="text/csv")
    )
    result = _ok(contacts_import.sync_detailed(client=client, body=upload), 200)
    assert (result.format_, result.created, result.error_count) == ("linkedin", 4, 0)
    page = _ok(contacts_list.sync_detailed(client=client), 200)
    assert sorted(c.source for c in page.data) == ["linkedin"] * 4


def test_whole_workflow_through_the_generated_client(sdk: ModuleType, base_url: str) -> None:
    from infoview_sdk import AuthenticatedClient, Client
    from infoview_sdk.api.auth import auth_register, auth_token, me_get
    from infoview_sdk.api.contacts import contacts_create, contacts_get
    from infoview_sdk.api.interviews import (
        interviews_create,
        interviews_get,
        interviews_list_events,
        interviews_list_transitions,
        interviews_transition,
        interviews_update_checklist,
    )
    from infoview_sdk.api.letters import letters_create, letters_send
    from infoview_sdk.api.referrals import referrals_create
    from infoview_sdk.models import (
        ChecklistItemUpdate,
        ChecklistUpdate,
        ContactCreate,
        InterviewCreate,
        InterviewMode,
        InterviewState,
        LetterCreate,
        LetterKind,
        LetterStatus,
        OpeningStatementUpdate,
        ReferralCreate,
        Relationship,
        TransitionRequest,
        UserCreate,
    )

    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True, timeout=10)
    email = f"sdk-{uuid.uuid4().hex[:10]}@example.com"
    user = _ok(
        auth_register.sync_detailed(
            client=anonymous, body=UserCreate(email=email, password=PASSWORD)
        ),
        201,
    )
    # The OAuth2 password form's model, whatever the document names it.
    login_form = typing.get_type_hints(auth_token.sync_detailed)["body"]
    tokens = _ok(
        auth_token.sync_detailed(
            client=anonymous, body=login_form(username=email, password=PASSWORD)
        ),
        200,
    )
    client = AuthenticatedClient(
        base_url=base_url, token=tokens.access_token, raise_on_unexpected_status=True, timeout=10
    )
    assert _ok(me_get.sync_detailed(client=client), 200).id == user.id

    interviewee = _ok(
        contacts_create.sync_detailed(
            client=client,
            body=ContactCreate(
                full_name="Dana Reyes",
                email="dana@example.com",
                organization="Northwind Analytics",
                title="Data Engineer",
                career_field="data engineering",
                tags=["data"],
            ),
        ),
        201,
    )
    referrer = _ok(
        contacts_create.sync_detailed(
            client=client,
            body=ContactCreate(full_name="Sam Ortiz", email="sam@example.com"),
        ),
        201,
    )
    referral = _ok(
        referrals_create.sync_detailed(
            client=client,
            body=ReferralCreate(
                referrer_id=referrer.id,
                referred_id=interviewee.id,
                relationship=Relationship.COLLEAGUE,
            ),
        ),
        201,
    )

    # Scheduled a few minutes ago: `held` needs a scheduled time that is not in the future.
    scheduled_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    interview = _ok(
        interviews_create.sync_detailed(
            client=client,
            body=InterviewCreate(
                contact_id=interviewee.id,
                referral_id=referral.id,
                mode=InterviewMode.VIDEO,
                scheduled_at=scheduled_at,
                duration_minutes=30,
            ),
        ),
        201,
    )
    assert interview.state == InterviewState.REQUEST
    assert interview.scheduled_at == scheduled_at

    def move(to: Any) -> Any:
        """Transition with the interview's current ETag, as a careful client would."""
        current = interviews_get.sync_detailed(interview.id, client=client)
        assert current.status_code == 200
        moved = _ok(
            interviews_transition.sync_detailed(
                interview.id,
                client=client,
                body=TransitionRequest(to=to),
                if_match=current.headers["etag"],
            ),
            200,
        )
        assert moved.state == to
        return moved

    def send_letter(kind: Any, recipient_id: Any, subject: str, body: str) -> Any:
        draft = _ok(
            letters_create.sync_detailed(
                client=client,
                body=LetterCreate(
                    kind=kind,
                    recipient_id=recipient_id,
                    interview_id=interview.id,
                    subject=subject,
                    body=body,
                ),
            ),
            201,
        )
        assert draft.status == LetterStatus.DRAFT
        sent = _ok(letters_send.sync_detailed(draft.id, client=client), 200)
        assert sent.status == LetterStatus.SENT
        assert sent.sent_at is not None
        return sent

    checklist = _ok(
        interviews_update_checklist.sync_detailed(
            interview.id,
            client=client,
            body=ChecklistUpdate(
                research=ChecklistItemUpdate(done=True, note="Read their engineering blog."),
                website=ChecklistItemUpdate(done=True),
                self_assessment=ChecklistItemUpdate(done=True),
                opening_statement=OpeningStatementUpdate(
                    done=True,
                    text="I build reporting tools and want to learn how data teams work.",
                ),
            ),
        ),
        200,
    )
    assert checklist.complete is True
    assert checklist.missing == []

    send_letter(
        LetterKind.REQUEST,
        interviewee.id,
        "A short conversation about data engineering?",
        "Sam Ortiz suggested I ask you about your work. Could we talk for 30 minutes?",
    )
    options = _ok(interviews_list_transitions.sync_detailed(interview.id, client=client), 200)
    assert any(option.to == InterviewState.PREPARED for option in options)

    move(InterviewState.PREPARED)
    move(InterviewState.HELD)
    send_letter(
        LetterKind.THANK_YOU,
        interviewee.id,
        "Thank you",
        "Thank you for your time today; your advice on data modelling was very helpful.",
    )
    move(InterviewState.THANKED)
    send_letter(
        LetterKind.REPORT_BACK,
        referrer.id,
        "I talked to Dana",
        "Thanks for putting me in touch with Dana; we had a great conversation.",
    )
    finished = move(InterviewState.REPORTED_BACK)
    assert finished.reported_back_at is not None

    events = _ok(interviews_list_events.sync_detailed(interview.id, client=client), 200)
    assert [(event.from_state, event.to_state) for event in events.data] == [
        (InterviewState.REQUEST, InterviewState.PREPARED),
        (InterviewState.PREPARED, InterviewState.HELD),
        (InterviewState.HELD, InterviewState.THANKED),
        (InterviewState.THANKED, InterviewState.REPORTED_BACK),
    ]
    # Letters and the held interview keep the contact's last_contacted_at up to date.
    assert _ok(contacts_get.sync_detailed(interviewee.id, client=client), 200).last_contacted_at

    # The interview's write-up: the Markdown as text, the JSON as the typed model.
    from infoview_sdk.api.export import interviews_export_json, interviews_export_markdown

    markdown = _ok(interviews_export_markdown.sync_detailed(interview.id, client=client), 200)
    assert isinstance(markdown, str)
    assert markdown.startswith("# Informational interview with Dana Reyes\n")
    write_up = _ok(interviews_export_json.sync_detailed(interview.id, client=client), 200)
    assert type(write_up).__name__ == "InterviewExport"
    assert (write_up.interview_id, write_up.state) == (interview.id, InterviewState.REPORTED_BACK)
    assert write_up.contact.full_name == "Dana Reyes"

    try:  # the account export, where the app has it
        export_account = importlib.import_module(f"{PACKAGE}.api.export.export_account")
    except ModuleNotFoundError:
        return
    export = _ok(export_account.sync_detailed(client=client), 200)
    assert type(export).__name__ == "AccountDocument"
    assert {contact.id for contact in export.contacts} == {interviewee.id, referrer.id}
    [exported] = export.interviews
    assert exported.state == InterviewState.REPORTED_BACK
    assert len(export.letters) == 3
