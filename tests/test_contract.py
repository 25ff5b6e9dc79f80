"""v1 never breaks without saying so: the contract check bites, the changelog leads the
version, and deprecations are announced on the wire."""

from __future__ import annotations

import copy
import email.utils
import json
import re
import shutil
import subprocess
import tomllib
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app import __version__
from app.kit import deprecations
from app.kit.config import Settings
from app.kit.deprecations import Notice
from app.main import create_app

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "openapi" / "diff" / "breaking.mjs"
BASELINE = ROOT / "openapi" / "baseline.json"
DOCUMENT = ROOT / "openapi" / "openapi.json"
CHANGELOG = ROOT / "CHANGELOG.md"

Document = dict[str, Any]


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    assert found, "the contract check needs Node.js"
    assert (TOOL.parent / "node_modules" / "api-smart-diff").is_dir(), (
        "the contract check is not installed: run `make contract` (npm ci in openapi/diff)"
    )
    return found


def check(node: str, baseline: Path, current: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [node, str(TOOL), str(baseline), str(current)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def schemas(document: Document) -> dict[str, Any]:
    found: dict[str, Any] = document["components"]["schemas"]
    return found


def remove_response_field(document: Document) -> None:
    contact = schemas(document)["ContactPublic"]
    del contact["properties"]["organization"]
    contact["required"].remove("organization")


def rename_enum_value(document: Document) -> None:
    mode = schemas(document)["InterviewMode"]
    mode["enum"] = ["inperson" if value == "in_person" else value for value in mode["enum"]]


def require_request_field(document: Document) -> None:
    schemas(document)["ContactCreate"]["required"].append("organization")


def remove_operation(document: Document) -> None:
    del document["paths"]["/api/v1/referrals"]["get"]


def rename_path(document: Document) -> None:
    document["paths"]["/api/v1/referees"] = document["paths"].pop("/api/v1/referrals")


def remove_parameter(document: Document) -> None:
    operation = document["paths"]["/api/v1/interviews"]["get"]
    operation["parameters"] = [p for p in operation["parameters"] if p["name"] != "mode"]


def change_status_code(document: Document) -> None:
    responses = document["paths"]["/api/v1/contacts"]["post"]["responses"]
    responses["200"] = responses.pop("201")


def narrow_type(document: Document) -> None:
    schemas(document)["ContactCreate"]["properties"]["full_name"]["format"] = "email"


def make_response_field_optional(document: Document) -> None:
    schemas(document)["ContactPublic"]["required"].remove("full_name")


BREAKS: dict[str, tuple[Callable[[Document], None], str]] = {
    "a removed response field": (remove_response_field, "POST /api/v1/contacts"),
    "a renamed enum value": (rename_enum_value, "POST /api/v1/interviews"),
    "a newly required request field": (require_request_field, "POST /api/v1/contacts"),
    "a removed operation": (remove_operation, "GET /api/v1/referrals"),
    "a renamed path": (rename_path, "/api/v1/referrals"),
    "a removed parameter": (remove_parameter, "GET /api/v1/interviews"),
    "a changed status code": (change_status_code, "POST /api/v1/contacts"),
    "a narrowed format": (narrow_type, "POST /api/v1/contacts"),
    "a response field made optional": (make_response_field_optional, "GET /api/v1/contacts"),
}


def add_everything_additive(document: Document) -> None:
    contact_create = schemas(document)["ContactCreate"]
    contact_create["properties"]["nickname"] = {"type": "string", "maxLength": 100}
    contact = schemas(document)["ContactPublic"]
    contact["properties"]["nickname"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    document["paths"]["/api/v1/contacts"]["get"]["parameters"].append(
        {"name": "nickname", "in": "query", "required": False, "schema": {"type": "string"}}
    )
    document["paths"]["/api/v1/nicknames"] = {
        "get": {
            "operationId": "nicknames-list",
            "summary": "A new operation",
            "responses": {"200": {"description": "ok"}},
        }
    }
    document["info"]["version"] = "1.1.0"


@pytest.fixture(scope="module")
def baseline() -> Document:
    loaded: Document = json.loads(BASELINE.read_text())
    return loaded


def write(tmp_path: Path, name: str, document: Document) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def test_the_document_does_not_break_the_baseline(node: str) -> None:
    result = check(node, BASELINE, DOCUMENT)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", list(BREAKS))
def test_the_check_fails_on_a_breaking_change(
    node: str, baseline: Document, tmp_path: Path, name: str
) -> None:
    mutate, operation = BREAKS[name]
    broken = copy.deepcopy(baseline)
    mutate(broken)
    result = check(
        node, write(tmp_path, "baseline.json", baseline), write(tmp_path, "b.json", broken)
    )
    assert result.returncode == 1, (name, result.stdout, result.stderr)
    assert "breaking change" in result.stderr
    assert operation in result.stderr, result.stderr


def test_adding_passes(node: str, baseline: Document, tmp_path: Path) -> None:
    grown = copy.deepcopy(baseline)
    add_everything_additive(grown)
    result = check(
        node, write(tmp_path, "baseline.json", baseline), write(tmp_path, "g.json", grown)
    )
    assert result.returncode == 0, result.stderr
    assert "no breaking change" in result.stdout


def test_a_new_baseline_with_a_break_needs_a_changelog_entry(
    node: str, baseline: Document, tmp_path: Path
) -> None:
    base = write(tmp_path, "baseline.json", baseline)
    broken = copy.deepcopy(baseline)
    remove_response_field(broken)
    current = write(tmp_path, "current.json", broken)
    changelog = tmp_path / "CHANGELOG.md"
    changelog.write_text("# Changelog\n\n## Unreleased\n\n### Added\n- something\n\n## 1.0.0\n")

    def accept() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [node, str(TOOL), "--accept", str(changelog), str(base), str(current)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    refused = accept()
    assert refused.returncode == 1
    assert "### Breaking" in refused.stderr
    assert json.loads(base.read_text()) == baseline, "a refused baseline is left as it was"

    # A Breaking heading further down (in an older release) does not count.
    changelog.write_text(
        "# Changelog\n\n## Unreleased\n\n### Added\n- x\n\n## 1.0.0\n\n### Breaking\n- old\n"
    )
    assert accept().returncode == 1

    changelog.write_text(
        "# Changelog\n\n## 2.0.0\n\n### Breaking\n- `organization` left contacts.\n"
    )
    accepted = accept()
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(base.read_text()) == broken
    assert check(node, base, current).returncode == 0


def released_versions() -> list[str]:
    return re.findall(r"^## \[?(\d+\.\d+\.\d+)\]?", CHANGELOG.read_text(), flags=re.MULTILINE)


def test_the_version_follows_the_changelog() -> None:
    versions = released_versions()
    assert versions, "CHANGELOG.md has no released version"
    assert __version__ == versions[0]
    assert json.loads(DOCUMENT.read_text())["info"]["version"] == versions[0]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == versions[0]
    assert json.loads(BASELINE.read_text())["info"]["version"] in versions


def deprecated_operations(document: Document) -> Iterator[tuple[str, str, str]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if operation.get("deprecated"):
                yield method.upper(), path, operation["operationId"]


def deprecated_fields(document: Document) -> set[str]:
    return {
        f"{name}.{field}"
        for name, schema in schemas(document).items()
        for field, spec in schema.get("properties", {}).items()
        if spec.get("deprecated")
    }


def assert_announced(headers: Any, notice: Notice) -> None:
    moment = datetime.combine(notice.deprecated_on, datetime.min.time(), UTC)
    assert headers["deprecation"] == f"@{int(moment.timestamp())}"
    assert 'rel="deprecation"' in headers["link"]
    assert notice.changelog_url in headers["link"]
    if notice.sunset_on is None:
        assert "sunset" not in headers
    else:
        sunset = email.utils.parsedate_to_datetime(headers["sunset"])
        assert sunset.date() == notice.sunset_on
        assert 'rel="sunset"' in headers["link"]


def test_every_deprecation_in_the_document_is_announced(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert deprecated_fields(document) == set(deprecations.FIELDS)
    listed = set(deprecations.OPERATIONS)
    assert {op_id for _, _, op_id in deprecated_operations(document)} == listed
    for method, path, op_id in deprecated_operations(document):
        url = re.sub(r"\{[^}]+\}", "00000000-0000-7000-8000-000000000000", path)
        response = client.request(method, url)
        assert_announced(response.headers, deprecations.OPERATIONS[op_id])


def test_nothing_else_is_announced(client: TestClient) -> None:
    for path in ("/healthz", "/api/v1/contacts", "/api/v1/me"):
        assert "deprecation" not in client.get(path).headers


@pytest.fixture
def deprecating(monkeypatch: pytest.MonkeyPatch) -> tuple[Notice, Notice]:
    """Deprecate one operation (with a sunset) and one field (without), for one test."""
    operation = Notice(date(2026, 12, 1), sunset_on=date(2027, 6, 30))
    field = Notice(date(2026, 11, 15))
    monkeypatch.setitem(deprecations.OPERATIONS, "referrals-list", operation)
    monkeypatch.setitem(deprecations.FIELDS, "ContactPublic.organization", field)
    return operation, field


def test_a_deprecated_operation_and_field_are_announced(
    settings: Settings, deprecating: tuple[Notice, Notice]
) -> None:
    operation, field = deprecating
    with TestClient(create_app(settings)) as client:
        document = client.get("/openapi.json").json()
        assert document["paths"]["/api/v1/referrals"]["get"]["deprecated"] is True
        # Every answer of the operation says so, an error included.
        assert_announced(client.get("/api/v1/referrals").headers, operation)
        client.post(
            "/api/v1/auth/register",
            json={"email": "dep@example.com", "password": "correct horse battery"},
        )
        token = client.post(
            "/api/v1/auth/token",
            data={"username": "dep@example.com", "password": "correct horse battery"},
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        listed = client.get("/api/v1/referrals", headers=auth)
        assert listed.status_code == 200
        assert_announced(listed.headers, operation)
        # Operations that return the deprecated field announce it; others do not.
        created = client.post("/api/v1/contacts", json={"full_name": "Ada"}, headers=auth)
        assert created.status_code == 201
        assert_announced(created.headers, field)
        assert_announced(client.get("/api/v1/contacts", headers=auth).headers, field)
        assert "deprecation" not in client.get("/api/v1/agenda", headers=auth).headers


def test_an_unknown_deprecated_operation_stops_the_app(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(deprecations.OPERATIONS, "contacts-vanished", Notice(date(2026, 12, 1)))
    with pytest.raises(RuntimeError, match="contacts-vanished"):
        create_app(settings)
