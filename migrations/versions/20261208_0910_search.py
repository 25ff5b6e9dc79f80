"""Search: full-text indexes over contacts, interviews and letters.

Revision ID: c4f8b0d2e678
Revises: b3e7a9c1d567
Create Date: 2026-12-08 09:10:00.000000

What a search looks in: a contact's name, organization, title, tags and notes; an interview's
organization, career field, notes, questions and answers, advice and next steps; a letter's
subject and body. Words are stemmed as English ("interviewing" finds "interviews") and accents
are folded ("resume" finds "résumé").

**SQLite.** One FTS5 table per kind (``search_contact``, ``search_interview``,
``search_letter``), external content: the text stays in the domain table and is read through
a view (``search_<kind>_source``) that also flattens the JSON columns (tags, questions) into
text. The FTS row's rowid is the domain row's rowid. Triggers keep the index in step with every
insert, update of an indexed column, and delete (cascades included). Existing rows are indexed
here. Two things rewrite rowids of these tables and so need the index rebuilt afterwards
(``INSERT INTO search_<kind>(search_<kind>) VALUES('delete-all')`` then
``INSERT INTO search_<kind>(rowid, …) SELECT rid, … FROM search_<kind>_source``): ``VACUUM``,
and a later migration that rebuilds one of the tables in batch mode, which also drops the
table's triggers, so such a migration must create them again (see ``_sqlite_triggers``).

**PostgreSQL.** A ``search_vector tsvector`` column on each of the three tables, weighted
(A the name or subject, B the organization, title, tags and career field, C an interview's
notes, questions and answers, advice and next steps, D a contact's notes and a letter's
body), kept by a ``BEFORE INSERT OR UPDATE OF …`` trigger, with a GIN index. Accents are folded
by ``search_fold(text)``, an immutable ``translate()`` of the Latin letters with diacritics to
their base letter (and of "<" to a space, so no text is taken for an HTML tag), the same on
any server: no extension is needed (managed databases often do
not allow ``CREATE EXTENSION unaccent``), and it keeps the folded text exactly as long as the
original, which lets a snippet found in the folded text be shown in the original's letters.
These objects are not in the models: ``app.search.schemas.compared_with_models`` tells Alembic's
comparison to leave them out.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c4f8b0d2e678"
down_revision: str | None = "b3e7a9c1d567"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TOKENIZE = "porter unicode61 remove_diacritics 2"

# Per kind: the indexed columns of the view (name, SQL expression over the domain row), their
# weights for bm25 (same order), and the domain columns whose update changes the index.
_JSON_TEXT = "(SELECT group_concat(value, char(10)) FROM json_each({row}.tags))"
_QUESTIONS_TEXT = (
    "(SELECT group_concat(coalesce(json_extract(q.value, '$.question'), '') || ' ' || "
    "coalesce(json_extract(q.value, '$.answer'), ''), char(10)) "
    "FROM json_each({row}.questions) AS q)"
)
_SQLITE_KINDS: dict[str, tuple[list[tuple[str, str]], list[float], list[str]]] = {
    "contact": (
        [
            ("full_name", "{row}.full_name"),
            ("organization", "{row}.organization"),
            ("title", "{row}.title"),
            ("tags", _JSON_TEXT),
            ("notes", "{row}.notes"),
        ],
        [10.0, 5.0, 5.0, 3.0, 1.0],
        ["full_name", "organization", "title", "tags", "notes"],
    ),
    "interview": (
        [
            ("organization", "{row}.organization"),
            ("career_field", "{row}.career_field"),
            ("notes", "{row}.notes"),
            ("questions", _QUESTIONS_TEXT),
            ("advice", "{row}.advice"),
            ("next_steps", "{row}.next_steps"),
        ],
        [4.0, 4.0, 1.0, 1.0, 1.0, 1.0],
        ["organization", "career_field", "notes", "questions", "advice", "next_steps"],
    ),
    "letter": (
        [("subject", "{row}.subject"), ("body", "{row}.body")],
        [4.0, 1.0],
        ["subject", "body"],
    ),
}


def _sqlite_triggers(kind: str) -> list[str]:
    """The triggers that keep ``search_<kind>`` in step with ``<kind>``."""
    columns, _weights, watched = _SQLITE_KINDS[kind]
    names = ", ".join(name for name, _ in columns)
    fts, source = f"search_{kind}", f"search_{kind}_source"
    add = (
        f"INSERT INTO {fts}(rowid, {names}) SELECT rid, {names} FROM {source} "
        "WHERE rid = new.rowid;"
    )
    # External content: the index forgets a row when told the values it indexed, read here
    # from the view while the row still holds them (a BEFORE trigger).
    forget = (
        f"INSERT INTO {fts}({fts}, rowid, {names}) SELECT 'delete', rid, {names} "
        f"FROM {source} WHERE rid = old.rowid;"
    )
    of = ", ".join(watched)
    return [
        f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {kind} BEGIN {add} END",
        f"CREATE TRIGGER {fts}_delete BEFORE DELETE ON {kind} BEGIN {forget} END",
        f"CREATE TRIGGER {fts}_update_old BEFORE UPDATE OF {of} ON {kind} BEGIN {forget} END",
        f"CREATE TRIGGER {fts}_update_new AFTER UPDATE OF {of} ON {kind} BEGIN {add} END",
    ]


def _sqlite_upgrade() -> None:
    for kind, (columns, weights, _watched) in _SQLITE_KINDS.items():
        fts, source = f"search_{kind}", f"search_{kind}_source"
        selected = ", ".join(f"{expr.format(row=kind)} AS {name}" for name, expr in columns)
        names = ", ".join(name for name, _ in columns)
        op.execute(f"CREATE VIEW {source} AS SELECT {kind}.rowid AS rid, {selected} FROM {kind}")
        op.execute(
            f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, content='{source}', "
            f"content_rowid='rid', tokenize='{_TOKENIZE}')"
        )
        rank = ", ".join(str(weight) for weight in weights)
        op.execute(f"INSERT INTO {fts}({fts}, rank) VALUES ('rank', 'bm25({rank})')")
        # The rows already there. (FTS5's own 'rebuild' cannot read a view whose columns
        # come from json_each; this is the same thing.)
        op.execute(f"INSERT INTO {fts}(rowid, {names}) SELECT rid, {names} FROM {source}")
        for trigger in _sqlite_triggers(kind):
            op.execute(trigger)


def _sqlite_downgrade() -> None:
    for kind in reversed(_SQLITE_KINDS):
        fts = f"search_{kind}"
        for suffix in ("insert", "delete", "update_old", "update_new"):
            op.execute(f"DROP TRIGGER IF EXISTS {fts}_{suffix}")
        op.execute(f"DROP TABLE IF EXISTS {fts}")
        op.execute(f"DROP VIEW IF EXISTS search_{kind}_source")


# --- PostgreSQL ------------------------------------------------------------------------------

# Latin letters with diacritics (Latin-1, Latin Extended-A and -B, Latin Extended Additional)
# and their base letters, one for one: what remove_diacritics folds on SQLite, give or take.
_ACCENTED = (
    "ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöøùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĐđĒēĔĕĖėĘęĚěĜĝ"
    "ĞğĠġĢģĤĥĦħĨĩĪīĬĭĮįİıĴĵĶķĹĺĻļĽľĿŀŁłŃńŅņŇňŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŦŧŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹź"
    "ŻżŽžƀƠơƯưƵƶǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜǞǟǠǡǦǧǨǩǪǫǬǭǰǴǵǸǹǺǻȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕȖȗȘșȚțȞȟȦȧȨȩȪȫȬȭȮȯȰȱȲȳḀ"
    "ḁḂḃḄḅḆḇḈḉḊḋḌḍḎḏḐḑḒḓḔḕḖḗḘḙḚḛḜḝḞḟḠḡḢḣḤḥḦḧḨḩḪḫḬḭḮḯḰḱḲḳḴḵḶḷḸḹḺḻḼḽḾḿṀṁṂṃṄṅṆṇṈṉṊṋṌṍṎṏṐṑṒṓṔṕṖṗṘṙṚ"
    "ṛṜṝṞṟṠṡṢṣṤṥṦṧṨṩṪṫṬṭṮṯṰṱṲṳṴṵṶṷṸṹṺṻṼṽṾṿẀẁẂẃẄẅẆẇẈẉẊẋẌẍẎẏẐẑẒẓẔẕẖẗẘẙẠạẢảẤấẦầẨẩẪẫẬậẮắẰằẲẳẴẵẶặẸ"
    "ẹẺẻẼẽẾếỀềỂểỄễỆệỈỉỊịỌọỎỏỐốỒồỔổỖỗỘộỚớỜờỞởỠỡỢợỤụỦủỨứỪừỬửỮữỰựỲỳỴỵỶỷỸỹ"
)
_BASE = (
    "AAAAAACEEEEIIIINOOOOOOUUUUYaaaaaaceeeeiiiinoooooouuuuyyAaAaAaCcCcCcCcDdDdEeEeEeEeEeGg"
    "GgGgGgHhHhIiIiIiIiIiJjKkLlLlLlLlLlNnNnNnOoOoOoRrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZz"
    "ZzZzbOoUuZzAaIiOoUuUuUuUuUuAaAaGgKkOoOojGgNnAaAaAaEeEeIiIiOoOoRrRrUuUuSsTtHhAaEeOoOoOoOoYyA"
    "aBbBbBbCcDdDdDdDdDdEeEeEeEeEeFfGgHhHhHhHhHhIiIiKkKkKkLlLlLlLlMmMmMmNnNnNnNnOoOoOoOoPpPpRrR"
    "rRrRrSsSsSsSsSsTtTtTtTtUuUuUuUuUuVvVvWwWwWwWwWwXxXxYyZzZzZzhtwyAaAaAaAaAaAaAaAaAaAaAaAaE"
    "eEeEeEeEeEeEeEeIiIiOoOoOoOoOoOoOoOoOoOoOoOoUuUuUuUuUuUuUuYyYyYyYy"
)
assert len(_ACCENTED) == len(_BASE)
# And "<" reads as a space: text is never HTML here, yet PostgreSQL's parser takes "<b>" or
# "<ada@example.com>" for a tag, which it leaves out of the index and out of a passage.
_FOLDED_FROM, _FOLDED_TO = _ACCENTED + "<", _BASE + " "
# A character search_fold may change: outside ASCII, or "<".
_UNUSUAL = r"[^\x01-\x3b\x3d-\x7f]"

_PG_FUNCTIONS = [
    # translate() compares each character of the text with each of the 500 it is given: a
    # millisecond and more for a page of text. So it is given only the characters this text
    # holds outside ASCII (and "<"), each with its base letter, or itself if it has none; a
    # text of plain ASCII is returned as it is.
    f"""
    CREATE FUNCTION search_fold(value text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE WHEN value !~ '{_UNUSUAL}' THEN value ELSE (
        SELECT translate(
            value,
            string_agg(found.ch, ''),
            string_agg(
                CASE WHEN strpos('{_FOLDED_FROM}', found.ch) > 0
                     THEN substr('{_FOLDED_TO}', strpos('{_FOLDED_FROM}', found.ch), 1)
                     ELSE found.ch
                END,
                ''
            )
        )
        FROM (SELECT DISTINCT (regexp_matches(value, '{_UNUSUAL}', 'g'))[1] AS ch) AS found
    ) END
    """,
    """
    CREATE FUNCTION search_words(value text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN to_tsvector('english'::regconfig, search_fold(coalesce(value, '')))
    """,
    """
    CREATE FUNCTION search_contact_document(
        full_name text, organization text, title text, tags jsonb, notes text
    ) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN setweight(search_words(full_name), 'A')
        || setweight(search_words(concat_ws(' ', organization, title)), 'B')
        || setweight(search_words(CASE WHEN jsonb_typeof(tags) = 'array' THEN
               (SELECT string_agg(tag, ' ') FROM jsonb_array_elements_text(tags) AS tag)
           END), 'B')
        || setweight(search_words(notes), 'D')
    """,
    """
    CREATE FUNCTION search_interview_document(
        organization text, career_field text, notes text, questions jsonb, advice text,
        next_steps text
    ) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN setweight(search_words(concat_ws(' ', organization, career_field)), 'B')
        || setweight(search_words(concat_ws(' ', notes, advice, next_steps)), 'C')
        || setweight(search_words(CASE WHEN jsonb_typeof(questions) = 'array' THEN
               (SELECT string_agg(concat_ws(' ', q ->> 'question', q ->> 'answer'), ' ')
                FROM jsonb_array_elements(questions) AS q)
           END), 'C')
    """,
    """
    CREATE FUNCTION search_letter_document(subject text, body text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN setweight(search_words(subject), 'A') || setweight(search_words(body), 'D')
    """,
]

_PG_KINDS: dict[str, list[str]] = {
    "contact": ["full_name", "organization", "title", "tags", "notes"],
    "interview": ["organization", "career_field", "notes", "questions", "advice", "next_steps"],
    "letter": ["subject", "body"],
}


def _pg_upgrade() -> None:
    for function in _PG_FUNCTIONS:
        op.execute(function)
    for kind, columns in _PG_KINDS.items():
        document = f"search_{kind}_document({', '.join(columns)})"
        new_document = f"search_{kind}_document({', '.join(f'NEW.{c}' for c in columns)})"
        op.execute(f"ALTER TABLE {kind} ADD COLUMN search_vector tsvector")
        op.execute(f"UPDATE {kind} SET search_vector = {document}")
        op.execute(f"CREATE INDEX ix_{kind}_search_vector ON {kind} USING gin (search_vector)")
        op.execute(
            f"""
            CREATE FUNCTION search_{kind}_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                NEW.search_vector := {new_document};
                RETURN NEW;
            END
            $$
            """
        )
        op.execute(
            f"CREATE TRIGGER search_{kind}_refresh BEFORE INSERT OR UPDATE OF "
            f"{', '.join(columns)} ON {kind} FOR EACH ROW EXECUTE FUNCTION search_{kind}_refresh()"
        )


def _pg_downgrade() -> None:
    for kind in reversed(_PG_KINDS):
        op.execute(f"DROP TRIGGER IF EXISTS search_{kind}_refresh ON {kind}")
        op.execute(f"DROP FUNCTION IF EXISTS search_{kind}_refresh()")
        op.execute(f"DROP INDEX IF EXISTS ix_{kind}_search_vector")
        op.execute(f"ALTER TABLE {kind} DROP COLUMN IF EXISTS search_vector")
    op.execute("DROP FUNCTION IF EXISTS search_letter_document(text, text)")
    op.execute(
        "DROP FUNCTION IF EXISTS search_interview_document(text, text, text, jsonb, text, text)"
    )
    op.execute("DROP FUNCTION IF EXISTS search_contact_document(text, text, text, jsonb, text)")
    op.execute("DROP FUNCTION IF EXISTS search_words(text)")
    op.execute("DROP FUNCTION IF EXISTS search_fold(text)")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_upgrade()
    else:
        _pg_upgrade()


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_downgrade()
    else:
        _pg_downgrade()
