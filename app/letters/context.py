"""The variables a letter template sees, built from the user, the contact and the interview.

Every template (built-in or the user's own) is rendered with exactly these names; anything
else is an unknown variable, refused when the template is saved. Text fields that are not
filled in are ``None``, which prints as nothing, so ``{% if contact.organization %}`` is the
way to leave a phrase out. Dates are already formatted, in English, for the letter's reader:
in the recipient's time zone, else the user's (``app.kit.times``); a time also shows the
user's own clock when it reads differently there.

``user``            the person writing: ``full_name`` (may be empty), ``first_name``, ``email``
``contact``         the recipient of the letter: ``full_name``, ``first_name``,
                    ``organization``, ``title``, ``career_field``, ``email``
``interviewee``     the person the interview is with (the same as ``contact`` for a request,
                    follow-up or thank-you; the person the referrer sent you to in a report
                    back); ``None`` when the letter has no interview. Same fields as contact.
``referrer``        who gave the lead: ``full_name``, ``first_name``, ``organization``,
                    ``title``, ``career_field``, ``email``, ``relationship`` (``friend``,
                    ``family``, ``colleague``, ``faculty``, ``former_employer``, ``other``);
                    for a report back it is the recipient; ``None`` when there is no referral
``interview``       ``None`` when the letter has no interview, else:
                    ``mode`` (``in_person``, ``phone``, ``video``, ``email``),
                    ``mode_text`` ("in person", "by phone", "by video call", "by email"),
                    ``scheduled_at`` ("Tuesday 17 November 2026, 4:00 p.m. CET", then
                    "(10:00 a.m. EST my time)" when the user's zone reads differently),
                    ``scheduled_date`` ("Tuesday 17 November 2026"), ``duration_minutes``,
                    ``location``, ``career_field`` and ``organization`` (the interview's, else
                    the interviewee's), ``held_date`` ("17 November 2026"), ``discussed`` (the
                    questions asked, in order, each with ``question`` and ``answer``),
                    ``advice``, ``next_steps``, ``decision``, ``state``
``to_interviewee``  whether the recipient is the interviewee
``career_field``    the career field the letter is about: the interview's, else the
                    recipient's; may be ``None``
``today``           the date the letter is drafted, in the user's zone ("26 November 2026")
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from typing import Any

from jinja2 import meta, nodes

from app.accounts.schemas import UserAccount
from app.contacts.schemas import Contact
from app.interviews.schemas import Interview
from app.kit.times import for_reader, format_date, format_day, local_date
from app.vocabulary import Decision, InterviewMode, InterviewState, LetterKind

_MODE_TEXT = {
    InterviewMode.IN_PERSON: "in person",
    InterviewMode.PHONE: "by phone",
    InterviewMode.VIDEO: "by video call",
    InterviewMode.EMAIL: "by email",
}
# Words before a first name that are not the first name.
_HONORIFICS = frozenset(
    {"dr", "mr", "mrs", "ms", "mx", "miss", "prof", "professor", "sir", "dame", "rev"}
)


@dataclass(frozen=True)
class UserVars:
    """The person writing the letter."""

    full_name: str
    first_name: str
    email: str


@dataclass(frozen=True)
class PersonVars:
    """A contact: the recipient, the interviewee."""

    full_name: str
    first_name: str
    organization: str | None
    title: str | None
    career_field: str | None
    email: str | None


@dataclass(frozen=True)
class ReferrerVars:
    """The contact who gave the lead, and how they know the user."""

    full_name: str
    first_name: str
    organization: str | None
    title: str | None
    career_field: str | None
    email: str | None
    relationship: str | None


@dataclass(frozen=True)
class QuestionVars:
    """A question asked in the interview, and the answer noted."""

    question: str
    answer: str | None


@dataclass(frozen=True)
class InterviewVars:
    """The interview the letter belongs to."""

    mode: str
    mode_text: str
    scheduled_at: str | None
    scheduled_date: str | None
    duration_minutes: int | None
    location: str | None
    career_field: str | None
    organization: str | None
    held_date: str | None
    discussed: tuple[QuestionVars, ...]
    advice: str | None
    next_steps: str | None
    decision: str
    state: str


# The documented names: top-level variables, and the attributes of those that are objects.
OBJECT_VARIABLES: dict[str, type] = {
    "user": UserVars,
    "contact": PersonVars,
    "interviewee": PersonVars,
    "referrer": ReferrerVars,
    "interview": InterviewVars,
}
PLAIN_VARIABLES = ("to_interviewee", "career_field", "today")
# Names the template environment itself provides.
ENVIRONMENT_NAMES = frozenset({"range", "dict", "namespace", "cycler", "joiner", "loop"})


def attributes(name: str) -> frozenset[str]:
    """The attributes of a documented object variable."""
    return frozenset(f.name for f in fields(OBJECT_VARIABLES[name]))


def variable_names() -> list[str]:
    """Every documented variable, as dotted names, for people reading the API."""
    names: list[str] = []
    for name, cls in OBJECT_VARIABLES.items():
        names.extend(f"{name}.{f.name}" for f in fields(cls))
    names.extend(PLAIN_VARIABLES)
    return names


@dataclass(frozen=True)
class Unknown:
    """A name a template uses that letter templates do not have, and where."""

    line: int
    name: str


def unknown_names(tree: nodes.Template) -> list[Unknown]:
    """Every undocumented variable, or attribute of a documented one, a template reads.

    Static, so a misspelling is found in a branch the sample letters never take. Names the
    template sets itself are its own business; loop variables' attributes are checked when
    the sample letters are rendered.
    """
    free = meta.find_undeclared_variables(tree)
    allowed = set(OBJECT_VARIABLES) | set(PLAIN_VARIABLES) | ENVIRONMENT_NAMES
    found: dict[tuple[int, str], Unknown] = {}
    for node in tree.find_all(nodes.Name):
        if node.ctx == "load" and node.name in free and node.name not in allowed:
            found.setdefault((node.lineno, node.name), Unknown(node.lineno, node.name))
    lookups: list[tuple[nodes.Expr, Any, int]] = [
        (n.node, n.attr, n.lineno) for n in tree.find_all(nodes.Getattr)
    ]
    lookups.extend(
        (n.node, n.arg.value, n.lineno)
        for n in tree.find_all(nodes.Getitem)
        if isinstance(n.arg, nodes.Const) and isinstance(n.arg.value, str)
    )
    for target, attr, line in lookups:
        if not isinstance(target, nodes.Name) or target.name not in free:
            continue
        if attr.startswith("_"):
            continue  # not a misspelling: the sandbox refuses it, as unsafe
        if target.name in OBJECT_VARIABLES and attr not in attributes(target.name):
            name = f"{target.name}.{attr}"
            found.setdefault((line, name), Unknown(line, name))
    return sorted(found.values(), key=lambda u: (u.line, u.name))


# --- formatting ---------------------------------------------------------------------------


def first_name(full_name: str) -> str:
    """The first word of a name that is not an honorific ("Dr. Priya Raman" -> "Priya")."""
    words = full_name.split()
    for word in words[:-1]:
        if word.rstrip(".").lower() not in _HONORIFICS:
            return word
    return words[-1] if words else ""


# --- building -----------------------------------------------------------------------------


def person(contact: Contact) -> PersonVars:
    """A contact as templates see it."""
    return PersonVars(
        full_name=contact.full_name,
        first_name=first_name(contact.full_name),
        organization=contact.organization,
        title=contact.title,
        career_field=contact.career_field,
        email=contact.email,
    )


def referrer_vars(contact: Contact, relationship: str | None) -> ReferrerVars:
    """The referrer as templates see them."""
    return ReferrerVars(
        full_name=contact.full_name,
        first_name=first_name(contact.full_name),
        organization=contact.organization,
        title=contact.title,
        career_field=contact.career_field,
        email=contact.email,
        relationship=relationship,
    )


def reader_zone(user: UserAccount, recipient: Contact) -> str:
    """The zone a letter's times are written in: its recipient's, else the user's."""
    return recipient.time_zone or user.time_zone


def interview_vars(
    interview: Interview, interviewee: Contact, *, reader: str, writer: str
) -> InterviewVars:
    """The interview as templates see it, its times in the ``reader``'s zone (and the
    ``writer``'s too, where that reads differently)."""
    mode = InterviewMode(interview.mode)
    scheduled = interview.scheduled_at
    return InterviewVars(
        mode=mode.value,
        mode_text=_MODE_TEXT[mode],
        scheduled_at=for_reader(scheduled, reader, writer) if scheduled else None,
        scheduled_date=format_day(local_date(scheduled, reader)) if scheduled else None,
        duration_minutes=interview.duration_minutes,
        location=interview.location,
        career_field=interview.career_field or interviewee.career_field,
        organization=interview.organization or interviewee.organization,
        held_date=format_date(local_date(interview.held_at, reader)) if interview.held_at else None,
        discussed=tuple(
            QuestionVars(question=str(q.get("question", "")), answer=q.get("answer"))
            for q in interview.questions
        ),
        advice=interview.advice,
        next_steps=interview.next_steps,
        decision=interview.decision,
        state=interview.state,
    )


def build(
    *,
    user: UserAccount,
    recipient: Contact,
    interview: Interview | None,
    interviewee: Contact | None,
    referrer: Contact | None,
    relationship: str | None,
    today: date,
) -> dict[str, Any]:
    """The variables of one letter. ``interviewee`` is given whenever ``interview`` is;
    ``today`` is the user's date."""
    interview_part = (
        interview_vars(
            interview,
            interviewee,
            reader=reader_zone(user, recipient),
            writer=user.time_zone,
        )
        if interview is not None and interviewee is not None
        else None
    )
    full_name = (user.full_name or "").strip()
    return {
        "user": UserVars(
            full_name=full_name,
            first_name=first_name(full_name) if full_name else "",
            email=user.email,
        ),
        "contact": person(recipient),
        "interviewee": person(interviewee) if interviewee is not None else None,
        "referrer": referrer_vars(referrer, relationship) if referrer is not None else None,
        "interview": interview_part,
        "to_interviewee": interviewee is not None and interviewee.id == recipient.id,
        "career_field": interview_part.career_field if interview_part else recipient.career_field,
        "today": format_date(today),
    }


# --- the sample letters templates are checked (and the golden files rendered) with ---------

SAMPLE_TODAY = date(2026, 11, 26)


def _sample_people() -> tuple[UserAccount, Contact, Contact]:
    user = UserAccount(
        email="alex.morgan@example.com",
        full_name="Alex Morgan",
        password_hash="",
        time_zone="America/Chicago",
    )
    interviewee = Contact(
        owner_id=user.id,
        full_name="Dr. Priya Raman",
        email="priya.raman@harborfinch.example",
        organization="Harbor & Finch LLP",
        title="Audit Senior Manager",
        career_field="accounting",
        time_zone="America/New_York",
    )
    referrer = Contact(
        owner_id=user.id,
        full_name="Sam Ortiz",
        email="sam.ortiz@university.example",
        organization="Lakeside University",
        title="Lecturer in Accounting",
        career_field="education",
    )
    return user, interviewee, referrer


def _sample_interview(interviewee: Contact, kind: LetterKind) -> Interview:
    state = {
        LetterKind.REQUEST: InterviewState.REQUEST,
        LetterKind.FOLLOW_UP: InterviewState.REQUEST,
        LetterKind.THANK_YOU: InterviewState.HELD,
        LetterKind.REPORT_BACK: InterviewState.THANKED,
        LetterKind.UPDATE: InterviewState.REPORTED_BACK,
        LetterKind.FEELER: InterviewState.REPORTED_BACK,
        LetterKind.KEEP_IN_TOUCH: InterviewState.REPORTED_BACK,
    }[kind]
    held = state not in (InterviewState.REQUEST, InterviewState.PREPARED)
    return Interview(
        owner_id=interviewee.owner_id,
        contact_id=interviewee.id,
        mode=InterviewMode.IN_PERSON.value,
        scheduled_at=datetime(2026, 11, 17, 15, 0, tzinfo=UTC),
        duration_minutes=30,
        location="Harbor & Finch LLP, 200 Pier Street, Boston",
        career_field="accounting",
        organization="Harbor & Finch LLP",
        state=state.value,
        held_at=datetime(2026, 11, 17, 15, 5, tzinfo=UTC) if held else None,
        questions=[
            {
                "question": "What does a typical week look like during audit season?",
                "answer": "Long days from January to March, mostly at client sites.",
            },
            {
                "question": "Which skills matter most in your first two years?",
                "answer": "Careful documentation, spreadsheets, and asking good questions.",
            },
            {
                "question": "How did you move from your first job into audit?",
                "answer": "Through a rotation programme after two years in tax.",
            },
            {
                "question": "What do you wish you had known before starting out?",
                "answer": None,
            },
        ]
        if held
        else [],
        advice="Take the intermediate accounting course before applying to graduate programmes, "
        "and talk to people in tax as well as audit."
        if held
        else None,
        next_steps="Enrol in intermediate accounting this spring and read the two audit reports "
        "you recommended."
        if held
        else None,
        decision=(
            Decision.PURSUE.value
            if kind in (LetterKind.FEELER, LetterKind.UPDATE, LetterKind.KEEP_IN_TOUCH)
            else Decision.UNDECIDED.value
        ),
    )


def sample(kind: LetterKind, *, rich: bool = True) -> dict[str, Any]:
    """Fixed variables for a letter of ``kind``, in a valid place in the workflow.

    ``rich``: every field filled in, a referrer, a full interview; the golden files are
    rendered from these. Otherwise every optional field is empty, there is no referrer (except
    the recipient of a report back) and, for a kind that needs none, no interview: a template
    must render in both cases to be saved.
    """
    user, interviewee, referrer = _sample_people()
    if not rich:
        user.full_name = None
        user.time_zone = "UTC"
        for person_row in (interviewee, referrer):
            person_row.email = person_row.organization = person_row.title = None
            person_row.career_field = person_row.time_zone = None
    interview: Interview | None = _sample_interview(interviewee, kind)
    if not rich and interview is not None:
        interview.scheduled_at = interview.duration_minutes = interview.location = None
        interview.career_field = interview.organization = None
        interview.questions = []
        interview.advice = interview.next_steps = None
        if kind == LetterKind.KEEP_IN_TOUCH:
            interview = None
    recipient = referrer if kind == LetterKind.REPORT_BACK else interviewee
    has_referrer = rich or kind == LetterKind.REPORT_BACK
    return build(
        user=user,
        recipient=recipient,
        interview=interview,
        interviewee=interviewee if interview is not None else None,
        referrer=referrer if has_referrer else None,
        relationship="faculty" if has_referrer else None,
        today=SAMPLE_TODAY,
    )
