"""Search across everything the user wrote: contacts, interviews, letters.

What is looked in: a contact's name, organization, title, tags and notes; an interview's
organization, career field, notes, questions and answers, advice and next steps; a letter's
subject and body. Words match whatever their English ending ("interviewing" finds
"interviews") and whatever their accents ("resume" finds "résumé"); what the user typed is read
by :mod:`app.search.terms`, never passed on as query syntax.

The best hits come first: the more of the record is about the words, and the more telling the
place they are found (a name or a subject above notes or a letter's body), the higher. A
search is not paged: it returns at most ``limit`` hits (up to :data:`MAX_LIMIT`) and says
whether there were more. Relevance is recomputed by each search, and changes as records are
written, so there is no stable place to continue from; a user narrows a search instead.
A word found in more than ``repository.RANKED_WINDOW`` records of one kind (a word in nearly
everything) is ranked among the newest of them only: what a search costs stays bounded,
and one word more brings the older records back within reach.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Collection

from sqlalchemy import Connection

from app.kit.errors import caller_gone
from app.search import repository
from app.search.repository import CLOSE, ELLIPSIS, OPEN, Found
from app.search.schemas import SearchHit, SearchKind, SearchResults
from app.search.terms import read

MAX_LIMIT = 50
DEFAULT_LIMIT = 20
MAX_QUERY_LENGTH = 200

_LETTER_KINDS = {
    "request": "Request",
    "follow_up": "Follow-up",
    "thank_you": "Thank-you letter",
    "report_back": "Report-back",
    "update": "Update",
    "feeler": "Feeler",
    "keep_in_touch": "Keep-in-touch letter",
}
_MARKS = re.compile(f"([{OPEN}{CLOSE}])")
_SPACES = re.compile(r"\s+")


def search(
    db: Connection,
    owner_id: uuid.UUID,
    query: str,
    *,
    kinds: Collection[SearchKind] = tuple(SearchKind),
    limit: int = DEFAULT_LIMIT,
) -> SearchResults:
    """The owner's records that contain the words of ``query``, best first, at most ``limit``.

    A 401 if the caller's account is gone. A query with no word to look for finds nothing.
    """
    terms = read(query)
    if not terms or not kinds:
        if not repository.caller_exists(db, owner_id):
            raise caller_gone()
        return SearchResults(data=[], has_more=False)
    found = repository.hits(db, owner_id, terms, kinds, limit + 1)
    if found is None:
        raise caller_gone()
    return SearchResults(data=[_hit(hit) for hit in found[:limit]], has_more=len(found) > limit)


def _hit(found: Found) -> SearchHit:
    return SearchHit(
        kind=found.kind,
        id=found.id,
        contact_id=found.contact_id,
        title=_title(found),
        snippet=_html(_passage(found)),
    )


def _title(found: Found) -> str:
    """The line naming the record, in plain text."""
    if found.kind == SearchKind.CONTACT:
        about = ", ".join(part for part in (found.label, found.detail) if part)
        return f"{found.name} — {about}" if about else found.name
    if found.kind == SearchKind.INTERVIEW:
        at = f", {found.label}" if found.label else ""
        return f"Interview with {found.name}{at}"
    kind = _LETTER_KINDS.get(found.label or "", "Letter")
    subject = f": {found.detail}" if found.detail else ""
    return f"{kind} to {found.name}{subject}"


def _passage(found: Found) -> str:
    """The passage with its marks, in the record's own letters, ``…`` where it is cut.

    SQLite's comes so. PostgreSQL's was found in the folded text: its letters are taken from
    ``original``, the same stretch of the record's own text, character for character (when
    the stretch could not be placed, the folded letters stay).
    """
    if found.original is None:
        return found.passage
    letters = iter(found.original)
    restored = "".join(
        char if char in (OPEN, CLOSE) else next(letters, char) for char in found.passage
    )
    return (ELLIPSIS if found.cut_before else "") + restored + (ELLIPSIS if found.cut_after else "")


def _html(passage: str) -> str:
    """The passage as HTML: its text escaped and on one line, each mark a ``<mark>`` element.

    The marks are read as a pair at a time, so the HTML is well formed whatever the text (a
    record that holds a mark character itself only moves a highlight).
    """
    parts: list[str] = []
    marking = False
    for piece in _MARKS.split(_SPACES.sub(" ", passage).strip()):
        if piece == OPEN:
            if not marking:
                parts.append("<mark>")
                marking = True
        elif piece == CLOSE:
            if marking:
                parts.append("</mark>")
                marking = False
        else:
            parts.append(html.escape(piece))
    if marking:
        parts.append("</mark>")
    return "".join(parts)
