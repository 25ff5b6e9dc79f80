"""The committed OpenAPI document is the app's own, and it follows the API conventions."""

from __future__ import annotations

import json
from pathlib import Path

from app.cli import render_openapi

DOCUMENT = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


def test_committed_document_matches_the_app() -> None:
    assert DOCUMENT.read_text() == render_openapi(), (
        "openapi/openapi.json is stale: run `infoview openapi` and commit it"
    )


def test_every_operation_has_an_id_a_summary_and_its_problems() -> None:
    spec = json.loads(render_openapi())
    seen = set()
    for path, item in spec["paths"].items():
        assert path.startswith("/api/v1/") or path in {"/healthz", "/readyz", "/metrics"}, path
        for method, op in item.items():
            op_id = op["operationId"]
            assert op_id not in seen
            seen.add(op_id)
            assert op.get("summary"), f"{method.upper()} {path} has no summary"
            # An operation that takes no bearer token (security: [], e.g. the inbound address,
            # whose secret is in its path) has no 401 to declare.
            takes_a_token = op.get("security") != []
            if (
                path.startswith("/api/v1/")
                and not path.startswith("/api/v1/auth/")
                and takes_a_token
            ):
                assert "401" in op["responses"], f"{op_id} does not declare 401"
            if "{" in path:
                assert "404" in op["responses"], f"{op_id} does not declare 404"
            if op.get("requestBody") or op.get("parameters"):
                assert "422" in op["responses"], f"{op_id} does not declare 422"


def test_the_document_names_its_server_tags_and_what_each_operation_needs() -> None:
    """What linters ask of a document: a server, every tag described, security said out loud."""
    spec = json.loads(render_openapi())
    assert spec["servers"] and spec["info"]["contact"]
    described = {tag["name"]: tag.get("description") for tag in spec["tags"]}
    assert all(described.values()), described
    for path, item in spec["paths"].items():
        for method, op in item.items():
            assert set(op["tags"]) <= set(described), (method, path, op["tags"])
            assert "security" in op, f"{method.upper()} {path} leaves its security unsaid"
