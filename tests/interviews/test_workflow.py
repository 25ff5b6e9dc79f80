"""The pure state machine: every (from, to) pair of the six states, and each guard's rules."""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.interviews import workflow
from app.interviews.workflow import ALLOWED, Facts, unmet_requirements
from app.vocabulary import InterviewMode, InterviewState

S = InterviewState
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
HELD_AT = NOW - timedelta(days=2)
REFERRER_A = uuid.UUID("00000000-0000-7000-8000-00000000000a")
REFERRER_B = uuid.UUID("00000000-0000-7000-8000-00000000000b")

# Facts under which every guard holds: only the table can stand in the way.
READY = Facts(
    state=S.REQUEST,
    now=NOW,
    scheduled_at=HELD_AT - timedelta(hours=1),
    checklist_missing=(),
    request_letter_sent=True,
    thank_you_sent_at=(HELD_AT + timedelta(hours=3),),
    referrers=(REFERRER_A,),
    report_back_sent_at={REFERRER_A: (HELD_AT + timedelta(days=1),)},
    held_at=HELD_AT,
    reason="They moved abroad.",
)

# The table, spelled out once more as docs/workflow.md states it.
EXPECTED_MOVES = {
    (S.REQUEST, S.PREPARED),
    (S.REQUEST, S.CANCELLED),
    (S.PREPARED, S.HELD),
    (S.PREPARED, S.CANCELLED),
    (S.HELD, S.THANKED),
    (S.THANKED, S.REPORTED_BACK),
}


def codes(facts: Facts, to: InterviewState) -> list[str]:
    return [r.code for r in unmet_requirements(facts, to)]


@pytest.mark.parametrize(
    ("from_state", "to_state"), list(itertools.product(list(S), list(S))), ids=str
)
def test_every_pair(from_state: InterviewState, to_state: InterviewState) -> None:
    facts = dataclasses.replace(READY, state=from_state)
    unmet = unmet_requirements(facts, to_state)
    if (from_state, to_state) in EXPECTED_MOVES:
        assert to_state in ALLOWED[from_state]
        assert unmet == [], unmet
    else:
        assert to_state not in ALLOWED[from_state]
        assert [r.code for r in unmet] == ["invalid_transition"]
        assert unmet[0].extra == {"from_state": from_state, "to_state": to_state}
        assert str(to_state) in unmet[0].message


def test_table_has_every_state_and_terminal_states_are_final() -> None:
    assert set(ALLOWED) == set(S)
    assert ALLOWED[S.REPORTED_BACK] == frozenset()
    assert ALLOWED[S.CANCELLED] == frozenset()
    assert workflow.next_states(S.REQUEST) == [S.PREPARED, S.CANCELLED]
    assert workflow.next_states(S.CANCELLED) == []


class TestPrepared:
    facts = dataclasses.replace(READY, state=S.REQUEST)

    def test_every_missing_requirement_is_named(self) -> None:
        facts = dataclasses.replace(
            self.facts,
            request_letter_sent=False,
            scheduled_at=None,
            checklist_missing=("research", "opening_statement"),
        )
        unmet = unmet_requirements(facts, S.PREPARED)
        assert [r.code for r in unmet] == [
            "request_letter_not_sent",
            "not_scheduled",
            "checklist_incomplete",
        ]
        assert unmet[2].extra == {"missing": ["research", "opening_statement"]}
        assert unmet[2].as_dict()["missing"] == ["research", "opening_statement"]

    @pytest.mark.parametrize(
        ("change", "code"),
        [
            ({"request_letter_sent": False}, "request_letter_not_sent"),
            ({"scheduled_at": None}, "not_scheduled"),
            ({"checklist_missing": ("attire",)}, "checklist_incomplete"),
        ],
    )
    def test_each_guard_alone(self, change: dict[str, object], code: str) -> None:
        assert codes(dataclasses.replace(self.facts, **change), S.PREPARED) == [code]  # type: ignore[arg-type]

    def test_a_future_schedule_is_fine(self) -> None:
        facts = dataclasses.replace(self.facts, scheduled_at=NOW + timedelta(days=3))
        assert codes(facts, S.PREPARED) == []


class TestHeld:
    facts = dataclasses.replace(READY, state=S.PREPARED, held_at=None)

    def test_scheduled_in_the_past_and_held_now(self) -> None:
        assert codes(self.facts, S.HELD) == []

    def test_scheduled_exactly_now(self) -> None:
        assert codes(dataclasses.replace(self.facts, scheduled_at=NOW), S.HELD) == []

    def test_scheduled_in_the_future(self) -> None:
        facts = dataclasses.replace(self.facts, scheduled_at=NOW + timedelta(minutes=1))
        assert codes(facts, S.HELD) == ["scheduled_in_future"]

    def test_not_scheduled(self) -> None:
        assert codes(dataclasses.replace(self.facts, scheduled_at=None), S.HELD) == [
            "not_scheduled"
        ]

    def test_held_at_in_the_future(self) -> None:
        facts = dataclasses.replace(self.facts, requested_held_at=NOW + timedelta(seconds=1))
        assert codes(facts, S.HELD) == ["held_at_in_future"]

    def test_held_at_in_the_past(self) -> None:
        facts = dataclasses.replace(self.facts, requested_held_at=NOW - timedelta(hours=1))
        assert codes(facts, S.HELD) == []

    def test_both_in_the_future(self) -> None:
        facts = dataclasses.replace(
            self.facts,
            scheduled_at=NOW + timedelta(days=1),
            requested_held_at=NOW + timedelta(days=1),
        )
        assert codes(facts, S.HELD) == ["scheduled_in_future", "held_at_in_future"]


class TestThanked:
    facts = dataclasses.replace(READY, state=S.HELD)

    def test_no_thank_you(self) -> None:
        assert codes(dataclasses.replace(self.facts, thank_you_sent_at=()), S.THANKED) == [
            "thank_you_not_sent"
        ]

    def test_thank_you_before_the_interview_does_not_count(self) -> None:
        facts = dataclasses.replace(self.facts, thank_you_sent_at=(HELD_AT - timedelta(hours=1),))
        assert codes(facts, S.THANKED) == ["thank_you_not_sent"]

    def test_thank_you_at_held_at_counts(self) -> None:
        facts = dataclasses.replace(self.facts, thank_you_sent_at=(HELD_AT,))
        assert codes(facts, S.THANKED) == []

    def test_one_late_enough_is_enough(self) -> None:
        facts = dataclasses.replace(
            self.facts, thank_you_sent_at=(HELD_AT - timedelta(days=1), HELD_AT + timedelta(1))
        )
        assert codes(facts, S.THANKED) == []


class TestReportedBack:
    facts = dataclasses.replace(READY, state=S.THANKED)

    def test_no_referrer_means_nobody_to_report_to(self) -> None:
        facts = dataclasses.replace(self.facts, referrers=(), report_back_sent_at={})
        assert codes(facts, S.REPORTED_BACK) == []

    def test_every_unreported_referrer_is_named(self) -> None:
        facts = dataclasses.replace(
            self.facts,
            referrers=(REFERRER_A, REFERRER_B),
            report_back_sent_at={},
        )
        unmet = unmet_requirements(facts, S.REPORTED_BACK)
        assert [r.code for r in unmet] == ["referrer_not_reported"] * 2
        assert [r.extra["contact_id"] for r in unmet] == [REFERRER_A, REFERRER_B]

    def test_only_the_missing_referrer_is_named(self) -> None:
        facts = dataclasses.replace(self.facts, referrers=(REFERRER_A, REFERRER_B))
        unmet = unmet_requirements(facts, S.REPORTED_BACK)
        assert [r.as_dict() for r in unmet] == [
            {
                "code": "referrer_not_reported",
                "message": unmet[0].message,
                "contact_id": REFERRER_B,
            }
        ]

    def test_report_before_the_interview_does_not_count(self) -> None:
        facts = dataclasses.replace(
            self.facts, report_back_sent_at={REFERRER_A: (HELD_AT - timedelta(minutes=1),)}
        )
        assert codes(facts, S.REPORTED_BACK) == ["referrer_not_reported"]


class TestCancelled:
    @pytest.mark.parametrize("state", [S.REQUEST, S.PREPARED])
    @pytest.mark.parametrize("reason", [None, "", "   "])
    def test_reason_required(self, state: InterviewState, reason: str | None) -> None:
        facts = dataclasses.replace(READY, state=state, reason=reason)
        assert codes(facts, S.CANCELLED) == ["reason_required"]

    @pytest.mark.parametrize("state", [S.HELD, S.THANKED, S.REPORTED_BACK, S.CANCELLED])
    def test_not_after_held(self, state: InterviewState) -> None:
        facts = dataclasses.replace(READY, state=state)
        assert codes(facts, S.CANCELLED) == ["invalid_transition"]


class TestChecklist:
    ALL_DONE = dict.fromkeys(workflow.CHECKLIST_ITEMS, True)

    def test_complete(self) -> None:
        missing = workflow.missing_checklist_items(
            self.ALL_DONE, {"opening_statement": "Hi"}, InterviewMode.IN_PERSON
        )
        assert missing == []

    def test_nothing_done(self) -> None:
        missing = workflow.missing_checklist_items({}, {}, InterviewMode.IN_PERSON)
        assert missing == list(workflow.CHECKLIST_ITEMS)

    @pytest.mark.parametrize(
        "mode", [InterviewMode.PHONE, InterviewMode.VIDEO, InterviewMode.EMAIL]
    )
    def test_attire_only_in_person(self, mode: InterviewMode) -> None:
        done = {**self.ALL_DONE, "attire": False}
        assert workflow.missing_checklist_items(done, {"opening_statement": "Hi"}, mode) == []
        assert workflow.missing_checklist_items(
            done, {"opening_statement": "Hi"}, InterviewMode.IN_PERSON
        ) == ["attire"]

    @pytest.mark.parametrize("text", [None, "", " \n "])
    def test_opening_statement_needs_text(self, text: str | None) -> None:
        missing = workflow.missing_checklist_items(
            self.ALL_DONE, {"opening_statement": text}, InterviewMode.PHONE
        )
        assert missing == ["opening_statement"]

    def test_text_without_tick_is_not_done(self) -> None:
        done = {**self.ALL_DONE, "opening_statement": False}
        missing = workflow.missing_checklist_items(
            done, {"opening_statement": "Hi"}, InterviewMode.PHONE
        )
        assert missing == ["opening_statement"]


class TestOptions:
    def test_cancel_needs_a_reason_field_not_a_fact(self) -> None:
        facts = dataclasses.replace(READY, state=S.REQUEST, reason=None)
        options = workflow.options(facts)
        assert [(o.to, o.allowed, o.required_fields) for o in options] == [
            (S.PREPARED, True, ()),
            (S.CANCELLED, True, ("reason",)),
        ]

    def test_unmet_shown(self) -> None:
        facts = dataclasses.replace(READY, state=S.PREPARED, scheduled_at=NOW + timedelta(1))
        [held, cancelled] = workflow.options(facts)
        assert (held.to, held.allowed) == (S.HELD, False)
        assert [r.code for r in held.unmet] == ["scheduled_in_future"]
        assert cancelled.allowed

    @pytest.mark.parametrize("state", [S.REPORTED_BACK, S.CANCELLED])
    def test_terminal(self, state: InterviewState) -> None:
        assert workflow.options(dataclasses.replace(READY, state=state)) == []
