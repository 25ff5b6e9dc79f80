"""A field brief: everything the caller learned about one career field, to read before deciding
whether to pursue it.

It gathers the field's newest interviews (at most :data:`MAX_INTERVIEWS`; the brief says how
many older ones it leaves out): whom the user talked to, the advice they gave, every question
with the answers it got from each of them (a question asked in several interviews is grouped,
ignoring case and spacing), the next steps, and the decisions. An interview belongs to a field
by its own ``career_field``, or else its interviewee's, matched ignoring case (ASCII letters
only on SQLite). A field without any interview of the caller's is a 404, as another user's
would be: there is nothing to brief.

As JSON, or as Markdown in which every piece of text the user typed is escaped by
:func:`app.kit.markdown.escape`, the one escaping rule of every Markdown document we write.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection

from app.insights import repository
from app.insights.schemas import (
    BriefAnswer,
    BriefInterview,
    BriefNote,
    BriefQuestion,
    DecisionCount,
    FieldBrief,
)
from app.kit.db import utcnow
from app.kit.downloads import slug
from app.kit.errors import NotFound, caller_gone
from app.kit.markdown import escape
from app.kit.times import DEFAULT_ZONE, format_moment
from app.vocabulary import Decision, InterviewMode, InterviewState

MAX_INTERVIEWS = 25
MAX_FIELD_LENGTH = 100  # as long as an interview's career_field may be


def build(connection: Connection, owner_id: uuid.UUID, career_field: str) -> FieldBrief:
    """The caller's brief on ``career_field``, or a 404 when they have no interview in it."""
    rows = repository.brief_rows(connection, owner_id, career_field.strip(), MAX_INTERVIEWS)
    if not rows:
        raise caller_gone()
    found = [row for row in rows if row.id is not None]
    if not found:
        raise NotFound("You have no interview in this career field.", code="career_field_not_found")
    interviews: list[BriefInterview] = []
    advice: list[BriefNote] = []
    next_steps: list[BriefNote] = []
    questions: dict[str, BriefQuestion] = {}
    for row in found:
        interviews.append(
            BriefInterview(
                interview_id=row.id,
                contact_id=row.contact_id,
                contact_name=row.contact_name,
                title=row.title,
                organization=row.organization,
                mode=InterviewMode(row.mode),
                state=InterviewState(row.state),
                requested_at=row.requested_at,
                held_at=row.held_at,
                decision=Decision(row.decision),
            )
        )
        if row.advice and row.advice.strip():
            advice.append(
                BriefNote(interview_id=row.id, contact_name=row.contact_name, text=row.advice)
            )
        if row.next_steps and row.next_steps.strip():
            next_steps.append(
                BriefNote(interview_id=row.id, contact_name=row.contact_name, text=row.next_steps)
            )
        for item in row.questions or ():
            asked = str(item.get("question") or "")
            if not asked.strip():
                continue
            group = questions.setdefault(
                " ".join(asked.casefold().split()), BriefQuestion(question=asked, answers=[])
            )
            group.answers.append(
                BriefAnswer(
                    interview_id=row.id, contact_name=row.contact_name, answer=item.get("answer")
                )
            )
    total = int(found[0].total)
    return FieldBrief(
        format="infoview-field-brief",
        version=1,
        generated_at=utcnow(),
        time_zone=found[0].time_zone or DEFAULT_ZONE,
        career_field=found[0].career_field,
        interviews_total=total,
        interviews_left_out=max(0, total - len(found)),
        interviews=interviews,
        decisions=[
            DecisionCount(
                decision=decision,
                interviews=sum(1 for interview in interviews if interview.decision == decision),
            )
            for decision in Decision
        ],
        advice=advice,
        questions=list(questions.values()),
        next_steps=next_steps,
    )


def filename(brief: FieldBrief, extension: str) -> str:
    """``brief-accounting.md``."""
    return f"brief-{slug(brief.career_field, fallback='field')}.{extension}"


# --- Markdown ---------------------------------------------------------------------------------


def _line(text: str) -> str:
    return escape(text, one_line=True)


def _words(value: Any) -> str:
    """An enumeration's value in words: ``reported-back`` is "reported back"."""
    return str(value.value).replace("_", " ").replace("-", " ")


def _from(note: BriefNote | BriefAnswer) -> str:
    return _line(note.contact_name)


def to_markdown(brief: FieldBrief) -> str:
    """The brief as Markdown: the interviews, then advice, questions and answers, next steps
    and decisions; the user's words escaped, dates in their time zone."""
    zone = brief.time_zone
    lines = [f"# Career field brief: {_line(brief.career_field)}", ""]
    shown = len(brief.interviews)
    count = f"{brief.interviews_total} interview{'s' if brief.interviews_total != 1 else ''}"
    if brief.interviews_left_out:
        count += (
            f"; the newest {shown} are in this brief, {brief.interviews_left_out} older left out"
        )
    lines += [f"- **Interviews:** {count}"]
    lines += [
        "- **Decisions:** "
        + ", ".join(f"{d.interviews} {_words(d.decision)}" for d in brief.decisions),
        "",
        "## Interviews",
        "",
    ]
    for interview in brief.interviews:
        role = ", ".join(_line(p) for p in (interview.title, interview.organization) if p)
        when = interview.held_at or interview.requested_at
        verb = "held" if interview.held_at else "requested"
        lines.append(
            f"- {_line(interview.contact_name)}"
            + (f" ({role})" if role else "")
            + f": {verb} {format_moment(when, zone)}, {_words(interview.state)}, "
            f"decision {_words(interview.decision)}"
        )
    lines += ["", "## Advice", ""]
    if not brief.advice:
        lines += ["_None recorded._", ""]
    for note in brief.advice:
        lines += [f"### From {_from(note)}", "", escape(note.text), ""]
    lines += ["## Questions and answers", ""]
    if not brief.questions:
        lines += ["_No questions recorded._", ""]
    for number, question in enumerate(brief.questions, start=1):
        lines += [f"### {number}. {_line(question.question)}", ""]
        for answer in question.answers:
            text = answer.answer
            body = escape(text) if text and text.strip() else "_No answer._"
            lines += [f"#### {_from(answer)}", "", body, ""]
    lines += ["## Next steps", ""]
    if not brief.next_steps:
        lines += ["_None recorded._", ""]
    for note in brief.next_steps:
        lines += [f"### From {_from(note)}", "", escape(note.text), ""]
    lines += ["## Decisions", ""]
    for interview in brief.interviews:
        lines.append(f"- {_line(interview.contact_name)}: {_words(interview.decision)}")
    lines.append("")
    return "\n".join(lines)
