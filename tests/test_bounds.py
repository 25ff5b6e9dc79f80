"""Bounds, checked on the app's own OpenAPI document: no request can ask for unbounded work.

Every string a client sends (body property, query, header or path parameter) has a
``maxLength``; every array a ``maxItems``; every open map a ``maxProperties``; every list
endpoint's ``limit`` a ``maximum`` of at most 100. Strings whose format or enum bounds them
(UUIDs, timestamps, vocabularies) need no ``maxLength``.

The test walks whatever operations exist, so routes added later are held to the same rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.kit.config import Settings
from app.main import create_app
from tests.conftest import TEST_SECRET

MAX_PAGE = 100
# Formats pydantic validates strictly: a long value is refused by the parser, not stored.
BOUNDED_FORMATS = {"uuid", "date-time", "date", "time"}
METHODS = {"get", "put", "post", "patch", "delete"}

Schema = dict[str, Any]


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    # The document needs no database; the engine is built but never connects.
    url = f"sqlite:///{tmp_path_factory.mktemp('bounds') / 'unused.db'}"
    app = create_app(Settings(env="test", database_url=url, secret_key=TEST_SECRET))
    document: dict[str, Any] = app.openapi()
    app.state.engine.dispose()
    return document


def _resolve(spec: dict[str, Any], schema: Schema) -> tuple[Schema, str | None]:
    ref = schema.get("$ref")
    if not ref:
        return schema, None
    name = ref.rsplit("/", 1)[-1]
    resolved: Schema = spec["components"]["schemas"][name]
    return resolved, name


def _literal_pattern(pattern: str | None) -> bool:
    """``^password$``: an anchored pattern without repetition matches bounded strings only."""
    if not pattern or not (pattern.startswith("^") and pattern.endswith("$")):
        return False
    return not any(op in pattern for op in ("*", "+", "{", "\\"))


def violations_in(
    spec: dict[str, Any], schema: Schema, where: str, seen: set[str]
) -> Iterator[str]:
    """Every unbounded string, array or map reachable from ``schema``."""
    schema, name = _resolve(spec, schema)
    if name is not None:
        if name in seen:
            return
        seen.add(name)
        where = name
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            yield from violations_in(spec, option, where, seen)
    kind = schema.get("type")
    if kind == "string":
        bounded = (
            "maxLength" in schema
            or "enum" in schema
            or "const" in schema
            or schema.get("format") in BOUNDED_FORMATS
            or _literal_pattern(schema.get("pattern"))
        )
        if not bounded:
            yield f"{where}: string without maxLength"
    elif kind == "array":
        if "maxItems" not in schema:
            yield f"{where}: array without maxItems"
        if "items" in schema:
            yield from violations_in(spec, schema["items"], f"{where}[]", seen)
    if kind == "object" or "properties" in schema:
        for prop, sub in schema.get("properties", {}).items():
            yield from violations_in(spec, sub, f"{where}.{prop}", seen)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            if "maxProperties" not in schema:
                yield f"{where}: map without maxProperties"
            yield from violations_in(spec, extra, f"{where}{{}}", seen)


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", op


def _is_page(spec: dict[str, Any], op: dict[str, Any]) -> bool:
    content = op.get("responses", {}).get("200", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if not schema:
        return False
    resolved, _ = _resolve(spec, schema)
    return {"data", "has_more", "next_cursor"} <= set(resolved.get("properties", {}))


def test_every_string_array_and_map_in_a_request_body_is_bounded(spec: dict[str, Any]) -> None:
    found = []
    for name, op in operations(spec):
        for media_type, body in op.get("requestBody", {}).get("content", {}).items():
            for problem in violations_in(spec, body.get("schema", {}), "body", set()):
                found.append(f"{name} ({media_type}) {problem}")
    assert not found, "unbounded request bodies:\n" + "\n".join(sorted(set(found)))


def test_every_parameter_is_bounded(spec: dict[str, Any]) -> None:
    found = []
    for name, op in operations(spec):
        for param in op.get("parameters", []):
            label = f"{param['in']} {param['name']}"
            for problem in violations_in(spec, param.get("schema", {}), label, set()):
                found.append(f"{name} {problem}")
    assert not found, "unbounded parameters:\n" + "\n".join(sorted(set(found)))


def test_every_list_endpoint_and_every_limit_caps_at_100(spec: dict[str, Any]) -> None:
    found = []
    for name, op in operations(spec):
        params = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "query"}
        if not _is_page(spec, op) and "limit" not in params:
            continue
        if "limit" not in params:
            found.append(f"{name}: a page without a `limit` parameter")
            continue
        schema = params["limit"]["schema"]
        maximum = schema.get("maximum")
        if maximum is None or maximum > MAX_PAGE or schema.get("minimum", 0) < 1:
            found.append(f"{name}: limit must be 1..{MAX_PAGE}, is {schema}")
    assert not found, "unbounded lists:\n" + "\n".join(found)


def test_the_walk_finds_what_it_should(spec: dict[str, Any]) -> None:
    """Guard the guard: an unbounded schema is reported, a bounded one is not."""
    loose = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 5}},
            "when": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "meta": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    assert sorted(violations_in(spec, loose, "body", set())) == [
        "body.meta: map without maxProperties",
        "body.meta{}: string without maxLength",
        "body.name: string without maxLength",
        "body.note: string without maxLength",
        "body.tags: array without maxItems",
    ]
    assert list(operations(spec)), "the document has no operations"
