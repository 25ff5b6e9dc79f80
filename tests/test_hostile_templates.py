"""Hostile letter templates and letters: refused before they cost the server, and off its loop.

Templates are written by users and run on the server. Each test here sends what an attacker
would and asserts the answer (a 4xx problem, never a 500) and the cost: formatting widths,
repetitions and conversions that would allocate gigabytes are refused before anything is
allocated (elapsed well under a second, the process's peak memory unmoved); rendering and the
job-ask check run in a worker thread, so ``/healthz`` answers promptly while they work; the
job-ask check is linear in the letter's length; an account import into a non-empty account is
refused before its templates are checked; and a token that may write letters but not read
contacts, referrals or interviews cannot read them through a template and a draft.

Every test that takes ``client`` runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from app.letters import job_ask, render
from tests.cpu_time import least_cpu_times
from tests.factories import User, assert_problem, register
from tests.factories_contacts import create_contact, create_referral
from tests.factories_interviews import create_interview

#: The CPU time a refusal may take, at most, on a slow test machine (they take milliseconds).
QUICK = 1.0
#: How much memory a refusal may allocate at its peak (the attacks asked for hundreds of MB).
MEGABYTES = 50
#: The longest /healthz may take while a slow render or check runs in another request. A
#: render held on the event loop would hold /healthz for its whole one-second deadline.
PROMPT = 0.6

# A template whose render runs into the one-second deadline, however the sample data looks.
BIG = '{% set big = "x" * 999999 %}'
LOOP = '{% for i in range(10000) %}{{ big.count("y") }}{% endfor %}'
SLOW = BIG + LOOP

# Each would allocate from hundreds of megabytes to gigabytes if formatted or repeated first.
ALLOCATING = [
    '{{ ("%*s" % (1000000000, "x"))|length }}',
    '{{ ("%(k)300000000s" % {"k": "x"})|length }}',
    '{{ ("%.*f" % (1000000000, 1.0))|length }}',
    '{{ ("%0*d" % (1000000000, 1))|length }}',
    '{{ ("%-*s" % (-1000000000, "x"))|length }}',
    '{{ "%*s"|format(1000000000, "x")|length }}',
    '{{ "%(k)300000000s"|format(k="x")|length }}',
    '{{ (("%(a)s" * 100000) % {"a": "y" * 1000})|length }}',
    '{{ (("%(a)s" * 200000) % {"a": contact})|length }}',
    '{{ ("x" * 10**9)|length }}',
    '{{ ("%s" * 100000000)|length }}',
    "{{ ([1] * 10**9)|length }}",
    "{{ ([[1, 2, 3]] * 10**6)|length }}",
    "{{ range(10**9)|list|length }}",
    '{{ (([contact] * 50000) ~ "")|length }}',
    '{% set d = {"a": "x" * 900000} %}{{ ([d.items()] * 100)|join|length }}',
]
# str.format and str.format_map are not available at all: refused before they are called.
FORMAT_METHODS = [
    '{{ "{:>1000000000}".format("x")|length }}',
    '{{ "{k:>1000000000}".format_map({"k": "x"})|length }}',
    '{{ ("{0:>99999}" * 10000).format("x")|length }}',
]


@contextlib.contextmanager
def cheap(seconds: float = QUICK, megabytes: int = MEGABYTES) -> Iterator[None]:
    """Assert that the block costs at most ``seconds`` of CPU and allocates no big block of memory.

    The app runs in this process: Python's allocations in every thread are traced while the
    block runs, and their peak is the measure (the process's peak resident size is no use once
    an earlier test has raised it).
    """
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    started = time.process_time()  # the app's threads too; not other processes' turns
    try:
        yield
        elapsed = time.process_time() - started
        grown = (tracemalloc.get_traced_memory()[1] - base) / 2**20
    finally:
        if not tracing:
            tracemalloc.stop()
    assert elapsed < seconds, f"took {elapsed:.2f} s"
    assert grown < megabytes, f"peak memory grew by {grown:.0f} MB"


def put_template(client: TestClient, user: User, kind: str, source: str) -> Any:
    return client.put(f"/api/v1/templates/{kind}", json={"source": source}, headers=user.headers)


def draft(client: TestClient, headers: dict[str, str], recipient_id: str, **body: Any) -> Any:
    payload = {"kind": "keep_in_touch", "recipient_id": recipient_id, **body}
    return client.post("/api/v1/letters/draft", json=payload, headers=headers)


def while_running(client: TestClient, work: Callable[[], Any]) -> tuple[Any, float, int]:
    """Run ``work`` (a request) in a thread and poll /healthz until it is done.

    Returns what ``work`` returned, the slowest /healthz answer and how many were answered.
    """
    done: dict[str, Any] = {}

    def run() -> None:
        done["result"] = work()

    thread = threading.Thread(target=run)
    thread.start()
    slowest, polls = 0.0, 0
    while thread.is_alive():
        started = time.monotonic()
        r = client.get("/healthz")
        slowest = max(slowest, time.monotonic() - started)
        assert r.status_code == 200, r.text
        polls += 1
    thread.join()
    return done["result"], slowest, polls


class TestAllocatingTemplates:
    @pytest.mark.parametrize("source", ALLOCATING)
    def test_refused_before_allocating_when_saved(self, client: TestClient, source: str) -> None:
        user = register(client)
        with cheap():
            r = put_template(client, user, "keep_in_touch", source)
        body = assert_problem(r, 422)
        assert body["code"] in ("template_too_expensive", "invalid_template"), body
        assert put_template(client, user, "keep_in_touch", "Hi").status_code == 201

    @pytest.mark.parametrize("source", FORMAT_METHODS)
    def test_str_format_is_not_available(self, client: TestClient, source: str) -> None:
        user = register(client)
        with cheap():
            r = put_template(client, user, "keep_in_touch", source)
        assert "format" in assert_problem(r, 422, "unsafe_template")["detail"]

    def test_a_namespace_cannot_be_multiplied_into_text(self, client: TestClient) -> None:
        # The attributes of a namespace are out of the size checks' sight: printing it (or a
        # list holding it a thousand times) is refused instead of made.
        user = register(client)
        source = (
            '{% set ns = namespace(a="x" * 900000) %}{{ ([ns] * 1000)|join|length }}'
            "{{ (([ns] * 1000) ~ '')|length }}"
        )
        with cheap():
            r = put_template(client, user, "keep_in_touch", source)
        assert "namespace" in assert_problem(r, 422, "invalid_template")["detail"]

    def test_an_armed_template_is_refused_when_it_fires(self, client: TestClient) -> None:
        # Saved while its guard is false for the sample letters; it fires for one contact.
        user = register(client)
        source = (
            '{% if contact.first_name == "Bob" %}{{ ("%*s" % (1000000000, "x"))|length }}'
            "{% endif %}Hi {{ contact.first_name }}\n"
        )
        assert put_template(client, user, "keep_in_touch", source).status_code == 201
        bob = create_contact(client, user, full_name="Bob Smith")
        with cheap():
            r = draft(client, user.headers, bob["id"])
        body = assert_problem(r, 422, "template_too_expensive")
        assert body["detail"].startswith("Drafting from your template failed (line 1)")
        alice = create_contact(client, user, full_name="Alice Jones")
        assert draft(client, user.headers, alice["id"]).json()["body"] == "Hi Alice\n"

    def test_ordinary_formatting_still_works(self, client: TestClient) -> None:
        user = register(client)
        source = (
            '{{ "%-8s|%5.2f|%03d" % (contact.first_name, 2.5, 7) }}\n'
            '{{ "%(name)s has %(n)d" % {"name": contact.first_name, "n": 2} }}\n'
            '{{ "%*s|%.*f" % (4, "ab", 1, 3.14159) }}\n'
            '{{ "%s and %s"|format("this", "that") }}\n'
        )
        assert put_template(client, user, "keep_in_touch", source).status_code == 201
        ann = create_contact(client, user, full_name="Ann Lee")
        letter = draft(client, user.headers, ann["id"]).json()
        assert letter["body"] == "Ann     | 2.50|007\nAnn has 2\n  ab|3.1\nthis and that\n"


# Pieces of % formats, valid and not, for the property below.
_PIECES = [
    *("%", "%%", "(", ")", "(a)", "(b)", "(a(b)c)", "-", "+", " ", "#", "0", "*", ".", ".*"),
    *("5", "12", "h", "l", "L", "s", "r", "a", "d", "i", "o", "x", "X", "e", "f", "g", "c"),
    *("z", "abc", "\u00e9", "\U0001f600"),
]
_VALUES = st.sampled_from(
    [0, 1, -3, 65, 2**70, 1.5, 1e300, float("inf"), True, "", "x", "h\u00e9llo", [1, "a"], None]
)
_ARGUMENTS = st.one_of(
    st.tuples(*[_VALUES] * 3),
    st.lists(_VALUES, max_size=4).map(tuple),
    st.dictionaries(st.sampled_from(["a", "b", "a(b)c"]), _VALUES),
    _VALUES,
)


@settings(max_examples=400, deadline=None)
@given(fmt=st.lists(st.sampled_from(_PIECES), max_size=8).map("".join), values=_ARGUMENTS)
def test_formatting_that_python_does_renders_the_same(fmt: str, values: Any) -> None:
    """The checks in front of ``%`` refuse nothing Python formats, and change nothing in it."""
    try:
        expected: str | None = fmt % values
    except Exception:
        expected = None
    try:
        got: str | None = render.render_text("{{ fmt % values }}", {"fmt": fmt, "values": values})
    except render.TemplateProblem as problem:
        assert expected is None, f"{fmt!r} % {values!r} refused: {problem.message}"
        got = None
    assert got == expected


class TestOffTheEventLoop:
    def test_healthz_answers_while_a_template_is_checked(self, client: TestClient) -> None:
        user = register(client)
        r, slowest, polls = while_running(
            client, lambda: put_template(client, user, "keep_in_touch", SLOW)
        )
        assert_problem(r, 422, "template_too_expensive")
        assert polls >= 3 and slowest < PROMPT, (polls, slowest)

    def test_healthz_answers_while_a_draft_renders(self, client: TestClient) -> None:
        user = register(client)
        armed = BIG + '{% if contact.first_name == "Bob" %}' + LOOP + "{% endif %}Hi\n"
        assert put_template(client, user, "keep_in_touch", armed).status_code == 201
        bob = create_contact(client, user, full_name="Bob Smith")
        r, slowest, polls = while_running(client, lambda: draft(client, user.headers, bob["id"]))
        assert_problem(r, 422, "template_too_expensive")
        assert polls >= 3 and slowest < PROMPT, (polls, slowest)


# Letters of 50,000 characters whose every sentence matches a phrase of the job-ask check,
# each match negated, so every match is looked at: quadratic before, linear now.
NEGATED = [
    "not hire me " * 4100,
    "never hiring me and " * 2500,
    "not any job for me " * 2631,
    "we are not asking whether you are hiring or recruiting " * 900,
]


class TestJobAsk:
    @pytest.mark.parametrize("text", NEGATED)
    def test_the_check_is_linear(self, text: str) -> None:
        assert job_ask.find_job_ask(text) is None

        # Four times the text costs about four times as much (sixteen if it were quadratic):
        # a ratio of CPU times, measured side by side, whatever the machine's speed or load.
        four = "\n".join([text] * 4)
        once, four_times = least_cpu_times(
            lambda: job_ask.find_job_ask(text), lambda: job_ask.find_job_ask(four)
        )
        assert four_times < 8 * once + 0.01, (once, four_times)
        assert job_ask.find_job_ask(text + "\nPlease hire me.") is not None

    def test_long_letters_are_checked_off_the_event_loop(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user)
        body = {"kind": "keep_in_touch", "recipient_id": contact["id"], "body": NEGATED[0]}

        def write_letters() -> list[Any]:
            made = [client.post("/api/v1/letters", json=body, headers=user.headers)]
            letter = made[0].json()
            for _ in range(3):  # an edit and a send check the whole letter again
                edit = {"body": NEGATED[0] + "."}
                r = client.patch(f"/api/v1/letters/{letter['id']}", json=edit, headers=user.headers)
                made.append(r)
            made.append(client.post(f"/api/v1/letters/{letter['id']}/send", headers=user.headers))
            return made

        answers, slowest, polls = while_running(client, write_letters)
        assert [r.status_code for r in answers] == [201, 200, 200, 200, 200], answers[-1].text
        # Five checks held on the loop would leave room for a handful of polls between them.
        assert polls >= 20 and slowest < PROMPT, (polls, slowest)
        body["body"] = NEGATED[0] + "\nCould you hire me?"
        with cheap():
            r = client.post("/api/v1/letters", json=body, headers=user.headers)
        assert assert_problem(r, 422, "job_ask")["phrase"] == "hire me"


class TestImportOrder:
    def test_a_non_empty_account_is_refused_before_templates_are_checked(
        self, client: TestClient
    ) -> None:
        user = register(client)
        create_contact(client, user, full_name="Already here")
        now = "2026-11-01T10:00:00Z"
        document = {
            "format": "infoview-export",
            "version": 1,
            "exported_at": now,
            "user": {"email": "someone@example.com", "full_name": None},
            "templates": [  # a hundred seconds of checking, were they checked first
                {
                    "id": str(uuid.uuid4()),
                    "kind": "keep_in_touch",
                    "source": SLOW,
                    "created_at": now,
                    "updated_at": now,
                }
                for _ in range(100)
            ],
        }
        with cheap():
            r = client.post("/api/v1/import", json=document, headers=user.headers)
        assert_problem(r, 409, "account_not_empty")


def token(client: TestClient, user: User, scopes: list[str]) -> dict[str, str]:
    """The headers of a new personal access token of ``user`` with ``scopes``."""
    r = client.post(
        "/api/v1/tokens", json={"name": "integration", "scopes": scopes}, headers=user.headers
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


class TestDraftScopes:
    """A draft reads contacts, referrals and the interview: a token needs their read scopes."""

    LEAK = (
        "{{ contact.email }} {{ referrer.relationship if referrer else '' }}"
        "{% if interview %}{{ interview.advice }} {{ interview.location }}"
        "{% for q in interview.discussed %}{{ q.question }} {{ q.answer }}{% endfor %}{% endif %}"
    )

    def test_a_letters_token_cannot_read_records_through_a_template(
        self, client: TestClient
    ) -> None:
        user = register(client)
        writer = token(client, user, ["letters:write"])
        assert put_template(client, user, "keep_in_touch", self.LEAK).status_code == 201
        secret = create_contact(client, user, full_name="Dana Secret", email="dana@hidden.example")
        referrer = create_contact(client, user, full_name="Rey Ferrer")
        create_referral(client, user, referrer["id"], secret["id"])
        interview = create_interview(
            client, user, contact_id=secret["id"], location="Room 42", advice="Keep it quiet."
        )
        body = assert_problem(draft(client, writer, secret["id"]), 403, "insufficient_scope")
        assert body["required_scope"] == "contacts:read"
        partial = token(client, user, ["letters:write", "contacts:read"])
        body = assert_problem(draft(client, partial, secret["id"]), 403, "insufficient_scope")
        assert body["required_scope"] == "referrals:read"
        reader = token(client, user, ["letters:write", "contacts:read", "referrals:read"])
        r = draft(client, reader, secret["id"], interview_id=interview["id"])
        assert assert_problem(r, 403, "insufficient_scope")["required_scope"] == "interviews:read"
        listed = client.get("/api/v1/letters", headers=user.headers).json()["data"]
        assert listed == []  # nothing was drafted along the way

    def test_a_token_with_the_read_scopes_drafts(self, client: TestClient) -> None:
        user = register(client)
        contact = create_contact(client, user, full_name="Dana Open", email="dana@open.example")
        scopes = ["letters:write", "contacts:read", "referrals:read"]
        assert put_template(client, user, "keep_in_touch", self.LEAK).status_code == 201
        r = draft(client, token(client, user, scopes), contact["id"])
        assert r.status_code == 201, r.text
        assert "dana@open.example" in r.json()["body"]
        # A session token (a JWT) is the user themself: no scopes to hold.
        assert draft(client, user.headers, contact["id"]).status_code == 201
