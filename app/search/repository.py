"""Every statement a search sends to the database.

The indexes are the migration's (``20261208_0910_search``): FTS5 tables on SQLite, a
``search_vector`` column with a GIN index on PostgreSQL, both kept by triggers. Each database
ranks in its own way, so each has its own statements, built once at import; a request binds
its values: ``:owner``, the words (already quoted by :mod:`app.search.terms`), ``:cap``
(``limit + 1``), ``:window``.

Ranking costs time for every record it scores (bm25 or ``ts_rank``: a few microseconds
each), and a common word is in nearly every record. So of each kind at most
:data:`RANKED_WINDOW` of the owner's matches are ranked: the newest (by rowid on SQLite, the
order rows were written in; by the time-ordered id on PostgreSQL). A word found in fewer
records of a kind is ranked over all of them; one found in more has ``has_more`` set anyway,
and a word more to narrow it brings older records back into reach. Finding the matches
themselves is an index lookup, whatever their number.

- **SQLite**, in the process: per kind wanted, the rowid just past the window (the owner's
  matches newest first, stopped at :data:`RANKED_WINDOW`), then the matches above it in
  FTS5's ``rank`` order (bm25, weighted per column by the migration), stopped at ``:cap``,
  so ``snippet()`` runs only for the rows returned. The kinds' hits are merged by rank here.
  A statement of its own checks the caller first.
- **PostgreSQL**, where a round trip costs time: one statement. It starts from the caller's
  row (no row: the account is gone, a 401), finds each kind's matches through the GIN index
  (a materialized CTE: with the window's ``ORDER BY id DESC LIMIT`` in view, a generic plan
  would rather walk the primary key backwards testing every row), ranks each kind's window
  with ``ts_rank`` (cut
  at ``:cap``, a kind not wanted skipped by a one-time filter), keeps the best ``:cap`` of
  them all, and only for those builds the passage with ``ts_headline``, the costly part.
  (Each step of the passage is a subquery kept whole by ``OFFSET 0``: inlined, its
  expression would be computed again wherever a later step names it.)
  The index holds folded words (``search_fold``), so the passage is found in the folded
  text and its original letters are read at the same place (folding keeps every character
  where it was); :mod:`app.search.service` puts the marks back on them.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Float,
    Integer,
    Select,
    String,
    Uuid,
    bindparam,
    select,
    text,
    true,
)

from app.accounts.schemas import UserAccount
from app.kit.queries import CALLER, caller_row
from app.search.schemas import SearchKind
from app.search.terms import Terms

# What marks a word found in a passage, until the service turns the passage into HTML: two
# private-use characters, which no keyboard types.
OPEN, CLOSE = "\ue000", "\ue001"
# Of each kind, at most this many of the owner's matches are ranked: the newest.
RANKED_WINDOW = 500
# SQLite's passage: at most this many words (FTS5 allows 64).
_SNIPPET_WORDS = 20
# PostgreSQL's passage, in words, like SQLite's.
_HEADLINE_OPTIONS = (
    f'StartSel="{OPEN}", StopSel="{CLOSE}", MaxWords={_SNIPPET_WORDS}, MinWords=8, '
    "ShortWord=2, HighlightAll=false, MaxFragments=0"
)
ELLIPSIS = "…"

_Owners: Any = UserAccount


@dataclass(frozen=True)
class Found:
    """One hit as read: the record, the names its title needs, its passage.

    ``label`` and ``detail`` depend on the kind: a contact's title and organization, an
    interview's organization (and no detail), a letter's kind and subject. ``passage`` carries
    the :data:`OPEN`/:data:`CLOSE` marks; on SQLite it is final (``…`` at a cut). On
    PostgreSQL it is in folded letters: ``original`` is the same stretch of the record's own
    text (None if it could not be placed), ``cut_before``/``cut_after`` whether the record
    goes on beyond it.
    """

    kind: SearchKind
    id: uuid.UUID
    contact_id: uuid.UUID
    name: str
    label: str | None
    detail: str | None
    passage: str
    original: str | None = None
    cut_before: bool = False
    cut_after: bool = False


# --- SQLite ----------------------------------------------------------------------------------


def _snippet(index: str) -> str:
    return f"snippet({index}, -1, '{OPEN}', '{CLOSE}', '{ELLIPSIS}', {_SNIPPET_WORDS})"


# Per kind: the FTS5 table, the domain table, and what the hit carries (the name its title
# needs comes from the contact it concerns).
_SQLITE_KINDS: dict[SearchKind, tuple[str, str, str]] = {
    SearchKind.CONTACT: (
        "search_contact",
        "contact",
        """r.id AS id, r.id AS contact_id, r.full_name AS name, r.title AS label,
           r.organization AS detail""",
    ),
    SearchKind.INTERVIEW: (
        "search_interview",
        "interview",
        """r.id AS id, r.contact_id AS contact_id,
           (SELECT full_name FROM contact WHERE contact.id = r.contact_id) AS name,
           r.organization AS label, NULL AS detail""",
    ),
    SearchKind.LETTER: (
        "search_letter",
        "letter",
        """r.id AS id, r.recipient_id AS contact_id,
           (SELECT full_name FROM contact WHERE contact.id = r.recipient_id) AS name,
           r.kind AS label, r.subject AS detail""",
    ),
}


def _sqlite_floor(index: str, table: str) -> str:
    """The rowid of the owner's match just past the window (newest first), if there is one."""
    return f"""
        SELECT {index}.rowid FROM {index} JOIN {table} AS r ON r.rowid = {index}.rowid
        WHERE {index} MATCH :match AND r.owner_id = :owner
        ORDER BY {index}.rowid DESC LIMIT 1 OFFSET :window
    """


def _sqlite_ranked(index: str, table: str, columns: str) -> str:
    """The owner's best matches from the floor up, best first; the passage of each."""
    return f"""
        SELECT {columns}, {index}.rank AS rank, {_snippet(index)} AS passage
        FROM {index} JOIN {table} AS r ON r.rowid = {index}.rowid
        WHERE {index} MATCH :match AND {index}.rowid > :floor AND r.owner_id = :owner
        ORDER BY {index}.rank LIMIT :cap
    """


# What a hit carries, typed once for both databases' statements.
_HIT_COLUMNS: dict[str, Any] = {
    "id": Uuid(),
    "contact_id": Uuid(),
    "name": String(),
    "label": String(),
    "detail": String(),
    "rank": Float(),
    "passage": String(),
}

_SQLITE_FLOORS = {
    kind: text(_sqlite_floor(index, table)).bindparams(bindparam("owner", type_=Uuid()))
    for kind, (index, table, _) in _SQLITE_KINDS.items()
}
_SQLITE_RANKED = {
    kind: text(_sqlite_ranked(index, table, columns))
    .bindparams(bindparam("owner", type_=Uuid()))
    .columns(**_HIT_COLUMNS)
    for kind, (index, table, columns) in _SQLITE_KINDS.items()
}
# Below every rowid: no floor.
_NO_FLOOR = -(2**63)

_KIND_ORDER = {kind: order for order, kind in enumerate(SearchKind)}


@cache
def _caller_statement() -> Select[Any]:
    owners = _Owners.__table__
    return select(owners.c.id).where(caller_row(owners, bindparam("owner")))


def caller_exists(db: Connection, owner_id: uuid.UUID) -> bool:
    """Whether the caller's account still exists (and their session is live)."""
    return db.execute(_caller_statement(), {"owner": owner_id}).first() is not None


def _sqlite_hits(
    db: Connection, owner_id: uuid.UUID, terms: Terms, kinds: Collection[SearchKind], cap: int
) -> list[Found] | None:
    if not caller_exists(db, owner_id):
        return None
    params = {"owner": owner_id, "match": terms.fts5(), "cap": cap, "window": RANKED_WINDOW}
    ranked: list[tuple[float, int, Any]] = []
    for kind in SearchKind:
        if kind in kinds:
            floor = db.execute(_SQLITE_FLOORS[kind], params).scalar()
            params["floor"] = _NO_FLOOR if floor is None else floor
            for row in db.execute(_SQLITE_RANKED[kind], params):
                ranked.append((row.rank, _KIND_ORDER[kind], (kind, row)))
    # bm25: the lower, the better. Ties: kinds in their order, then the newest first.
    ranked.sort(key=lambda hit: (hit[0], hit[1], -hit[2][1].id.int))
    return [
        Found(
            kind=kind,
            id=row.id,
            contact_id=row.contact_id,
            name=row.name,
            label=row.label,
            detail=row.detail,
            passage=row.passage or "",
        )
        for _, _, (kind, row) in ranked[:cap]
    ]


# --- PostgreSQL ------------------------------------------------------------------------------

_POSTGRES_HITS = """
WITH query AS (
    SELECT websearch_to_tsquery('english'::regconfig, search_fold(:terms)) AS q
),
contact_found AS MATERIALIZED (
    SELECT c.id FROM contact AS c, query
    WHERE :want_contact AND c.owner_id = :owner AND c.search_vector @@ query.q
),
interview_found AS MATERIALIZED (
    SELECT i.id FROM interview AS i, query
    WHERE :want_interview AND i.owner_id = :owner AND i.search_vector @@ query.q
),
letter_found AS MATERIALIZED (
    SELECT l.id FROM letter AS l, query
    WHERE :want_letter AND l.owner_id = :owner AND l.search_vector @@ query.q
),
ranked AS (
    (SELECT 'contact' AS kind, c.id, ts_rank(c.search_vector, query.q, 1) AS rank
     FROM (SELECT id FROM contact_found ORDER BY id DESC LIMIT :window) AS w
     JOIN contact AS c ON c.id = w.id, query
     ORDER BY rank DESC, c.id DESC LIMIT :cap)
    UNION ALL
    (SELECT 'interview' AS kind, i.id, ts_rank(i.search_vector, query.q, 1) AS rank
     FROM (SELECT id FROM interview_found ORDER BY id DESC LIMIT :window) AS w
     JOIN interview AS i ON i.id = w.id, query
     ORDER BY rank DESC, i.id DESC LIMIT :cap)
    UNION ALL
    (SELECT 'letter' AS kind, l.id, ts_rank(l.search_vector, query.q, 1) AS rank
     FROM (SELECT id FROM letter_found ORDER BY id DESC LIMIT :window) AS w
     JOIN letter AS l ON l.id = w.id, query
     ORDER BY rank DESC, l.id DESC LIMIT :cap)
),
best AS (
    SELECT * FROM ranked ORDER BY rank DESC, kind, id DESC LIMIT :cap
)
SELECT best.kind, best.id, best.rank,
       coalesce(c.id, i.contact_id, l.recipient_id) AS contact_id,
       person.full_name AS name,
       CASE best.kind WHEN 'contact' THEN c.title WHEN 'interview' THEN i.organization
            ELSE l.kind END AS label,
       CASE best.kind WHEN 'contact' THEN c.organization WHEN 'letter' THEN l.subject
       END AS detail,
       passage.marked AS passage,
       CASE WHEN placed.at > 0 THEN substr(document.body, placed.at, length(placed.plain))
       END AS original,
       placed.at > 1 AS cut_before,
       placed.at > 0 AND placed.at + length(placed.plain) <= length(document.body)
           AS cut_after
FROM best
CROSS JOIN query
LEFT JOIN contact AS c ON best.kind = 'contact' AND c.id = best.id
LEFT JOIN interview AS i ON best.kind = 'interview' AND i.id = best.id
LEFT JOIN letter AS l ON best.kind = 'letter' AND l.id = best.id
LEFT JOIN contact AS person ON person.id = coalesce(c.id, i.contact_id, l.recipient_id)
CROSS JOIN LATERAL (
    SELECT CASE best.kind
        WHEN 'contact' THEN concat_ws(E'\\n', c.full_name, c.title, c.organization,
            (SELECT string_agg(tag, ', ') FROM jsonb_array_elements_text(
                CASE WHEN jsonb_typeof(c.tags) = 'array' THEN c.tags ELSE '[]' END) AS tag),
            c.notes)
        WHEN 'interview' THEN concat_ws(E'\\n', i.organization, i.career_field, i.notes,
            (SELECT string_agg(concat_ws(' ', asked.value ->> 'question',
                                         asked.value ->> 'answer'), E'\\n')
             FROM jsonb_array_elements(
                CASE WHEN jsonb_typeof(i.questions) = 'array' THEN i.questions ELSE '[]' END
             ) AS asked),
            i.advice, i.next_steps)
        ELSE concat_ws(E'\\n', l.subject, l.body)
    END AS body
    OFFSET 0
) AS document
CROSS JOIN LATERAL (
    SELECT search_fold(document.body) AS folded OFFSET 0
) AS folding
CROSS JOIN LATERAL (
    SELECT ts_headline('english'::regconfig, folding.folded, query.q, :options) AS marked
    OFFSET 0
) AS passage
CROSS JOIN LATERAL (
    SELECT replace(replace(passage.marked, :open, ''), :close, '') AS plain OFFSET 0
) AS unmarked
CROSS JOIN LATERAL (
    SELECT strpos(folding.folded, unmarked.plain) AS at, unmarked.plain OFFSET 0
) AS placed
"""


@cache
def _postgres_statement() -> Select[Any]:
    hits = (
        text(_POSTGRES_HITS)
        .bindparams(
            bindparam("owner", type_=Uuid()),
            bindparam("want_contact", type_=Boolean()),
            bindparam("want_interview", type_=Boolean()),
            bindparam("want_letter", type_=Boolean()),
            bindparam("cap", type_=Integer()),
            bindparam("window", type_=Integer()),
        )
        .columns(
            kind=String(),
            **_HIT_COLUMNS,
            original=String(),
            cut_before=Boolean(),
            cut_after=Boolean(),
        )
        .subquery("hits")
    )
    owners = _Owners.__table__
    return (
        select(owners.c.id.label(CALLER), *hits.c)
        .select_from(owners.outerjoin(hits, true()))
        .where(caller_row(owners, bindparam("owner")))
        .order_by(hits.c.rank.desc(), hits.c.kind, hits.c.id.desc())
    )


def _postgres_hits(
    db: Connection, owner_id: uuid.UUID, terms: Terms, kinds: Collection[SearchKind], cap: int
) -> list[Found] | None:
    params = {
        "owner": owner_id,
        "terms": terms.websearch(),
        "cap": cap,
        "window": RANKED_WINDOW,
        "options": _HEADLINE_OPTIONS,
        "open": OPEN,
        "close": CLOSE,
        **{f"want_{kind.value}": kind in kinds for kind in SearchKind},
    }
    rows = db.execute(_postgres_statement(), params).all()
    if not rows:
        return None
    return [
        Found(
            kind=SearchKind(row.kind),
            id=row.id,
            contact_id=row.contact_id,
            name=row.name,
            label=row.label,
            detail=row.detail,
            passage=row.passage or "",
            original=row.original,
            cut_before=bool(row.cut_before),
            cut_after=bool(row.cut_after),
        )
        for row in rows
        if row.id is not None
    ]


def hits(
    db: Connection, owner_id: uuid.UUID, terms: Terms, kinds: Collection[SearchKind], cap: int
) -> list[Found] | None:
    """The owner's best ``cap`` records matching ``terms``, best first, among ``kinds``;
    None when the caller's account is gone."""
    if db.dialect.name == "sqlite":
        return _sqlite_hits(db, owner_id, terms, kinds, cap)
    return _postgres_hits(db, owner_id, terms, kinds, cap)
