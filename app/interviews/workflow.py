"""The informational-interview workflow: request -> prepared -> held -> thanked -> reported-back.

A pure module (no I/O): it reads like the workflow table of docs/workflow.md. First the table of
allowed moves, then the facts a guard may look at, then one guard per target state, each
returning the requirements that are not met. An empty list means the move may happen.

The services load the facts from the database, ask :func:`unmet_requirements`, and apply the
move (or refuse it with every unmet requirement) — no rule of the workflow lives anywhere else.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from app.vocabulary import Direction, InteractionKind, InterviewMode, InterviewState, Outcome

REQUEST = InterviewState.REQUEST
PREPARED = InterviewState.PREPARED
HELD = InterviewState.HELD
THANKED = InterviewState.THANKED
REPORTED_BACK = InterviewState.REPORTED_BACK
CANCELLED = InterviewState.CANCELLED

# Forward one step at a time, never back, never skipping; `cancelled` is the side exit from
# any state before `held`. `reported-back` and `cancelled` are the end of the road.
ALLOWED: dict[InterviewState, frozenset[InterviewState]] = {
    REQUEST: frozenset({PREPARED, CANCELLED}),
    PREPARED: frozenset({HELD, CANCELLED}),
    HELD: frozenset({THANKED}),
    THANKED: frozenset({REPORTED_BACK}),
    REPORTED_BACK: frozenset(),
    CANCELLED: frozenset(),
}

# The order states are listed in wherever a list of them is shown.
ORDER: tuple[InterviewState, ...] = (REQUEST, PREPARED, HELD, THANKED, REPORTED_BACK, CANCELLED)

# What each state means, in a sentence a client can show.
MEANING: dict[InterviewState, str] = {
    REQUEST: "Asked for: the request letter goes out and is followed up until a time is agreed.",
    PREPARED: "Ready: the request was sent, a time is scheduled and the checklist is done.",
    HELD: "The conversation took place.",
    THANKED: "The interviewee was sent a thank-you letter after the conversation.",
    REPORTED_BACK: "Every referrer heard how the lead went; the end of the workflow.",
    CANCELLED: "Called off before it was held, with a reason; the end of the workflow.",
}


def next_states(state: InterviewState) -> list[InterviewState]:
    """The states the table allows from ``state``, in workflow order."""
    return [s for s in ORDER if s in ALLOWED[state]]


# The field that records when each state was entered.
ENTERED_AT: dict[InterviewState, str] = {
    REQUEST: "requested_at",
    PREPARED: "prepared_at",
    HELD: "held_at",
    THANKED: "thanked_at",
    REPORTED_BACK: "reported_back_at",
    CANCELLED: "cancelled_at",
}


@dataclass(frozen=True)
class ChecklistItem:
    """One item of the preparation checklist, and what it takes to count as done.

    ``needs_text``: a tick is not enough, the item's text must be non-empty. ``only_for``: the
    item is required only for interviews in that mode. The checklist's columns are named after
    the item (``<name>_done``, ``<name>_text``), so this definition also drives the agenda's
    query for incomplete checklists.
    """

    name: str
    needs_text: bool = False
    only_for: InterviewMode | None = None


# The preparation checklist, in the order docs/workflow.md lists its items.
CHECKLIST: tuple[ChecklistItem, ...] = (
    ChecklistItem("research"),
    ChecklistItem("website"),
    ChecklistItem("self_assessment"),
    ChecklistItem("opening_statement", needs_text=True),
    ChecklistItem("attire", only_for=InterviewMode.IN_PERSON),
)
CHECKLIST_ITEMS: tuple[str, ...] = tuple(item.name for item in CHECKLIST)


def missing_checklist_items(
    done: Mapping[str, bool], texts: Mapping[str, str | None], mode: InterviewMode
) -> list[str]:
    """The checklist items still required, in checklist order.

    ``done`` holds each item's tick, ``texts`` the text of the items that need one.
    """
    missing: list[str] = []
    for item in CHECKLIST:
        if item.only_for is not None and mode != item.only_for:
            continue
        ok = bool(done.get(item.name))
        if item.needs_text:
            ok = ok and bool((texts.get(item.name) or "").strip())
        if not ok:
            missing.append(item.name)
    return missing


@dataclass(frozen=True, init=False)
class Requirement:
    """One unmet requirement: a stable machine-readable code, a sentence for people, and any
    extra fields that make it actionable (``missing`` items, a referrer's ``contact_id``)."""

    code: str
    message: str
    extra: Mapping[str, Any]

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "message", message)
        object.__setattr__(self, "extra", dict(extra))

    def as_dict(self) -> dict[str, Any]:
        """The requirement as it appears in a problem's ``errors[]``."""
        return {"code": self.code, "message": self.message, **self.extra}


class TransitionRefusalCode(StrEnum):
    """Every code an unmet requirement of a workflow move can carry."""

    REQUEST_LETTER_NOT_SENT = "request_letter_not_sent"
    NOT_SCHEDULED = "not_scheduled"
    CHECKLIST_INCOMPLETE = "checklist_incomplete"
    SCHEDULED_IN_FUTURE = "scheduled_in_future"
    HELD_AT_IN_FUTURE = "held_at_in_future"
    THANK_YOU_NOT_SENT = "thank_you_not_sent"
    REFERRER_NOT_REPORTED = "referrer_not_reported"
    REASON_REQUIRED = "reason_required"
    INVALID_TRANSITION = "invalid_transition"
    CONCURRENT_TRANSITION = "concurrent_transition"


@dataclass(frozen=True)
class Check:
    """One requirement a guard checks: its code and the sentence that says what to do."""

    code: TransitionRefusalCode
    sentence: str

    def unmet(self, message: str | None = None, **extra: Any) -> Requirement:
        """The requirement as unmet, in its own sentence unless ``message`` says more."""
        return Requirement(self.code.value, message or self.sentence, **extra)


SENT_REQUEST = Check(
    TransitionRefusalCode.REQUEST_LETTER_NOT_SENT,
    "Send a request letter to the interviewee for this interview first.",
)
SCHEDULE = Check(TransitionRefusalCode.NOT_SCHEDULED, "Schedule a time for the interview.")
FINISH_CHECKLIST = Check(
    TransitionRefusalCode.CHECKLIST_INCOMPLETE, "Finish the preparation checklist."
)
HAS_TIME = Check(TransitionRefusalCode.NOT_SCHEDULED, "The interview has no scheduled time.")
TIME_PASSED = Check(
    TransitionRefusalCode.SCHEDULED_IN_FUTURE,
    "The interview is scheduled in the future; it cannot have been held yet.",
)
HELD_NOT_LATER = Check(TransitionRefusalCode.HELD_AT_IN_FUTURE, "held_at is in the future.")
SENT_THANK_YOU = Check(
    TransitionRefusalCode.THANK_YOU_NOT_SENT,
    "Send a thank-you letter to the interviewee for this interview after it was held.",
)
REPORTED_TO_REFERRER = Check(
    TransitionRefusalCode.REFERRER_NOT_REPORTED,
    "Send a report-back letter to this referrer, saying how the lead went.",
)
GAVE_REASON = Check(
    TransitionRefusalCode.REASON_REQUIRED, "Give a reason for cancelling the interview."
)

# What each move's guard checks, in the order it reports them: the published form of the
# guards below, which build every requirement they report from these checks.
CHECKS: dict[InterviewState, tuple[Check, ...]] = {
    PREPARED: (SENT_REQUEST, SCHEDULE, FINISH_CHECKLIST),
    HELD: (HAS_TIME, TIME_PASSED, HELD_NOT_LATER),
    THANKED: (SENT_THANK_YOU,),
    REPORTED_BACK: (REPORTED_TO_REFERRER,),
    CANCELLED: (GAVE_REASON,),
}

# What any refused move can carry besides its guard's checks.
IN_THE_TABLE = Check(
    TransitionRefusalCode.INVALID_TRANSITION,
    "The workflow does not allow this move from this state.",
)
NOT_RACED = Check(
    TransitionRefusalCode.CONCURRENT_TRANSITION,
    "Another request changed the interview at the same moment; "
    "fetch it again and retry if the move still makes sense.",
)
ANY_MOVE: tuple[Check, ...] = (IN_THE_TABLE, NOT_RACED)


@dataclass(frozen=True)
class Facts:
    """What the guards may look at: a snapshot of one interview and the letters around it.

    ``held_at`` is when the interview was recorded as held; ``requested_held_at`` and
    ``reason`` come with the transition request itself.
    """

    state: InterviewState
    now: datetime
    scheduled_at: datetime | None = None
    checklist_missing: tuple[str, ...] = ()
    request_letter_sent: bool = False
    thank_you_sent_at: tuple[datetime, ...] = ()
    referrers: tuple[uuid.UUID, ...] = ()
    report_back_sent_at: Mapping[uuid.UUID, tuple[datetime, ...]] = field(default_factory=dict)
    held_at: datetime | None = None
    requested_held_at: datetime | None = None
    reason: str | None = None

    @property
    def checklist_complete(self) -> bool:
        return not self.checklist_missing


def _sent_since(times: Sequence[datetime], since: datetime | None) -> bool:
    """Whether any letter was sent at or after ``since`` (any letter, when ``since`` is unknown)."""
    return any(since is None or t >= since for t in times)


# --- one guard per target state ---------------------------------------------------------------


def guard_prepared(facts: Facts) -> list[Requirement]:
    """A request letter to the interviewee is sent; a time is scheduled; the checklist is done."""
    unmet: list[Requirement] = []
    if not facts.request_letter_sent:
        unmet.append(SENT_REQUEST.unmet())
    if facts.scheduled_at is None:
        unmet.append(SCHEDULE.unmet())
    if facts.checklist_missing:
        items = ", ".join(facts.checklist_missing)
        unmet.append(
            FINISH_CHECKLIST.unmet(
                f"{FINISH_CHECKLIST.sentence.removesuffix('.')}: {items}.",
                missing=list(facts.checklist_missing),
            )
        )
    return unmet


def guard_held(facts: Facts) -> list[Requirement]:
    """The scheduled time is not in the future; ``held_at`` (default now) is not in the future."""
    unmet: list[Requirement] = []
    if facts.scheduled_at is None:
        unmet.append(HAS_TIME.unmet())
    elif facts.scheduled_at > facts.now:
        unmet.append(TIME_PASSED.unmet(scheduled_at=facts.scheduled_at))
    held_at = facts.requested_held_at or facts.now
    if held_at > facts.now:
        unmet.append(HELD_NOT_LATER.unmet(held_at=facts.requested_held_at))
    return unmet


def guard_thanked(facts: Facts) -> list[Requirement]:
    """A thank-you letter to the interviewee was sent at or after ``held_at``."""
    if _sent_since(facts.thank_you_sent_at, facts.held_at):
        return []
    return [SENT_THANK_YOU.unmet()]


def guard_reported_back(facts: Facts) -> list[Requirement]:
    """Every referrer of the interviewee got a report-back letter sent at or after ``held_at``.

    With no referrer there is nobody to report to, and the step is allowed.
    """
    return [
        REPORTED_TO_REFERRER.unmet(contact_id=referrer)
        for referrer in facts.referrers
        if not _sent_since(facts.report_back_sent_at.get(referrer, ()), facts.held_at)
    ]


def guard_cancelled(facts: Facts) -> list[Requirement]:
    """A reason is given. (That the interview is still before ``held`` is the table's rule.)"""
    if facts.reason and facts.reason.strip():
        return []
    return [GAVE_REASON.unmet()]


GUARDS: dict[InterviewState, Callable[[Facts], list[Requirement]]] = {
    PREPARED: guard_prepared,
    HELD: guard_held,
    THANKED: guard_thanked,
    REPORTED_BACK: guard_reported_back,
    CANCELLED: guard_cancelled,
}


def unmet_requirements(facts: Facts, to: InterviewState) -> list[Requirement]:
    """Every requirement that stands between ``facts.state`` and ``to``; empty means go."""
    if to not in ALLOWED[facts.state]:
        allowed = ", ".join(next_states(facts.state)) or "none: it is final"
        return [
            IN_THE_TABLE.unmet(
                f"An interview in state {facts.state} cannot move to {to}; "
                f"allowed next states: {allowed}.",
                from_state=facts.state,
                to_state=to,
            )
        ]
    return GUARDS[to](facts)


# --- what the client may do next -------------------------------------------------------------

# What a move's own request body supplies, so that "what is missing" for a move not yet
# requested leaves it out and names the field to send instead.
REQUIRED_FIELDS: dict[InterviewState, tuple[str, ...]] = {CANCELLED: ("reason",)}
_SUPPLIED_BY_BODY = {GAVE_REASON.code}


@dataclass(frozen=True)
class Option:
    """A state the interview may move to next, what stands in the way, and what to send."""

    to: InterviewState
    unmet: list[Requirement]
    required_fields: tuple[str, ...]

    @property
    def allowed(self) -> bool:
        return not self.unmet


def options(facts: Facts) -> list[Option]:
    """Every next state the table allows, with the requirements the facts do not yet meet."""
    return [
        Option(
            to=to,
            unmet=[r for r in unmet_requirements(facts, to) if r.code not in _SUPPLIED_BY_BODY],
            required_fields=REQUIRED_FIELDS.get(to, ()),
        )
        for to in next_states(facts.state)
    ]


# --- the workflow as data, for clients ---------------------------------------------------------


@dataclass(frozen=True)
class Move:
    """A move the table allows, what its guard checks, and what its request must carry."""

    from_state: InterviewState
    to_state: InterviewState
    checks: tuple[Check, ...]
    required_fields: tuple[str, ...]


def moves() -> list[Move]:
    """Every move of the table, in workflow order of where it starts, then where it goes."""
    return [
        Move(source, target, CHECKS[target], REQUIRED_FIELDS.get(target, ()))
        for source in ORDER
        for target in next_states(source)
    ]


# --- what the contact answers ------------------------------------------------------------------
# A request goes out in writing and is followed up by phone: calls, voicemails, meetings,
# messages and replies are logged as interactions. These rules say which of them reach the
# contact, and what an answer means for the interview. The agenda's follow-up query and a
# contact's ``last_contacted_at`` are built from this definition, never from a copy of it.

# The outcomes that make sense for each kind of interaction: a voicemail is left on a call or
# is itself one; a reply or a meeting is an answer, never a missed one.
OUTCOMES: dict[InteractionKind, frozenset[Outcome]] = {
    InteractionKind.CALL: frozenset(Outcome),
    InteractionKind.VOICEMAIL: frozenset(
        {Outcome.LEFT_VOICEMAIL, Outcome.AGREED, Outcome.DECLINED}
    ),
    InteractionKind.MEETING: frozenset({Outcome.REACHED, Outcome.AGREED, Outcome.DECLINED}),
    InteractionKind.MESSAGE: frozenset({Outcome.NO_ANSWER, Outcome.AGREED, Outcome.DECLINED}),
    InteractionKind.REPLY: frozenset({Outcome.AGREED, Outcome.DECLINED}),
}


def outcome_fits(kind: InteractionKind, outcome: Outcome | None) -> bool:
    """Whether ``outcome`` (``None``: not recorded) can be the outcome of ``kind``."""
    return outcome is None or outcome in OUTCOMES[kind]


@dataclass(frozen=True)
class Answer:
    """A shape of interaction in which the contact answered; ``None`` matches anything."""

    kind: InteractionKind | None = None
    direction: Direction | None = None
    outcome: Outcome | None = None


# An interaction of one of these shapes reached the contact: it is contact (it moves
# ``last_contacted_at``), and when it is about an interview, with its interviewee, at or after
# the interview's request letter was sent, it is the follow-up of that request: the agenda's
# follow-up item clears, as a follow-up letter clears it, and falls due again
# ``FOLLOW_UP_AFTER`` later if no time is scheduled by then.
ANSWERS: tuple[Answer, ...] = (
    Answer(kind=InteractionKind.CALL, direction=Direction.OUTBOUND, outcome=Outcome.REACHED),
    Answer(kind=InteractionKind.REPLY, direction=Direction.INBOUND),
    Answer(outcome=Outcome.AGREED),
)


def answered(kind: InteractionKind, direction: Direction, outcome: Outcome | None) -> bool:
    """Whether an interaction of this kind, direction and outcome reached the contact."""
    return any(
        (shape.kind is None or shape.kind == kind)
        and (shape.direction is None or shape.direction == direction)
        and (shape.outcome is None or shape.outcome == outcome)
        for shape in ANSWERS
    )


@dataclass(frozen=True)
class Suggestion:
    """A move the user may want to make, offered and never made for them."""

    to: InterviewState
    reason: str


def suggested_move(state: InterviewState, outcome: Outcome | None) -> Suggestion | None:
    """What an interaction's outcome suggests for its interview in ``state``: a contact who
    declined before the interview was held leaves it to be cancelled."""
    if outcome == Outcome.DECLINED and CANCELLED in ALLOWED[state]:
        return Suggestion(
            to=CANCELLED,
            reason="The contact declined the informational interview; cancel it if that is "
            "their final answer.",
        )
    return None
