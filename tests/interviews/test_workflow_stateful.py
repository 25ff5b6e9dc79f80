"""Random sequences of API calls against the interview workflow (hypothesis.stateful).

The machine creates contacts, referrals and interviews (with or without a referral, in every
mode, scheduled in the past, the future or not at all), edits checklists, writes and sends
letters of every kind to right and wrong recipients, reschedules, sets decisions, and asks
for moves to any state with any ``held_at`` and ``reason``. It models nothing about what each
call should do, except the moves themselves, judged by an oracle written here from the
workflow table of ``docs/workflow.md`` (not from ``app/interviews/workflow.py``) over the API's
own data, fetched right before:

- a move answers 200 only when the oracle allows it, and otherwise 409 with exactly the
  oracle's unmet requirements (a ``held_at`` with any other target is a 422);
- after every step, every interview's state only ever moved forward (``cancelled`` only from
  ``request`` or ``prepared``), and only through a move the oracle allowed;
- an interview's events chain from ``request`` through allowed steps to its current state.

``INFOVIEW_STATEFUL_EXAMPLES`` sets the number of runs (15 by default; more for a long run).
Each run is a new user on the test's database, so runs never see each other's rows.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from app.kit.config import Settings
from app.kit.db import utcnow
from app.main import create_app
from tests.factories import User, register

API = "/api/v1"
EXAMPLES = int(os.environ.get("INFOVIEW_STATEFUL_EXAMPLES", "15"))
STEPS = 25
MAX_INTERVIEWS = 5
MAX_REFERRERS = 6

# --- the oracle: the workflow of docs/workflow.md, independently ------------------------------

ORDER = ["request", "prepared", "held", "thanked", "reported-back", "cancelled"]
NEXT = {
    "request": {"prepared", "cancelled"},
    "prepared": {"held", "cancelled"},
    "held": {"thanked"},
    "thanked": {"reported-back"},
    "reported-back": set(),
    "cancelled": set(),
}
FORWARD = {"request": "prepared", "prepared": "held", "held": "thanked", "thanked": "reported-back"}
ITEMS = ["research", "website", "self_assessment", "opening_statement", "attire"]
MODES = ["in_person", "phone", "video", "email"]
KINDS = ["request", "follow_up", "thank_you", "report_back", "update", "feeler", "keep_in_touch"]


def at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass
class Before:
    """What the API said about an interview right before a move was asked for."""

    interview: dict[str, Any]
    checklist: dict[str, Any]
    letters: list[dict[str, Any]]  # the letters of this interview
    referrals: list[dict[str, Any]]  # the referrals of the interviewee
    now: datetime

    def sent(self, kind: str, recipient: str, since: datetime | None = None) -> bool:
        return any(
            letter["kind"] == kind
            and letter["status"] == "sent"
            and letter["recipient_id"] == recipient
            and (since is None or at(letter["sent_at"]) >= since)  # type: ignore[operator]
            for letter in self.letters
        )


def checklist_missing(checklist: dict[str, Any], mode: str) -> list[str]:
    """The items still required: the opening statement needs a text; attire only in person."""
    missing = []
    for item in ITEMS:
        if item == "attire" and mode != "in_person":
            continue
        done = checklist[item]["done"]
        if item == "opening_statement":
            done = done and bool((checklist[item]["text"] or "").strip())
        if not done:
            missing.append(item)
    return missing


def unmet(
    before: Before, to: str, held_at: datetime | None, reason: str | None
) -> list[tuple[str, str | None]]:
    """Every requirement between the interview as it was and ``to``: (code, referrer)."""
    interview = before.interview
    state, contact = interview["state"], interview["contact_id"]
    if to not in NEXT[state]:
        return [("invalid_transition", None)]
    scheduled = at(interview["scheduled_at"])
    found: list[tuple[str, str | None]] = []
    if to == "prepared":
        if not before.sent("request", contact):
            found.append(("request_letter_not_sent", None))
        if scheduled is None:
            found.append(("not_scheduled", None))
        if checklist_missing(before.checklist, interview["mode"]):
            found.append(("checklist_incomplete", None))
    elif to == "held":
        if scheduled is None:
            found.append(("not_scheduled", None))
        elif scheduled > before.now:
            found.append(("scheduled_in_future", None))
        if held_at is not None and held_at > before.now:
            found.append(("held_at_in_future", None))
    elif to == "thanked":
        if not before.sent("thank_you", contact, since=at(interview["held_at"])):
            found.append(("thank_you_not_sent", None))
    elif to == "reported-back":
        referrers = sorted({r["referrer_id"] for r in before.referrals})
        found.extend(
            ("referrer_not_reported", referrer)
            for referrer in referrers
            if not before.sent("report_back", referrer, since=at(interview["held_at"]))
        )
    elif to == "cancelled" and not (reason or "").strip():
        found.append(("reason_required", None))
    return found


# --- the machine ------------------------------------------------------------------------------


def when(choice: str | None) -> str | None:
    """A time well clear of now, so that the oracle and the server agree on past and future."""
    if choice is None:
        return None
    hours = {"past": -3, "recent": -1, "future": 5}[choice]
    return (utcnow() + timedelta(hours=hours)).isoformat()


TIMES = st.sampled_from([None, "past", "recent", "future"])
REASONS = st.sampled_from([None, "", "   ", "They declined, kindly.", "No answer after two weeks."])
OPENING = st.sampled_from(
    [None, "", "  ", "I am studying accounting and want to learn how audit work feels."]
)
# What a sloppy user gets wrong when preparing the next move from each state.
LAPSES = {
    "request": ["unschedule", "no_request_letter", *ITEMS, "blank_opening_text"],
    "prepared": ["schedule_ahead"],
    "held": ["no_thank_you"],
    "thanked": ["forget_a_referrer"],
}
BODIES = st.sampled_from(
    [
        "Thank you for your time and for the advice on where to start.",
        "Could you tell me what a typical week in your team looks like?",
        "Are there any openings for me on your team? I attach my resume.",
    ]
)


def _any_in(*states: str) -> Any:
    """Run the rule only while some interview was last seen in one of ``states``."""
    return precondition(lambda self: any(row["state"] in states for row in self.seen.values()))


class WorkflowMachine(RuleBasedStateMachine):
    """One user driving interviews through the API at random."""

    client: ClassVar[TestClient]

    interviews = Bundle("interviews")

    def __init__(self) -> None:
        super().__init__()
        self.user: User = register(self.client)
        self.seen: dict[str, dict[str, Any]] = {}  # interview id -> as last seen
        self.contact_of: dict[str, str] = {}  # interview id -> its interviewee
        self.people: list[str] = []  # every contact made, in order
        self.referrers: dict[str, list[str]] = {}  # interviewee -> referrers, in order
        self.moves: dict[str, list[str]] = {}  # interview id -> the moves allowed this step

    # --- plumbing ---

    def call(self, method: str, path: str, expect: set[int], **kwargs: Any) -> Any:
        r = self.client.request(method, f"{API}{path}", headers=self.user.headers, **kwargs)
        assert r.status_code in expect, f"{method} {path} {kwargs}: {r.status_code} {r.text}"
        return r

    def every(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        cursor = None
        while True:
            query = {**params, "limit": 100, **({"cursor": cursor} if cursor else {})}
            page = self.call("GET", path, {200}, params=query).json()
            yield from page["data"]
            cursor = page["next_cursor"]
            if not page["has_more"]:
                return

    def new_contact(self, name: str) -> str:
        body = {"full_name": f"{name} {uuid.uuid4().hex[:6]}"}
        contact = str(self.call("POST", "/contacts", {201}, json=body).json()["id"])
        self.people.append(contact)
        return contact

    def referrers_of(self, contact: str) -> list[str]:
        # Kept here in the order made, so that a replayed run picks the same people.
        return self.referrers.get(contact, [])

    def add_referral(self, contact: str) -> tuple[str, str]:
        referrer = self.new_contact("Referrer")
        body = {"referrer_id": referrer, "referred_id": contact, "relationship": "colleague"}
        referral = self.call("POST", "/referrals", {201}, json=body).json()
        self.referrers.setdefault(contact, []).append(referrer)
        return referrer, referral["id"]

    def write(self, interview: str, kind: str, recipient: str, body: str, send: bool) -> None:
        letter = {
            "kind": kind,
            "recipient_id": recipient,
            "interview_id": interview,
            "subject": kind.replace("_", " ").capitalize(),
            "body": body,
        }
        r = self.call("POST", "/letters", {201, 409, 422}, json=letter)
        if r.status_code == 201 and send:
            self.call("POST", f"/letters/{r.json()['id']}/send", {200, 409, 422})

    # --- rules ---

    def new_interview(
        self, contact: str, with_referral: bool, mode: str, scheduled: str | None
    ) -> str:
        body: dict[str, Any] = {"contact_id": contact, "mode": mode}
        if scheduled is not None:
            body["scheduled_at"] = when(scheduled)
        if with_referral:
            found = list(self.every("/referrals", referred_id=contact))
            body["referral_id"] = found[0]["id"] if found else self.add_referral(contact)[1]
        interview = self.call("POST", "/interviews", {201}, json=body).json()
        assert interview["state"] == "request"
        self.contact_of[interview["id"]] = contact
        self.seen[interview["id"]] = interview
        return str(interview["id"])

    @initialize(
        target=interviews,
        with_referral=st.booleans(),
        mode=st.sampled_from(MODES),
        scheduled=TIMES,
    )
    def first_interview(self, with_referral: bool, mode: str, scheduled: str | None) -> str:
        return self.new_interview(self.new_contact("Interviewee"), with_referral, mode, scheduled)

    @precondition(lambda self: len(self.contact_of) < MAX_INTERVIEWS)
    @rule(
        target=interviews,
        same_person_as=st.one_of(st.none(), interviews),
        with_referral=st.booleans(),
        mode=st.sampled_from(MODES),
        scheduled=TIMES,
    )
    def create_interview(
        self, same_person_as: str | None, with_referral: bool, mode: str, scheduled: str | None
    ) -> Any:
        """A new interview, with a new person or again with someone already interviewed."""
        contact = (
            self.contact_of[same_person_as] if same_person_as else self.new_contact("Interviewee")
        )
        return self.new_interview(contact, with_referral, mode, scheduled)

    @precondition(lambda self: sum(map(len, self.referrers.values())) < MAX_REFERRERS)
    @rule(interview=interviews)
    def add_referrer(self, interview: str) -> None:
        """Someone else turns out to have referred the interviewee too."""
        self.add_referral(self.contact_of[interview])

    @rule(
        interview=interviews,
        ticks=st.dictionaries(st.sampled_from(ITEMS), st.booleans(), max_size=len(ITEMS)),
        opening=OPENING,
    )
    def edit_checklist(self, interview: str, ticks: dict[str, bool], opening: str | None) -> None:
        body: dict[str, Any] = {item: {"done": done} for item, done in ticks.items()}
        if opening is not None:
            body.setdefault("opening_statement", {})["text"] = opening
        self.call("PATCH", f"/interviews/{interview}/checklist", {200}, json=body)

    @rule(interview=interviews, scheduled=TIMES)
    def reschedule(self, interview: str, scheduled: str | None) -> None:
        body = {"scheduled_at": when(scheduled)}
        self.call("PATCH", f"/interviews/{interview}", {200}, json=body)

    @rule(interview=interviews, decision=st.sampled_from(["undecided", "pursue", "not_pursue"]))
    def decide(self, interview: str, decision: str) -> None:
        self.call("PATCH", f"/interviews/{interview}", {200}, json={"decision": decision})

    @rule(
        interview=interviews,
        kind=st.sampled_from(KINDS),
        to=st.sampled_from(["interviewee", "referrer", "someone else", "nobody"]),
        body=BODIES,
        send=st.booleans(),
        someone=st.integers(min_value=0),
    )
    def write_letter(
        self, interview: str, kind: str, to: str, body: str, send: bool, someone: int
    ) -> None:
        contact = self.contact_of[interview]
        others = [c for c in self.people if c != contact]
        other = others[someone % len(others)] if others else str(uuid.uuid4())
        recipient = {"interviewee": contact, "someone else": other}.get(to, str(uuid.uuid4()))
        if to == "referrer":
            recipient = next(iter(self.referrers_of(contact)), other)
        self.write(interview, kind, recipient, body, send)

    @rule(interview=interviews, lapse=st.one_of(st.none(), st.integers(min_value=0)))
    def do_what_the_next_step_needs(self, interview: str, lapse: int | None = None) -> None:
        """Make the next move possible as a diligent user would; or, given a ``lapse``, as a
        sloppy one who gets one of the things the move needs wrong."""
        contact = self.contact_of[interview]
        state = self.call("GET", f"/interviews/{interview}", {200}).json()["state"]
        lapses = LAPSES.get(state, [None])
        wrong = None if lapse is None else lapses[lapse % len(lapses)]
        polite = "Thank you for your time and for the advice on where to start."
        if state == "request":
            self.reschedule(interview, None if wrong == "unschedule" else "recent")
            ticks = {item: item != wrong for item in ITEMS}
            opening = "   " if wrong == "blank_opening_text" else "I study accounting."
            self.edit_checklist(interview, ticks, opening)
            if wrong != "no_request_letter":
                self.write(interview, "request", contact, polite, send=True)
        elif state == "prepared":
            self.reschedule(interview, "future" if wrong == "schedule_ahead" else "recent")
        elif state == "held" and wrong != "no_thank_you":
            self.write(interview, "thank_you", contact, polite, send=True)
        elif state == "thanked":
            referrers = self.referrers_of(contact)
            for referrer in referrers[1:] if wrong == "forget_a_referrer" else referrers:
                self.write(interview, "report_back", referrer, polite, send=True)

    def pick(self, which: int, states: set[str]) -> str:
        """One of the interviews last seen in one of ``states``."""
        found = [i for i, row in self.seen.items() if row["state"] in states]
        return found[which % len(found)]

    @_any_in(*FORWARD)
    @rule(
        which=st.integers(min_value=0),
        steps=st.integers(1, 5),
        held_at=TIMES,
        lapse_at=st.one_of(st.none(), st.integers(0, 4)),
        lapse=st.integers(min_value=0),
    )
    def advance(
        self, which: int, steps: int, held_at: str | None, lapse_at: int | None, lapse: int
    ) -> None:
        """Do what each next step needs, then ask for it, so that walks reach the end of the
        road; at step ``lapse_at`` the user is sloppy."""
        interview = self.pick(which, set(FORWARD))
        for step in range(steps):
            self.do_what_the_next_step_needs(interview, lapse if step == lapse_at else None)
            before = self.before(interview)
            to = FORWARD.get(before.interview["state"])
            if to is None:
                return
            body = {"to": to, **({"held_at": when(held_at)} if held_at and to == "held" else {})}
            self.move(before, body)

    @rule(
        interview=interviews,
        to=st.sampled_from([*ORDER, "next", "next", "next"]),
        held_at=st.sampled_from([None, "past", "future", "stray"]),
        reason=REASONS,
    )
    def transition(self, interview: str, to: str, held_at: str | None, reason: str | None) -> None:
        before = self.before(interview)
        if to == "next":
            to = FORWARD.get(before.interview["state"], "cancelled")
        body: dict[str, Any] = {"to": to}
        if held_at == "stray":  # a held_at with any target
            body["held_at"] = when("past")
        elif held_at is not None and to == "held":
            body["held_at"] = when(held_at)
        if reason is not None:
            body["reason"] = reason
        self.move(before, body)

    @_any_in("request", "prepared")
    @rule(which=st.integers(min_value=0), reason=REASONS)
    def cancel(self, which: int, reason: str | None) -> None:
        """Cancel an interview not yet held (cancelling others is the random move's job)."""
        interview = self.pick(which, {"request", "prepared"})
        body = {"to": "cancelled", **({"reason": reason} if reason is not None else {})}
        self.move(self.before(interview), body)

    # --- a move, judged by the oracle ---

    def before(self, interview: str) -> Before:
        """The API's own data about the interview, read right before a move."""
        row = self.call("GET", f"/interviews/{interview}", {200}).json()
        checklist = self.call("GET", f"/interviews/{interview}/checklist", {200}).json()
        # The API's derived fields agree with the checklist's items.
        missing = checklist_missing(checklist, row["mode"])
        assert set(checklist["missing"]) == set(missing), checklist
        assert checklist["complete"] is (not missing), checklist
        return Before(
            interview=row,
            checklist=checklist,
            letters=list(self.every("/letters", interview_id=interview)),
            referrals=list(self.every("/referrals", referred_id=row["contact_id"])),
            now=utcnow(),
        )

    def move(self, before: Before, body: dict[str, Any]) -> None:
        interview, to = before.interview["id"], body["to"]
        state = before.interview["state"]
        options = self.call("GET", f"/interviews/{interview}/transitions", {200}).json()
        r = self.call("POST", f"/interviews/{interview}/transitions", {200, 409, 422}, json=body)
        if "held_at" in body and to != "held":
            assert r.status_code == 422, r.text  # held_at belongs to the move to held only
            return
        expected = unmet(before, to, at(body.get("held_at")), body.get("reason"))
        # What GET /transitions listed agrees, apart from the reason a request supplies.
        listed = {o["to"]: o for o in options}
        assert set(listed) == NEXT[state], options
        if to in listed:
            without_reason = [e for e in expected if e[0] != "reason_required"]
            if "held_at" not in body:
                assert listed[to]["allowed"] is (not without_reason), (options, expected)
        if not expected:
            assert r.status_code == 200, f"{state} -> {body}: oracle allows, API said {r.text}"
            moved = r.json()
            assert moved["state"] == to
            self.moves.setdefault(interview, []).append(to)
            return
        assert r.status_code == 409, f"{state} -> {body}: oracle refuses {expected}: {r.text}"
        problem = r.json()
        assert problem["code"] == "transition_refused"
        got = Counter((e["code"], e.get("contact_id")) for e in problem["errors"])
        assert got == Counter(expected), f"{state} -> {body}: {problem['errors']} != {expected}"
        assert problem["current_state"] == state
        assert set(problem["allowed_transitions"]) == NEXT[state]

    # --- after every step ---

    @invariant()
    def states_only_move_forward_and_events_tell_the_way(self) -> None:
        for row in self.every("/interviews"):
            old = self.seen.get(row["id"])
            assert old is not None, f"an interview nobody made: {row}"
            before, now = old["state"], row["state"]
            moves = self.moves.get(row["id"], [])
            # The state is where the moves the oracle allowed led, and nowhere else.
            assert now == (moves[-1] if moves else before), (
                f"{row['id']} went {before} -> {now}; the moves allowed were {moves}"
            )
            for a, b in itertools.pairwise([before, *moves]):
                assert ORDER.index(b) > ORDER.index(a), (before, moves)
                if b == "cancelled":
                    assert a in ("request", "prepared"), (before, moves)
            if row["updated_at"] != old["updated_at"] or now != before:
                self.check_events(row)
            self.seen[row["id"]] = row
        self.moves.clear()

    def check_events(self, row: dict[str, Any]) -> None:
        """The recorded moves lead from ``request`` through allowed steps to the state."""
        events = list(self.every(f"/interviews/{row['id']}/events"))
        state = "request"
        for event in events:
            assert event["from_state"] == state, events
            assert event["to_state"] in NEXT[state], events
            state = event["to_state"]
        assert state == row["state"], (row["state"], events)
        # A state's time is set exactly when the state was entered.
        for name, column in (
            ("prepared", "prepared_at"),
            ("held", "held_at"),
            ("thanked", "thanked_at"),
            ("reported-back", "reported_back_at"),
            ("cancelled", "cancelled_at"),
        ):
            reached = name in {e["to_state"] for e in events}
            assert (row[column] is not None) is reached, (name, row)

    def teardown(self) -> None:
        for row in self.every("/interviews"):
            self.check_events(row)


# A run takes up to a few seconds, and shrinking a failure replays many of them (Hypothesis
# gives up shrinking after five minutes, then reports): leave the time for both.
@pytest.mark.timeout(600 + 10 * EXAMPLES)
def test_random_walks_through_the_workflow(settings: Settings) -> None:
    # Every run registers a user: lift the per-address limit on auth calls for this app.
    app = create_app(settings.model_copy(update={"rate_limit_auth_per_minute": 100_000}))
    with TestClient(app, raise_server_exceptions=False) as client:
        WorkflowMachine.client = client
        run_state_machine_as_test(
            WorkflowMachine,
            settings=hyp_settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
            ),
        )
    app.state.engine.dispose()
