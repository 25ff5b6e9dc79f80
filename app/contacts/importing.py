"""Contacts from a file: CSV or vCard, read row by row, then created or updated in bulk.

**CSV.** The first row is a header naming the columns, in any order (names are trimmed and
matched without regard to case): ``full_name`` (required), ``email``, ``phone``,
``organization``, ``title``, ``career_field``, ``profile_url``, ``notes``, ``tags`` (separated
by ``;``), ``keep_in_touch_days``, ``external_id``, ``source``. An unknown, repeated or unnamed
column, or no ``full_name`` column, refuses the whole file. Blank lines are skipped; a row with
fewer cells than the header leaves the rest empty, one with more is a bad row.

**vCard** 3.0 or 4.0: ``FN`` (or else ``N``) is the name, and a card with neither is a bad row;
``EMAIL``, ``TEL``, ``ORG`` (its first unit), ``TITLE``, ``URL``, ``NOTE``, ``CATEGORIES``
(tags) and ``UID`` (the external id) fill the other fields; the first ``EMAIL``/``TEL`` marked
preferred wins, else the first one.

**Values.** An empty cell means "not given". A row with an ``external_id`` but no ``source``
gets the ``source`` the import was given, else ``csv``/``vcard``; a ``source`` without an
``external_id`` is a bad row (the two go together, as everywhere else).

**Duplicates** are updated, not doubled: a row is matched to an existing contact of the user,
or to one an earlier row of the same file created, first by ``source`` + ``external_id``, then
by email (ignoring case; with several such contacts, the oldest). On update each given field
overwrites the contact's, except tags, which are added to the contact's own; what the file does
not mention is left alone. A row matched by email to a contact another external id identifies
is a bad row, rather than silently changing that contact's identity.

**Line numbers.** A bad row is reported with its line: CSV counts physical lines with the header
as line 1 (a row spanning lines by quoted newlines is reported at its first line); vCard
reports the line of the card's ``BEGIN:VCARD``.

**All or nothing.** The import is one transaction. With ``on_error=abort`` (the default), any
bad row means nothing is written and every bad row is reported; with ``on_error=skip`` the bad
rows are left out and the others written. ``dry_run`` runs the very same import and rolls it
back, so it answers exactly what the real run would.

**Speed.** Rows are processed in chunks of :data:`CHUNK_ROWS`: per chunk a few batched lookups
(never a query per row), one multi-row INSERT, one multi-row UPDATE (compare-and-set on each
contact's version) and one multi-row INSERT of the ``contact.created``/``contact.updated``
events into the webhook outbox. Chunks already written are visible to the next chunk's lookups
in the same transaction, which is how a file of any size (the CLI streams it) still finds its
own duplicates.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any

import vobject
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic import Field as PydanticField
from sqlmodel import Session

from app.accounts.lock import lock_account
from app.contacts.repository import ContactImportRepository
from app.contacts.schemas import MAX_TAGS, ContactCreate, ContactPublic, Email
from app.kit.db import new_id, utcnow
from app.kit.errors import Conflict, Unprocessable
from app.webhooks.outbox import render_payload
from app.webhooks.schemas import EventType

CSV_COLUMNS = (
    "full_name",
    "email",
    "phone",
    "organization",
    "title",
    "career_field",
    "profile_url",
    "notes",
    "tags",
    "keep_in_touch_days",
    "external_id",
    "source",
)
TAG_SEPARATOR = ";"
CHUNK_ROWS = 5000
# Rows one HTTP request may carry; the command line has no such limit.
MAX_ROWS_PER_REQUEST = 50_000
MAX_REPORTED_ERRORS = 1000
# The fields a file can set; everything else about a contact is the service's to decide.
_WRITABLE = (*CSV_COLUMNS, "archived")


class ImportFormat(StrEnum):
    CSV = "csv"
    VCARD = "vcard"


class OnError(StrEnum):
    """What a bad row does to the import: ``abort`` it whole, or ``skip`` just that row."""

    ABORT = "abort"
    SKIP = "skip"


class ImportRowError(BaseModel):
    """A bad row: where it is in the file, and what is wrong with it."""

    line: int = PydanticField(description="CSV: the row's line (header = 1). vCard: BEGIN line.")
    message: str


class ContactImportResult(BaseModel):
    """What an import did (or, with ``dry_run``, would do). Counts are of rows."""

    created: int = PydanticField(description="Rows that made a new contact.")
    updated: int = PydanticField(description="Rows that changed an existing contact.")
    unchanged: int = PydanticField(description="Rows matching a contact they left as it was.")
    skipped: int = PydanticField(description="Bad rows left out (on_error=skip).")
    errors: list[ImportRowError] = PydanticField(
        description=f"The bad rows, in file order; at most {MAX_REPORTED_ERRORS} are listed."
    )
    error_count: int = PydanticField(description="How many bad rows there were in all.")
    dry_run: bool = PydanticField(description="True when nothing was written.")


@dataclass
class Row:
    """One record of the file: its line and its fields (model names, values given only)."""

    line: int
    fields: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class _BadRow(Exception):
    pass


# --- reading the file -------------------------------------------------------------------------


def decode(body: bytes, charset: str | None = None) -> str:
    """The text of an uploaded file: UTF-8 (a byte-order mark is dropped) unless told otherwise."""
    encoding = charset or "utf-8"
    try:
        codec = codecs.lookup(encoding)
    except LookupError as exc:
        raise Unprocessable(f"Unknown charset {encoding!r}.", code="invalid_encoding") from exc
    if codec.name == "utf-8":
        encoding = "utf-8-sig"
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as exc:
        raise Unprocessable(
            f"The file is not valid {codec.name} text (byte {exc.start} cannot be decoded).",
            code="invalid_encoding",
        ) from exc


def parse(fmt: ImportFormat, lines: Iterable[str]) -> Iterator[Row]:
    """The rows of a file in either format. A bad header is refused here, at once."""
    return parse_csv(lines) if fmt == ImportFormat.CSV else parse_vcard(lines)


def _header_problem(message: str, code: str, **extra: Any) -> Unprocessable:
    return Unprocessable(
        f"{message} The columns are: {', '.join(CSV_COLUMNS)}.",
        code=code,
        errors=[{"line": 1, "message": message}],
        **extra,
    )


def _read_header(header: list[str]) -> list[str]:
    columns: list[str] = []
    for position, raw in enumerate(header, start=1):
        name = raw.strip().lower()
        if not name:
            raise _header_problem(f"Column {position} of the header has no name.", "unnamed_column")
        if name not in CSV_COLUMNS:
            raise _header_problem(
                f"Unknown column {raw.strip()!r} in the header.", "unknown_column", column=raw
            )
        if name in columns:
            raise _header_problem(
                f"Column {name!r} appears twice in the header.", "duplicate_column", column=name
            )
        columns.append(name)
    if "full_name" not in columns:
        raise _header_problem(
            "The header has no full_name column; every contact needs a name.",
            "missing_column",
            column="full_name",
        )
    return columns


def _typed(name: str, value: str) -> Any:
    if name == "tags":
        return [tag.strip() for tag in value.split(TAG_SEPARATOR) if tag.strip()]
    if name == "keep_in_touch_days":
        if not re.fullmatch(r"[+-]?\d{1,9}", value):
            raise _BadRow(f"keep_in_touch_days: {value!r} is not a whole number of days")
        return int(value)
    return value


def parse_csv(lines: Iterable[str]) -> Iterator[Row]:
    """Rows of a CSV file; the header is read (and checked) before this returns."""
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        raise Unprocessable(
            "The file is empty; a CSV import starts with a header row.", code="empty_file"
        ) from None
    except csv.Error as exc:
        raise _header_problem(
            f"The header cannot be read as CSV: {exc}.", "invalid_header"
        ) from exc
    return _csv_rows(reader, _read_header(header))


def _csv_rows(reader: Any, columns: list[str]) -> Iterator[Row]:
    previous = reader.line_num
    while True:
        line = previous + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            stuck = reader.line_num == previous
            previous = reader.line_num
            yield Row(line, error=f"cannot be read as CSV: {exc}")
            if stuck:
                return
            continue
        previous = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(record) > len(columns):
            yield Row(line, error=f"has {len(record)} cells; the header names {len(columns)}")
            continue
        row = Row(line)
        try:
            for name, cell in zip(columns, record, strict=False):
                value = cell.strip()
                if value:
                    row.fields[name] = _typed(name, value)
        except _BadRow as exc:
            row.error = str(exc)
        yield row


_BEGIN = re.compile(r"^begin:vcard\s*$", re.IGNORECASE)
_END = re.compile(r"^end:vcard\s*$", re.IGNORECASE)


def parse_vcard(lines: Iterable[str]) -> Iterator[Row]:
    """One row per card (vCard 3.0 or 4.0), numbered by its BEGIN:VCARD line."""
    start = 0
    depth = 0
    card: list[str] = []
    number = 0
    for number, text in enumerate(lines, start=1):
        bare = text.rstrip("\r\n")
        if depth == 0:
            if _BEGIN.match(bare):
                start, depth, card = number, 1, [bare]
            elif bare.strip():
                yield Row(number, error="text outside a BEGIN:VCARD ... END:VCARD block")
            continue
        card.append(bare)
        if _BEGIN.match(bare):  # a nested card (AGENT), part of this one
            depth += 1
        elif _END.match(bare):
            depth -= 1
            if depth == 0:
                yield _card_row(start, "\r\n".join(card) + "\r\n")
    if depth:
        yield Row(start or number, error="the card has no END:VCARD")


def _first(card: Any, name: str) -> Any:
    """The card's preferred property ``name`` (TYPE=PREF or PREF=1), else its first one."""
    found = card.contents.get(name, [])
    for prop in found:
        types = [str(t).lower() for t in prop.params.get("TYPE", [])]
        if "pref" in types or prop.params.get("PREF"):
            return prop
    return found[0] if found else None


def _text(prop: Any) -> str | None:
    if prop is None:
        return None
    value = prop.value
    if isinstance(value, list):
        value = next((str(v) for v in value if str(v).strip()), "")
    text = str(value).strip()
    return text or None


def _card_row(line: int, text: str) -> Row:
    try:
        card = vobject.readOne(text, ignoreUnreadable=False)
    except Exception as exc:  # vobject raises assorted errors on malformed input
        return Row(line, error=f"the card cannot be read: {exc}")
    name = _text(_first(card, "fn"))
    if name is None and card.contents.get("n"):
        n = card.contents["n"][0].value
        parts = [getattr(n, part, "") for part in ("prefix", "given", "additional", "family")]
        parts.append(getattr(n, "suffix", ""))
        flat = [" ".join(p) if isinstance(p, list) else str(p) for p in parts]
        name = " ".join(p.strip() for p in flat if p and p.strip()) or None
    if name is None:
        return Row(line, error="the card has no name (neither FN nor N)")
    fields: dict[str, Any] = {"full_name": name}
    for prop_name, field_name in (
        ("email", "email"),
        ("tel", "phone"),
        ("org", "organization"),
        ("title", "title"),
        ("url", "profile_url"),
        ("note", "notes"),
        ("uid", "external_id"),
    ):
        value = _text(_first(card, prop_name))
        if value is not None:
            fields[field_name] = value
    tags: list[str] = []
    for prop in card.contents.get("categories", []):
        values = prop.value if isinstance(prop.value, list) else str(prop.value).split(",")
        tags.extend(str(v).strip() for v in values if str(v).strip())
    if tags:
        fields["tags"] = list(dict.fromkeys(tags))
    return Row(line, fields)


def chunks(rows: Iterable[Row], size: int = CHUNK_ROWS) -> Iterator[list[Row]]:
    """The rows in lists of ``size``."""
    chunk: list[Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- writing the contacts ---------------------------------------------------------------------


def _message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        loc = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


_EMAIL: TypeAdapter[str] = TypeAdapter(Email)
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


@lru_cache(maxsize=4096)
def _domain(domain: str) -> str:
    return _EMAIL.validate_python(f"x@{domain}").rpartition("@")[2]


def _email(value: str) -> str:
    """What the contact's ``Email`` type makes of ``value``, or a bad row; fast for thousands.

    Checking the domain is the costly part (IDNA tables, character by character), and the rows
    of a file share a handful of domains: a plain ASCII local part is checked here, and its
    domain once per distinct domain. Anything else takes the full path.
    """
    try:
        local, _, domain = value.rpartition("@")
        if _DOT_ATOM.fullmatch(local) and len(local) <= 64 and len(value) <= 254:
            return f"{local}@{_domain(domain)}"
        return _EMAIL.validate_python(value)
    except ValidationError as exc:
        raise _BadRow("email: " + _message(exc)) from None


Identity = tuple[str, str]


def _identity(values: dict[str, Any]) -> Identity | None:
    if values.get("source") is None or values.get("external_id") is None:
        return None
    return (values["source"], values["external_id"])


def _email_key(values: dict[str, Any]) -> str | None:
    email = values.get("email")
    return email.lower() if email else None


class ContactImporter:
    """Feed it chunks of rows, then ``finish``. One transaction from the first chunk to the end.

    Creating an importer locks the account (see :func:`app.imports.lock_account`).
    """

    def __init__(
        self,
        session: Session,
        owner_id: uuid.UUID,
        *,
        fmt: ImportFormat,
        on_error: OnError = OnError.ABORT,
        dry_run: bool = False,
        source: str | None = None,
    ) -> None:
        self.session = session
        self.owner_id = owner_id
        self.on_error = on_error
        self.dry_run = dry_run
        self.default_source = source or fmt.value
        self.created = self.updated = self.unchanged = 0
        self.errors: list[ImportRowError] = []
        self.error_count = 0
        self.rows = 0
        self.contacts = ContactImportRepository(session)
        lock_account(session, owner_id)

    # -- rows -----------------------------------------------------------------------------

    def _fail(self, line: int, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(ImportRowError(line=line, message=message))

    def _validate(self, row: Row) -> tuple[dict[str, Any], set[str]]:
        """The row's values as a valid contact, and the names of the fields it gives."""
        data = dict(row.fields)
        if "external_id" in data and "source" not in data:
            data["source"] = self.default_source
        email = data.pop("email", None)
        try:
            values = ContactCreate.model_validate(data).model_dump()
        except ValidationError as exc:
            raise _BadRow(_message(exc)) from None
        if email is not None:
            values["email"] = _email(email)
        return values, {*data, *(("email",) if email is not None else ())}

    def feed(self, rows: Sequence[Row]) -> None:
        """Plan and write one chunk of rows."""
        valid: list[tuple[int, dict[str, Any], set[str]]] = []
        for row in rows:
            self.rows += 1
            if row.error is not None:
                self._fail(row.line, row.error)
                continue
            try:
                valid.append((row.line, *self._validate(row)))
            except _BadRow as exc:
                self._fail(row.line, str(exc))
        if valid:
            self._apply(valid)

    # -- lookups ----------------------------------------------------------------------------

    def _lookup(
        self, rows: list[tuple[int, dict[str, Any], set[str]]]
    ) -> tuple[dict[uuid.UUID, dict[str, Any]], dict[Identity, uuid.UUID], dict[str, uuid.UUID]]:
        """The user's contacts any row could match: by external identity, by lower-cased email."""
        emails = sorted({key for _, v, _ in rows if (key := _email_key(v))})
        by_source: dict[str, set[str]] = {}
        for _, values, _ in rows:
            identity = _identity(values)
            if identity:
                by_source.setdefault(identity[0], set()).add(identity[1])
        known: dict[uuid.UUID, dict[str, Any]] = {}
        by_identity: dict[Identity, uuid.UUID] = {}
        by_email: dict[str, uuid.UUID] = {}
        external_ids = {source: sorted(ids) for source, ids in by_source.items()}
        for found in self.contacts.matching(self.owner_id, external_ids, emails):
            contact = known.setdefault(found["id"], dict(found))
            identity = _identity(contact)
            if identity:
                by_identity.setdefault(identity, contact["id"])
            email = _email_key(contact)
            if email:
                # Ordered by id, so with several contacts on one email the oldest wins.
                current = by_email.get(email)
                if current is None or contact["id"] < current:
                    by_email[email] = contact["id"]
        return known, by_identity, by_email

    # -- planning and writing ---------------------------------------------------------------

    def _apply(self, rows: list[tuple[int, dict[str, Any], set[str]]]) -> None:
        known, db_identity, db_email = self._lookup(rows)
        now = utcnow()
        new: dict[uuid.UUID, dict[str, Any]] = {}
        touched: dict[uuid.UUID, dict[str, Any]] = {}  # existing contacts, as they will become
        chunk_identity: dict[Identity, uuid.UUID] = {}
        chunk_email: dict[str, uuid.UUID] = {}

        def current(contact_id: uuid.UUID) -> dict[str, Any]:
            if contact_id in new:
                return new[contact_id]
            if contact_id not in touched:
                touched[contact_id] = dict(known[contact_id])
            return touched[contact_id]

        def still(contact_id: uuid.UUID | None, key: Any, of: Any) -> uuid.UUID | None:
            """A database match, unless an earlier row of this chunk moved the key away."""
            if contact_id is None:
                return None
            state = new.get(contact_id) or touched.get(contact_id) or known[contact_id]
            return contact_id if of(state) == key else None

        for line, values, given in rows:
            identity = _identity(values)
            email = _email_key(values)
            target: uuid.UUID | None = None
            if identity:
                target = chunk_identity.get(identity) or still(
                    db_identity.get(identity), identity, _identity
                )
            if target is None and email:
                target = chunk_email.get(email) or still(db_email.get(email), email, _email_key)
            if target is None:
                contact = {
                    **values,
                    "id": new_id(),
                    "owner_id": self.owner_id,
                    "last_contacted_at": None,
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                new[contact["id"]] = contact
                self.created += 1
            else:
                contact = current(target)
                try:
                    changes = self._changes(contact, values, given, identity)
                except _BadRow as exc:
                    self._fail(line, str(exc))
                    continue
                if changes:
                    contact.update(changes)
                    self.updated += 1
                else:
                    self.unchanged += 1
            if (identity := _identity(contact)) is not None:
                chunk_identity[identity] = contact["id"]
            if (email := _email_key(contact)) is not None:
                chunk_email.setdefault(email, contact["id"])
        self._write(new, touched, known, now)

    @staticmethod
    def _changes(
        contact: dict[str, Any], values: dict[str, Any], given: set[str], identity: Identity | None
    ) -> dict[str, Any]:
        existing = _identity(contact)
        if identity is not None and existing is not None and existing != identity:
            raise _BadRow(
                f"the email matches contact {contact['id']}, which the external id "
                f"{existing[0]}/{existing[1]} identifies, not {identity[0]}/{identity[1]}"
            )
        changes: dict[str, Any] = {}
        for name in given & set(_WRITABLE):
            value = values[name]
            if name == "tags":
                value = list(dict.fromkeys([*contact["tags"], *value]))
                if len(value) > MAX_TAGS:
                    raise _BadRow(
                        f"tags: the contact would have {len(value)} tags; at most {MAX_TAGS}"
                    )
            if contact.get(name) != value:
                changes[name] = value
        return changes

    def _write(
        self,
        new: dict[uuid.UUID, dict[str, Any]],
        touched: dict[uuid.UUID, dict[str, Any]],
        known: dict[uuid.UUID, dict[str, Any]],
        now: Any,
    ) -> None:
        events: list[dict[str, Any]] = []
        if new:
            self.contacts.insert_contacts(list(new.values()))
            events.extend(_event(EventType.CONTACT_CREATED, c, now) for c in new.values())
        changed = [c for cid, c in touched.items() if c != known[cid]]
        if changed:
            # Each row matched by id and the version read: a compare-and-set for every contact.
            written = self.contacts.update_contacts(changed, _WRITABLE, now)
            if written is not None and written != len(changed):
                raise Conflict(
                    "Some of the contacts changed while the import ran; nothing was imported. "
                    "Run it again.",
                    code="concurrent_update",
                )
            for contact in changed:
                contact["version"] += 1
                contact["updated_at"] = now
            events.extend(_event(EventType.CONTACT_UPDATED, c, now) for c in changed)
        if events:
            self.contacts.insert_events(events)

    # -- the end ----------------------------------------------------------------------------

    def result(self) -> ContactImportResult:
        failed = self.on_error == OnError.ABORT and self.error_count > 0
        return ContactImportResult(
            created=0 if failed else self.created,
            updated=0 if failed else self.updated,
            unchanged=0 if failed else self.unchanged,
            skipped=self.error_count if self.on_error == OnError.SKIP else 0,
            errors=self.errors,
            error_count=self.error_count,
            dry_run=self.dry_run or failed,
        )

    def finish(self) -> ContactImportResult:
        """Commit (or, for a dry run or an aborted import, roll back) and say what happened.

        With ``on_error=abort`` and a bad row, raises a 422 ``invalid_rows`` listing them.
        """
        if self.on_error == OnError.ABORT and self.error_count:
            self.session.rollback()
            raise Unprocessable(
                f"{self.error_count} row(s) of the file are not valid, so nothing was imported. "
                "Fix them, or send on_error=skip to import the other rows.",
                code="invalid_rows",
                errors=[e.model_dump() for e in self.errors],
                error_count=self.error_count,
            )
        if self.dry_run:
            self.session.rollback()
        else:
            self.session.commit()
        return self.result()


def _event(kind: EventType, contact: dict[str, Any], now: Any) -> dict[str, Any]:
    """An outbox row announcing the contact, as ``app.webhooks.outbox.emit`` would write it."""
    data = ContactPublic.model_validate(contact).model_dump(mode="json")
    return {
        "id": new_id(),
        "owner_id": contact["owner_id"],
        "type": kind.value,
        "payload": render_payload(kind.value, now.isoformat().replace("+00:00", "Z"), data),
        "created_at": now,
        "dispatched_at": None,
    }


def import_text(
    session: Session,
    owner_id: uuid.UUID,
    text: str,
    fmt: ImportFormat,
    *,
    on_error: OnError = OnError.ABORT,
    dry_run: bool = False,
    source: str | None = None,
    max_rows: int | None = MAX_ROWS_PER_REQUEST,
) -> ContactImportResult:
    """Import a whole file held in memory (an HTTP request body); one transaction."""
    rows = parse(fmt, io.StringIO(text, newline=""))
    importer = ContactImporter(
        session, owner_id, fmt=fmt, on_error=on_error, dry_run=dry_run, source=source
    )
    try:
        for chunk in chunks(rows):
            importer.feed(chunk)
            if max_rows is not None and importer.rows > max_rows:
                raise Unprocessable(
                    f"The file has more than {max_rows} rows; split it, or import it with "
                    "`infoview import-contacts`.",
                    code="too_many_rows",
                )
        return importer.finish()
    except BaseException:
        session.rollback()
        raise
