"""Isolation: one user can neither see nor touch another user's rows, on any route.

The routes come from the app itself (every operation under ``/api/v1``, every method), so a
route added later is swept without anyone remembering to add it here. Each path parameter must
be known: either an id of a row the caller owns (``PATH_IDS``) or a key inside the caller's own
namespace (``PATH_KEYS``). A parameter that is neither fails the sweep with a message saying what
to add; likewise a body field holding a UUID must be listed in ``BODY_REFS``.

Two users, A and B, each build one of every kind of row (``build_world``). Then B:

- calls every route that takes a path id, on every method, with A's ids: always a 404, the same
  answer as for an id that exists nowhere (never 2xx, 403, 409, 412 or 422, which would tell
  that the row exists), also when B sends a stale ``If-Match``;
- reads every list (and every other GET without a path id): none of A's ids shows;
- names A's rows in the body of every create and update: a 422 ``invalid_reference`` (or a
  404), and nothing is written for either user;
- uses A's keys (template kind, a contact's source and external id): reaches only B's own rows.

After all of it, every GET of A's rows answers exactly as before (body and ETag).
"""

from __future__ import annotations

import copy
import enum
import itertools
import json
import re
import types
import typing
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from app.accounts.token_schemas import Scope
from app.kit.config import Settings
from app.kit.db import utcnow
from tests.factories import User, assert_problem, register
from tests.factories_interviews import (
    complete_checklist,
    create_contact,
    create_interview,
    create_referral,
    past,
    send,
    transition,
)
from tests.factories_letters import create_letter
from tests.factories_webhooks import ALL_EVENTS, deliveries, dispatcher_for
from tests.oauth.helpers import get_code, new_verifier, register_app

API = "/api/v1"

# Path parameters that name one row of the caller's, and which of the world's lists holds
# such rows. A new route with a new kind of id needs a line here and a row in build_world.
PATH_IDS: dict[str, str] = {
    "contact_id": "contacts",
    "referral_id": "referrals",
    "interview_id": "interviews",
    "letter_id": "letters",
    "token_id": "tokens",
    "webhook_id": "webhooks",
    "app_id": "apps",
    "authorization_id": "authorizations",
    "delivery_id": "deliveries",
    "document_id": "documents",
    "interaction_id": "interactions",
}

# Path parameters that are keys inside the caller's own namespace, not ids: another user
# sending the same key reaches their own row (or the built-in default), never the owner's.
PATH_KEYS: dict[str, str] = {
    "kind": "template_kind",
    "source": "contact_source",
    "external_id": "contact_external_id",
}

# Path parameters that are themselves the credential (a secret URL a mail provider posts to):
# such a route takes no bearer token, so there is no other user to be; it is left out of the
# sweep, and its own tests (tests/mail/test_inbound.py) show that a secret opens only its
# owner's letters and that a replaced one opens nothing.
PATH_SECRETS = frozenset({"token"})

# Body fields that point at another row, and which of the world's lists holds such rows.
BODY_REFS: dict[str, str] = {
    "contact_id": "contacts",
    "referral_id": "referrals",
    "referrer_id": "contacts",
    "referred_id": "contacts",
    "recipient_id": "contacts",
    "interview_id": "interviews",
    "attachment_ids": "documents",
    "letter_id": "letters",
}

CHANGED = "Changed by another user"
TEMPLATE = "Subject: Hello {{ contact.first_name }}\n\nDear {{ contact.full_name }},\n\n"

# Request bodies for the sweep, by request model: each would succeed on the owner's row, so
# a missing owner check shows as a write rather than hiding behind a validation error.
SWEEP_BODIES: dict[str, dict[str, Any]] = {
    "ContactUpdate": {"notes": CHANGED},
    "ContactUpsert": {"full_name": CHANGED},
    "ReferralUpdate": {"notes": CHANGED},
    "LeadsCreate": {"leads": [{"contact": {"full_name": CHANGED}}]},
    "InterviewUpdate": {"notes": CHANGED},
    "ChecklistUpdate": {"research": {"done": False}},
    "TransitionRequest": {"to": "cancelled", "reason": CHANGED},
    "LetterUpdate": {"subject": CHANGED},
    "WebhookUpdate": {"description": CHANGED},
    "WebhookRotateSecret": {"previous_secret_grace_seconds": 0},
    "TemplateUpdate": {"source": TEMPLATE + CHANGED},
    "InteractionUpdate": {"notes": CHANGED},
}

_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
_METHOD_ORDER = {"GET": 0, "PATCH": 1, "PUT": 2, "POST": 3, "DELETE": 4}


# --- the routes, read from the app ------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One method of one route under /api/v1."""

    method: str
    path: str
    params: tuple[str, ...]
    body: type[BaseModel] | None
    route: APIRoute

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    def url(self, values: dict[str, str]) -> str:
        return _PARAM.sub(lambda m: values[m.group(1)], self.path)

    @property
    def query_params(self) -> list[str]:
        return [p.alias for p in self.route.dependant.query_params]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The request model inside a body annotation (``X`` or ``X | None``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def endpoints(client: TestClient) -> list[Endpoint]:
    """Every operation under /api/v1, as the app routes it, owners' reads before writes.

    Since FastAPI 0.137 ``app.routes`` holds included routers as single nodes;
    ``iter_route_contexts`` flattens them into the routes actually served.
    """
    found = []
    for context in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        route = context.original_route
        if not isinstance(route, APIRoute) or not context.path.startswith(API + "/"):
            continue
        body = _model_in(route.body_field.field_info.annotation) if route.body_field else None
        params = tuple(_PARAM.findall(context.path))
        if PATH_SECRETS & set(params):
            continue
        found.extend(
            Endpoint(method, context.path, params, body, route) for method in context.methods
        )
    return sorted(found, key=lambda e: (_METHOD_ORDER.get(e.method, 9), e.path))


def check_params_are_known(endpoint: Endpoint) -> None:
    for name in endpoint.params:
        if name not in PATH_IDS and name not in PATH_KEYS:
            pytest.fail(
                f"{endpoint} takes the path parameter {name!r}, which tests/test_isolation.py "
                "does not know. If it names one of the caller's rows, add it to PATH_IDS with "
                "the list of the world that holds such rows, and make build_world create one "
                "(for both users). If it is a key inside the caller's own namespace, add it "
                "to PATH_KEYS. Either way the route is then swept for isolation."
            )


def uuid_fields(model: type[BaseModel]) -> list[str]:
    """The top-level body fields that hold a UUID: references to other rows."""

    def holds_uuid(annotation: Any) -> bool:
        return annotation is uuid.UUID or any(holds_uuid(a) for a in typing.get_args(annotation))

    return [name for name, f in model.model_fields.items() if holds_uuid(f.annotation)]


def holds_list(model: type[BaseModel], name: str) -> bool:
    """Whether a body field is a list (of references, for ``attachment_ids``)."""

    def is_list(annotation: Any) -> bool:
        return typing.get_origin(annotation) is list or any(
            is_list(a) for a in typing.get_args(annotation)
        )

    return is_list(model.model_fields[name].annotation)


# --- two users, one of everything each -------------------------------------------------------


@dataclass
class World:
    """One user and one row of every kind they can own (the first of each list is a draft,
    or otherwise the one a write would succeed on)."""

    user: User
    marker: str
    ids: dict[str, list[str]] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    calendar_token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return self.user.headers

    def first(self, kind: str) -> str:
        return self.ids[kind][0]

    def secrets(self) -> list[str]:
        """Strings that must never appear in an answer to another user."""
        every_id = [i for ids in self.ids.values() for i in ids]
        return [*every_id, self.user.id, self.user.email, self.marker]


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def build_world(client: TestClient, label: str) -> World:
    """A user with a contact pushed by a CRM, a referrer, a referral, a prepared interview
    (checklist complete, request letter sent), a draft letter, a personal access token, a
    webhook subscription, a template of their own and a calendar feed token."""
    user = register(client)
    marker = f"marker-{label}-{uuid.uuid4().hex[:10]}"
    world = World(user=user, marker=marker)
    h = user.headers
    # The subscription first: it hears of everything made after it.
    webhook = _ok(
        client.post(
            f"{API}/webhooks",
            json={"url": f"http://127.0.0.1:9/hooks/{label}", "event_types": ALL_EVENTS},
            headers=h,
        ),
        201,
    )
    source, external_id = f"crm-{label}", f"people/{label}-1"
    interviewee = _ok(
        client.put(
            f"{API}/contacts/by-external-id/{source}/{external_id}",
            json={
                "full_name": f"Interviewee {marker}",
                "organization": marker,
                "career_field": marker,
            },
            headers=h,
        ),
        201,
    )
    referrer = create_contact(client, user, full_name=f"Referrer {marker}")
    referral = create_referral(client, user, referrer["id"], interviewee["id"], notes=marker)
    interview = create_interview(
        client,
        user,
        contact_id=interviewee["id"],
        referral_id=referral["id"],
        scheduled_at=past(2),
        notes=marker,
    )
    complete_checklist(client, user, interview["id"])
    sent = send(client, user, "request", interviewee["id"], interview["id"])
    assert transition(client, user, interview["id"], "prepared").status_code == 200
    draft = create_letter(
        client,
        user,
        kind="follow_up",
        recipient_id=interviewee["id"],
        interview_id=interview["id"],
        subject=marker,
    )
    call = _ok(
        client.post(
            f"{API}/interactions",
            json={
                "contact_id": interviewee["id"],
                "interview_id": interview["id"],
                "kind": "call",
                "direction": "outbound",
                "outcome": "reached",
                "notes": marker,
            },
            headers=h,
        ),
        201,
    )
    document = _ok(
        client.post(
            f"{API}/documents",
            files={"file": (f"{marker}.txt", marker.encode(), "text/plain")},
            data={"kind": "other", "title": marker},
            headers=h,
        ),
        201,
    )
    token = _ok(
        client.post(f"{API}/tokens", json={"name": marker, "scopes": ["contacts:read"]}, headers=h),
        201,
    )
    # Each user customises another kind, so the other one's kind is still the built-in for them.
    kind = "thank_you" if label == "a" else "report_back"
    _ok(client.put(f"{API}/templates/{kind}", json={"source": TEMPLATE + marker}, headers=h), 201)
    world.calendar_token = _ok(client.post(f"{API}/calendar/token", headers=h))["token"]
    # An app the user registered, and their consent to it.
    app = register_app(client, user, redirect_uris=(f"https://{label}.example/callback",))
    get_code(client, app, user, new_verifier())
    (grant,) = _ok(client.get(f"{API}/authorizations", headers=h))["data"]
    world.ids = {
        "contacts": [interviewee["id"], referrer["id"]],
        "referrals": [referral["id"]],
        "interviews": [interview["id"]],
        "letters": [draft["id"], sent["id"]],
        "tokens": [token["id"]],
        "webhooks": [webhook["id"]],
        "deliveries": [],  # once the outbox is fanned out
        "documents": [document["id"]],
        "interactions": [call["id"]],
        "apps": [app["id"]],
        "authorizations": [grant["id"]],
    }
    world.keys = {
        "template_kind": kind,
        "contact_source": source,
        "contact_external_id": external_id,
    }
    return world


def build_worlds(client: TestClient, settings: Settings) -> tuple[World, World]:
    a, b = build_world(client, "a"), build_world(client, "b")
    # Turn the outbox into deliveries (nothing is sent: no dispatcher runs in tests).
    dispatcher = dispatcher_for(client, settings)
    while dispatcher.fan_out():
        pass
    for world in (a, b):
        logged = deliveries(client, world.user, world.first("webhooks"))
        assert logged, "the webhook subscription logged no delivery"
        world.ids["deliveries"] = [d["id"] for d in logged]
    return a, b


# --- request bodies ---------------------------------------------------------------------------


def minimal_value(annotation: Any) -> Any:
    """A valid-looking value for a required field of a type the sweep has no body for."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return minimal_value(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return minimal_value(next(a for a in typing.get_args(annotation) if a is not type(None)))
    if origin is typing.Literal:
        return typing.get_args(annotation)[0]
    if origin in (list, tuple, set, frozenset):
        return []
    if origin is dict:
        return {}
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return next(iter(annotation)).value
        if issubclass(annotation, BaseModel):
            return minimal_body(annotation)
        if issubclass(annotation, bool):
            return True
        if issubclass(annotation, int | float):
            return 1
        if issubclass(annotation, uuid.UUID):
            return str(uuid.uuid4())
        if issubclass(annotation, datetime):
            return utcnow().isoformat()
    return "x"


def minimal_body(model: type[BaseModel]) -> dict[str, Any]:
    return {
        name: minimal_value(f.annotation)
        for name, f in model.model_fields.items()
        if f.is_required()
    }


def sweep_body(endpoint: Endpoint) -> dict[str, Any] | None:
    """The body B sends to A's rows: one that would succeed there (see SWEEP_BODIES)."""
    model = endpoint.body
    if model is None:
        return None
    body = SWEEP_BODIES.get(model.__name__) or minimal_body(model)
    try:
        model.model_validate(body)
    except ValidationError as exc:
        pytest.fail(
            f"{endpoint}: no valid body for {model.__name__} ({exc.errors()[0]['msg']}); add one "
            "to SWEEP_BODIES in tests/test_isolation.py so its lookup, not its validation, is "
            "what the sweep tests"
        )
    return body


def reference_body(endpoint: Endpoint, world: World) -> dict[str, Any]:
    """A body that names only ``world``'s own rows and is valid apart from that."""
    assert endpoint.body is not None
    contacts, interviews = world.ids["contacts"], world.ids["interviews"]
    interviewee, referrer = contacts[0], contacts[1]
    known: dict[str, dict[str, Any]] = {
        "ReferralCreate": {
            "referrer_id": referrer,
            "referred_id": interviewee,
            "relationship": "friend",
        },
        "InterviewCreate": {"contact_id": interviewee, "referral_id": world.first("referrals")},
        "InterviewUpdate": {"referral_id": world.first("referrals")},
        "LetterCreate": {
            "kind": "follow_up",
            "recipient_id": interviewee,
            "interview_id": interviews[0],
            "body": "Just checking that my note reached you.",
        },
        "LetterUpdate": {"recipient_id": interviewee, "interview_id": interviews[0]},
        "LetterDraftCreate": {
            "kind": "follow_up",
            "recipient_id": interviewee,
            "interview_id": interviews[0],
        },
        "InteractionCreate": {
            "contact_id": interviewee,
            "interview_id": interviews[0],
            "letter_id": world.ids["letters"][1],
            "kind": "reply",
            "direction": "inbound",
        },
        "InteractionUpdate": {"interview_id": interviews[0], "letter_id": None},
    }
    body = known.get(endpoint.body.__name__)
    if body is None:
        body = minimal_body(endpoint.body)
        for name in uuid_fields(endpoint.body):
            body[name] = world.first(BODY_REFS[name])
    try:
        endpoint.body.model_validate(body)
    except ValidationError as exc:
        pytest.fail(
            f"{endpoint}: no valid body for {endpoint.body.__name__} "
            f"({exc.errors()[0]['msg']}); add one to reference_body in tests/test_isolation.py"
        )
    return body


# --- what an owner sees -----------------------------------------------------------------------


def unfold(text: str) -> str:
    """Undo iCalendar line folding, so an id split over two lines is still found."""
    return text.replace("\r\n ", "").replace("\r\n\t", "")


def owner_values(endpoint: Endpoint, world: World) -> Iterator[dict[str, str]]:
    """Every way to fill the endpoint's path with the world's own ids and keys."""
    choices = [
        world.ids[PATH_IDS[p]] if p in PATH_IDS else [world.keys[PATH_KEYS[p]]]
        for p in endpoint.params
    ]
    for combo in itertools.product(*choices):
        yield dict(zip(endpoint.params, combo, strict=True))


def owner_view(client: TestClient, world: World) -> dict[str, Any]:
    """Everything the owner reads through a path: status, ETag and body of every GET."""
    view: dict[str, Any] = {}
    for endpoint in endpoints(client):
        if endpoint.method != "GET" or not endpoint.params:
            continue
        check_params_are_known(endpoint)
        for values in owner_values(endpoint, world):
            url = endpoint.url(values)
            r = client.get(url, headers=world.headers)
            assert r.status_code == 200, f"GET {url}: {r.status_code} {r.text}"
            view[url] = (r.headers.get("etag"), _without_the_clock(r))
    return view


def _without_the_clock(r: Any) -> str:
    """The body, less an export's ``exported_at``: the one field that is the time of the call."""
    if not r.headers.get("content-type", "").startswith("application/json"):
        return str(r.text)
    body = r.json()
    if isinstance(body, dict) and "exported_at" in body:
        body["exported_at"] = None
    return json.dumps(body, sort_keys=True)


def pages(client: TestClient, world: World) -> dict[str, Any]:
    """The first page of every plain list (``{data, has_more, next_cursor}``) of the world."""
    view = {}
    for endpoint in endpoints(client):
        if endpoint.method == "GET" and not endpoint.params and _is_page(endpoint):
            r = client.get(endpoint.path, params={"limit": 100}, headers=world.headers)
            view[endpoint.path] = _ok(r)["data"]
    return view


def _is_page(endpoint: Endpoint) -> bool:
    model = endpoint.route.response_model
    fields = getattr(model, "model_fields", {})
    return {"data", "has_more", "next_cursor"} <= set(fields)


def _is_list(endpoint: Endpoint) -> bool:
    return "data" in getattr(endpoint.route.response_model, "model_fields", {})


# --- the tests ---------------------------------------------------------------------------------


class TestRoutesAreDiscovered:
    def test_the_sweep_sees_the_routes_it_should(self, client: TestClient) -> None:
        # Guards the discovery itself: an empty route list would make every sweep pass.
        found = {str(e) for e in endpoints(client)}
        for expected in (
            "GET /api/v1/contacts/{contact_id}",
            "DELETE /api/v1/referrals/{referral_id}",
            "POST /api/v1/interviews/{interview_id}/transitions",
            "POST /api/v1/letters/{letter_id}/send",
            "POST /api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
            "GET /api/v1/letters",
        ):
            assert expected in found
        for endpoint in endpoints(client):
            check_params_are_known(endpoint)


class TestPathIds:
    def test_another_users_ids_are_404_on_every_route_and_method(
        self, client: TestClient, settings: Settings
    ) -> None:
        a, b = build_worlds(client, settings)
        before = owner_view(client, a)
        b_pages = pages(client, b)
        swept: set[str] = set()
        for endpoint in endpoints(client):
            check_params_are_known(endpoint)
            id_params = [p for p in endpoint.params if p in PATH_IDS]
            if not id_params:
                continue
            body = sweep_body(endpoint)
            # Each id parameter is A's or B's, at least one of them A's; keys are A's.
            for owners in itertools.product("ab", repeat=len(id_params)):
                if "a" not in owners:
                    continue
                choices: list[list[str]] = []
                for param in endpoint.params:
                    if param in PATH_KEYS:
                        choices.append([a.keys[PATH_KEYS[param]]])
                        continue
                    world = a if owners[id_params.index(param)] == "a" else b
                    ids = world.ids[PATH_IDS[param]]
                    choices.append(ids if world is a else ids[:1])
                for combo in itertools.product(*choices):
                    values = dict(zip(endpoint.params, combo, strict=True))
                    self._assert_not_found(client, endpoint, values, body, a, b)
            swept.add(str(endpoint))
        assert len(swept) >= 25, sorted(swept)
        # Nothing B did changed anything of A's, or of B's own.
        assert owner_view(client, a) == before
        assert pages(client, b) == b_pages

    def test_with_a_personal_access_token_the_answer_is_the_one_for_no_row(
        self, client: TestClient, settings: Settings
    ) -> None:
        # A token resolves its user on another path than a session does. Every scope: the
        # token routes still refuse any token (403), but the same way for every id.
        a, b = build_worlds(client, settings)
        scopes = [scope.value for scope in Scope]
        r = client.post(f"{API}/tokens", json={"name": "all", "scopes": scopes}, headers=b.headers)
        pat = {"Authorization": f"Bearer {_ok(r, 201)['token']}"}
        before = owner_view(client, a)
        for endpoint in endpoints(client):
            if not any(p in PATH_IDS for p in endpoint.params):
                continue
            body = sweep_body(endpoint)
            for values in owner_values(endpoint, a):
                url = endpoint.url(values)
                r = client.request(endpoint.method, url, json=body, headers=pat)
                ghost = {p: str(uuid.uuid4()) if p in PATH_IDS else v for p, v in values.items()}
                g = client.request(endpoint.method, endpoint.url(ghost), json=body, headers=pat)
                assert r.status_code in (403, 404), f"{endpoint.method} {url}: {r.text}"
                answer = (r.status_code, assert_problem(r, r.status_code)["code"])
                assert answer == (g.status_code, g.json()["code"]), (endpoint, r.text, g.text)
        assert owner_view(client, a) == before

    @staticmethod
    def _assert_not_found(
        client: TestClient,
        endpoint: Endpoint,
        values: dict[str, str],
        body: dict[str, Any] | None,
        a: World,
        b: World,
    ) -> None:
        url = endpoint.url(values)
        answers = []
        for extra in ({}, {"If-Match": '"999"'}, {"If-Match": '"1"'}):
            r = client.request(endpoint.method, url, json=body, headers={**b.headers, **extra})
            assert r.status_code == 404, (
                f"B got {r.status_code} for {endpoint.method} {url} (A's id) with "
                f"{extra or 'no If-Match'}: {r.text}"
            )
            problem = assert_problem(r, 404)
            text = unfold(r.text)
            leaked = [s for s in a.secrets() if s in text and s not in values.values()]
            assert not leaked, f"{endpoint.method} {url} shows {leaked}"
            answers.append(problem["code"])
        # The answer is the one for an id that exists nowhere: it tells nothing.
        ghost = {
            p: str(uuid.uuid4()) if p in PATH_IDS and v in a.secrets() else v
            for p, v in values.items()
        }
        r = client.request(endpoint.method, endpoint.url(ghost), json=body, headers=b.headers)
        assert r.status_code == 404, r.text
        assert answers == [r.json()["code"]] * len(answers), (endpoint, answers, r.text)


class TestLists:
    def test_no_list_shows_another_users_rows(self, client: TestClient, settings: Settings) -> None:
        a, b = build_worlds(client, settings)
        # Query parameters some reads need to answer at all (the calendar feed's own token).
        query_for_b = {"token": b.calendar_token}
        # Reads that look for words: B asks with A's words and learns nothing (a field brief
        # of a field B has no interview in is a 404), then with B's own.
        by_words = {
            f"{API}/search": "q",
            f"{API}/paths": "organization",
            f"{API}/briefs": "career_field",
            f"{API}/briefs/markdown": "career_field",
        }
        a_secrets = a.secrets()
        lists = 0
        for endpoint in endpoints(client):
            if endpoint.method != "GET" or endpoint.params:
                continue
            params = {k: v for k, v in query_for_b.items() if k in endpoint.query_params}
            if endpoint.path in by_words:
                words = by_words[endpoint.path]
                r = client.get(endpoint.path, params={words: a.marker}, headers=b.headers)
                assert r.status_code in (200, 404), f"GET {endpoint.path}: {r.text}"
                leaked = [s for s in a_secrets if s in unfold(r.text)]
                assert not leaked, f"GET {endpoint.path}?{words}=<A's> shows A's {leaked}"
                params[words] = b.marker
            r = client.get(endpoint.path, params=params, headers=b.headers)
            # A documented read answers (so the check below is not trivially true); an
            # undocumented one (a 405 for the wrong method, say) only must not fail.
            ok = {200} if endpoint.route.include_in_schema else set(range(200, 500))
            assert r.status_code in ok, f"GET {endpoint.path}: {r.status_code} {r.text}"
            text = unfold(r.text)
            leaked = [s for s in a_secrets if s in text]
            assert not leaked, f"GET {endpoint.path} shows A's {leaked}"
            if not _is_list(endpoint):
                continue
            lists += 1
            if _is_page(endpoint):
                # B's own rows are there: the list is not empty for a trivial reason.
                assert any(s in text for s in b.secrets()), (endpoint.path, r.text)
            # Filtering by A's ids finds nothing.
            for name in endpoint.query_params:
                if name not in BODY_REFS:
                    continue
                for a_id in a.ids[BODY_REFS[name]]:
                    r = client.get(endpoint.path, params={name: a_id}, headers=b.headers)
                    assert r.status_code == 200, r.text
                    assert r.json()["data"] == [], (endpoint.path, name, r.text)
        assert lists >= 6

    def test_a_cursor_made_from_another_users_id_pages_only_your_rows(
        self, client: TestClient, settings: Settings
    ) -> None:
        a, b = build_worlds(client, settings)
        r = client.get(f"{API}/contacts", params={"limit": 1}, headers=a.headers)
        cursor = _ok(r)["next_cursor"]
        assert cursor
        r = client.get(f"{API}/contacts", params={"cursor": cursor}, headers=b.headers)
        ids = {c["id"] for c in _ok(r)["data"]}
        assert ids <= set(b.ids["contacts"])


class TestBodyReferences:
    def test_another_users_ids_in_a_body_are_refused_and_nothing_is_written(
        self, client: TestClient, settings: Settings
    ) -> None:
        a, b = build_worlds(client, settings)
        a_view = owner_view(client, a)
        lists = (pages(client, a), pages(client, b))
        checked: set[tuple[str, str]] = set()
        for endpoint in endpoints(client):
            if endpoint.method not in ("POST", "PUT", "PATCH") or endpoint.body is None:
                continue
            refs = uuid_fields(endpoint.body)
            for name in refs:
                if name not in BODY_REFS:
                    pytest.fail(
                        f"{endpoint}: body field {name!r} holds a UUID that tests/"
                        "test_isolation.py does not know. Add it to BODY_REFS with the list of "
                        "the world that holds such rows, so naming another user's row there "
                        "is shown to be refused."
                    )
            check_params_are_known(endpoint)
            for name in refs:
                for a_id in a.ids[BODY_REFS[name]]:
                    value = [a_id] if holds_list(endpoint.body, name) else a_id
                    body = {**reference_body(endpoint, b), name: value}
                    # The path names B's own rows: only the body reaches for A's.
                    values = next(owner_values(endpoint, b))
                    url = endpoint.url(values)
                    r = client.request(endpoint.method, url, json=body, headers=b.headers)
                    where = f"{endpoint.method} {url} with A's {name}"
                    assert r.status_code in (404, 422), f"{where}: {r.status_code} {r.text}"
                    if r.status_code == 422:
                        problem = assert_problem(r, 422, "invalid_reference")
                        assert problem["errors"][0]["loc"][:2] == ["body", name], (where, problem)
                    # Nothing written: every list of both users is as it was.
                    assert (pages(client, a), pages(client, b)) == lists, where
                    checked.add((str(endpoint), name))
        assert len(checked) >= 10, sorted(checked)
        assert owner_view(client, a) == a_view

    def test_an_import_naming_another_users_rows_is_refused(
        self, client: TestClient, settings: Settings
    ) -> None:
        # An import carries its own ids, remapped on the way in; a reference must name a
        # record of the same document, never a row that happens to exist already.
        a, b = build_worlds(client, settings)
        c = register(client)  # an empty account, as an import needs
        document = _ok(client.get(f"{API}/export", headers=b.headers))
        a_view = owner_view(client, a)
        for section, name in (
            ("referrals", "referrer_id"),
            ("referrals", "referred_id"),
            ("interviews", "contact_id"),
            ("interviews", "referral_id"),
            ("letters", "recipient_id"),
            ("letters", "interview_id"),
            ("interactions", "contact_id"),
            ("interactions", "interview_id"),
        ):
            for a_id in a.ids[BODY_REFS[name]]:
                bad = copy.deepcopy(document)
                bad[section][0][name] = a_id
                r = client.post(f"{API}/import", json=bad, headers=c.headers)
                problem = assert_problem(r, 422)
                locs = [e["loc"] for e in problem["errors"]]
                assert ["body", section, 0, name] in locs, (section, name, problem)
                assert not any(pages(client, c).values()), "the refused import wrote rows"
        assert owner_view(client, a) == a_view
        # The document itself was fine: only the foreign references made it a 422.
        _ok(client.post(f"{API}/import", json=document, headers=c.headers))


class TestPerUserKeys:
    def test_another_users_keys_reach_only_your_own_rows(
        self, client: TestClient, settings: Settings
    ) -> None:
        a, b = build_worlds(client, settings)
        before = owner_view(client, a)
        swept = 0
        for endpoint in endpoints(client):
            check_params_are_known(endpoint)
            if not endpoint.params or any(p in PATH_IDS for p in endpoint.params):
                continue
            url = endpoint.url({p: a.keys[PATH_KEYS[p]] for p in endpoint.params})
            r = client.request(endpoint.method, url, json=sweep_body(endpoint), headers=b.headers)
            where = f"B's {endpoint.method} {url}"
            assert r.status_code < 500 and r.status_code not in (403, 409, 412), (where, r.text)
            leaked = [s for s in a.secrets() if s in unfold(r.text)]
            assert not leaked, f"{where} shows A's {leaked}"
            if endpoint.method == "PUT":
                # Created in B's namespace: A's row was not the one written.
                assert r.status_code == 201, (where, r.text)
            if endpoint.method == "GET" and r.status_code == 200 and "custom" in r.json():
                assert r.json()["custom"] is False, (where, r.text)
            swept += 1
        assert swept >= 4
        assert owner_view(client, a) == before
        # B's upsert made B's own contact, with A's source and external id.
        r = client.get(
            f"{API}/contacts",
            params={"source": a.keys["contact_source"]},
            headers=b.headers,
        )
        (contact,) = _ok(r)["data"]
        assert contact["id"] not in a.ids["contacts"]
        assert contact["full_name"] == CHANGED


class TestIdempotencyKeys:
    def test_keys_are_per_user(self, client: TestClient) -> None:
        a, b = register(client), register(client)
        same = {"full_name": "Same body"}
        ra = client.post(
            f"{API}/contacts", json=same, headers={**a.headers, "Idempotency-Key": "k-same"}
        )
        rb = client.post(
            f"{API}/contacts", json=same, headers={**b.headers, "Idempotency-Key": "k-same"}
        )
        assert ra.status_code == rb.status_code == 201, rb.text
        assert "idempotent-replayed" not in rb.headers
        assert rb.json()["id"] != ra.json()["id"]
        client.post(
            f"{API}/contacts",
            json={"full_name": "A's body"},
            headers={**a.headers, "Idempotency-Key": "k-other"},
        )
        rb = client.post(
            f"{API}/contacts",
            json={"full_name": "B's body"},
            headers={**b.headers, "Idempotency-Key": "k-other"},
        )
        assert rb.status_code == 201, rb.text
        assert rb.json()["full_name"] == "B's body"
