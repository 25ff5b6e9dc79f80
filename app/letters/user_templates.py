"""Letter templates: the built-in one per kind, and each user's own replacement for it.

A template is checked before it is saved: it must parse, read only the documented variables
(``app.letters.context``), render within every limit of ``app.letters.render`` with both a
full and a sparse sample letter, and, for any kind but a feeler, not ask for a job. A user's
template replaces the built-in one for that user and kind only; deleting it restores ours.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.kit.errors import Unprocessable
from app.kit.queries import (
    WRITE_ATTEMPTS,
    LostRace,
    check_if_match,
    optimistic_write,
)
from app.letters import context, job_ask, render, rules
from app.letters.repository import LetterTemplateRepository
from app.letters.template_schemas import LetterTemplate
from app.vocabulary import LetterKind

# The version (and ETag) of "no template of your own": If-Match "0" means "only if none yet".
BUILT_IN_VERSION = 0
_LOC = ["body", "source"]


@dataclass(frozen=True)
class TemplateView:
    """The template a kind of letter is drafted from, for one user."""

    kind: LetterKind
    source: str
    custom: bool
    version: int
    updated_at: datetime | None


@lru_cache(maxsize=len(LetterKind))
def built_in(kind: LetterKind) -> str:
    """Our template for a kind, shipped as ``app/letters/templates/<kind>.j2``."""
    path = resources.files("app.letters").joinpath("templates", f"{kind.value}.j2")
    return path.read_text(encoding="utf-8")


def _view(kind: LetterKind, row: LetterTemplate | None) -> TemplateView:
    if row is None:
        return TemplateView(kind, built_in(kind), False, BUILT_IN_VERSION, None)
    return TemplateView(kind, row.source, True, row.version, row.updated_at)


def get(session: Session, owner_id: uuid.UUID, kind: LetterKind) -> TemplateView:
    """The caller's template for ``kind``, or ours when they have none."""
    return _view(kind, LetterTemplateRepository(session).find(owner_id, kind))


def save(
    session: Session,
    owner_id: uuid.UUID,
    kind: LetterKind,
    source: str,
    *,
    if_match: str | None = None,
) -> tuple[TemplateView, bool]:
    """Check and save the caller's template for ``kind``; ``True`` when it is their first."""
    validate(kind, source)
    templates = LetterTemplateRepository(session)
    for _ in range(WRITE_ATTEMPTS):
        row = templates.find(owner_id, kind)
        if row is not None:
            break
        check_if_match(if_match, BUILT_IN_VERSION)
        row = LetterTemplate(owner_id=owner_id, kind=kind.value, source=source)
        templates.add(row)
        try:
            session.commit()
        except IntegrityError:  # another request saved the first one meanwhile
            session.rollback()
            continue
        return _view(kind, row), True

    def attempt() -> tuple[TemplateView, bool]:
        row = templates.find(owner_id, kind)
        if row is None:  # deleted meanwhile: saving makes it anew
            raise LostRace
        check_if_match(if_match, row.version)
        templates.compare_and_set(row, source=source)
        session.commit()
        templates.refresh(row)
        return _view(kind, row), False

    return optimistic_write(session, attempt, if_match=if_match, what="template")


def delete_template(
    session: Session, owner_id: uuid.UUID, kind: LetterKind, *, if_match: str | None = None
) -> None:
    """Drop the caller's template for ``kind``, so ours applies again (a no-op if none)."""
    templates = LetterTemplateRepository(session)

    def attempt() -> None:
        row = templates.find(owner_id, kind)
        check_if_match(if_match, row.version if row else BUILT_IN_VERSION)
        if row is None:
            return
        templates.compare_and_delete(row)
        session.commit()
        session.expunge(row)

    optimistic_write(session, attempt, if_match=if_match, what="template")


def source_for(session: Session, owner_id: uuid.UUID, kind: LetterKind) -> str:
    """The source a letter of ``kind`` is drafted from for the caller."""
    row = LetterTemplateRepository(session).find(owner_id, kind)
    return row.source if row is not None else built_in(kind)


# --- checking a template --------------------------------------------------------------------


def validate(kind: LetterKind, source: str) -> None:
    """Refuse (422) a template that will not render, reads what it shouldn't, or costs too much."""
    try:
        tree = render.parse(source)
        unknown = context.unknown_names(tree)
        if unknown:
            raise Unprocessable(
                "The template uses variables letter templates do not have: "
                + ", ".join(f"{u.name} (line {u.line})" for u in unknown)
                + ".",
                code="invalid_template",
                errors=[
                    {
                        "loc": _LOC,
                        "line": u.line,
                        "msg": f"unknown variable {u.name!r}",
                        "type": render.UnknownVariable.kind,
                        "variable": u.name,
                    }
                    for u in unknown
                ],
                line=unknown[0].line,
            )
        full = render.render(source, context.sample(kind, rich=True))
        render.render(source, context.sample(kind, rich=False))
    except render.TemplateProblem as exc:
        raise problem(exc) from None
    if not rules.may_ask_for_job(kind):
        _check_job_ask(kind, source, full)


def problem(exc: render.TemplateProblem, *, drafting: bool = False) -> Unprocessable:
    """The 422 for a template that failed, naming the line at fault where known."""
    when = "Drafting from your template failed" if drafting else "The template was refused"
    where = f" (line {exc.line})" if exc.line else ""
    if isinstance(exc, render.TemplateTooExpensive):
        code = "template_too_expensive"
    elif isinstance(exc, render.TemplateUnsafe):
        code = "unsafe_template"
    else:
        code = "invalid_template"
    message = exc.message
    if isinstance(exc, render.UnknownVariable) and message.startswith("'None' has no attribute"):
        message += (
            " (interview, interviewee and referrer are None when a letter has none: "
            "guard them with {% if … %})"
        )
    entry: dict[str, Any] = {"loc": _LOC, "msg": message, "type": exc.kind}
    if exc.line:
        entry["line"] = exc.line
    return Unprocessable(f"{when}{where}: {message}", code=code, errors=[entry], line=exc.line)


def _check_job_ask(kind: LetterKind, source: str, letter: render.Rendered) -> None:
    """A sample letter from the template must not ask for a job (only a feeler may)."""
    for field_name, text in (("subject", letter.subject), ("body", letter.body)):
        found = job_ask.find_job_ask(text or "")
        if found is None:
            continue
        line = _line_of(source, found.phrase)
        entry: dict[str, Any] = {
            "loc": _LOC,
            "msg": f'asks for a job: "{found.phrase}"',
            "type": "job_ask",
            "phrase": found.phrase,
            "sentence": found.sentence,
            "why": found.why,
            "suggestion": found.suggestion,
        }
        if line:
            entry["line"] = line
        raise Unprocessable(
            f'A {kind} letter drafted from this template asks for a job ("{found.phrase}", in '
            f"its {field_name}). {found.why} An informational interview gathers information; "
            f'only a feeler letter may ask about openings. Ask instead, e.g. "{found.suggestion}"',
            code="job_ask",
            errors=[entry],
            phrase=found.phrase,
            line=line,
            sentence=found.sentence,
            why=found.why,
            suggestion=found.suggestion,
        )


def _line_of(source: str, phrase: str) -> int | None:
    wanted = phrase.casefold()
    for number, text in enumerate(source.splitlines(), start=1):
        if wanted in text.casefold():
            return number
    return None
