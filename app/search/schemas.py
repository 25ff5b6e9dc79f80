"""What a search answers with, and what the search indexes add to the schema beside the models.

The indexes themselves (SQLite's FTS5 tables, PostgreSQL's ``search_vector`` columns) are made
by the migration ``20261208_0910_search`` and kept by triggers; no model declares them, and
:func:`compared_with_models` tells Alembic's comparison of models and database to leave them out.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from pydantic import Field as PydanticField


class SearchKind(StrEnum):
    """What a hit is."""

    CONTACT = "contact"
    INTERVIEW = "interview"
    LETTER = "letter"


class SearchHit(BaseModel):
    """One record the words were found in."""

    kind: SearchKind = PydanticField(
        description="What was found: a contact, an interview, a letter."
    )
    id: uuid.UUID = PydanticField(description="The id of the contact, interview or letter.")
    contact_id: uuid.UUID = PydanticField(
        description="The person it concerns: the contact itself, the interviewee, the recipient."
    )
    title: str = PydanticField(
        description="A line naming the record, in plain text: the contact's name with their "
        "title and organization, the interview and with whom, the letter and to whom."
    )
    snippet: str = PydanticField(
        description="A passage of the record around the words found, as HTML: the record's "
        "text escaped, each word found in <mark>…</mark>, a cut shown as …; safe to insert "
        "into a page as it is."
    )


class SearchResults(BaseModel):
    """The best hits first: relevance to the words, weighted by where they were found."""

    data: list[SearchHit]
    has_more: bool = PydanticField(
        description="More records match than were returned. A search is not paged: narrow it "
        "with more words or a kind, or raise limit (up to 50)."
    )


# --- The schema the search migration adds beside the models ------------------------------------

# SQLite: the FTS5 tables and their shadow tables (search_contact, search_contact_data, …).
SEARCH_TABLE_PREFIX = "search_"
# PostgreSQL: the tsvector column on contact, interview and letter, and its GIN index.
SEARCH_COLUMN = "search_vector"
SEARCH_INDEXES = frozenset(f"ix_{table}_search_vector" for table in SearchKind)


def compared_with_models(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
    """An Alembic ``include_name`` hook: False for the search indexes' own tables, columns
    and indexes, which the migration makes and no model declares; True for everything else."""
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith(SEARCH_TABLE_PREFIX)
    if type_ == "column":
        return name != SEARCH_COLUMN
    if type_ == "index":
        return name not in SEARCH_INDEXES
    return True
