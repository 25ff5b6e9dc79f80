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

import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import IO, Any, Literal

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic import Field as PydanticField
from sqlmodel import Session

from app.accounts.lock import lock_account
from app.contacts.import_files import (
    CSV_COLUMNS,
    HTTP,
    MULTI_VALUED,
    ContactFile,
    FileFormat,
    Row,
    Spelling,
    open_contact_file,
)
from app.contacts.repository import ContactImportRepository
from app.contacts.schemas import MAX_TAGS, ContactCreate, ContactPublic, Email, ProfileUrl
from app.kit.db import new_id, utcnow
from app.kit.errors import Conflict, Unprocessable
from app.webhooks.outbox import render_payload
from app.webhooks.schemas import EventType

CHUNK_ROWS = 5000
# Rows one HTTP request may carry; the command line has no such limit.
MAX_ROWS_PER_REQUEST = 50_000
MAX_REPORTED_ERRORS = 1000
MAX_REPORTED_WARNINGS = 1000
MAX_REPORTED_ROWS = 1000
# The fields a file can set; everything else about a contact is the service's to decide.
_WRITABLE = (*CSV_COLUMNS, "archived")
# The longest value each text field keeps; a longer one is cut there, with a warning.
_LONGEST = {
    "full_name": 200,
    "organization": 200,
    "title": 200,
    "career_field": 100,
    "notes": 20000,
    "external_id": 255,
    "source": 100,
}
_FURTHER = {"email": "Other email", "phone": "Other phone", "profile_url": "Other website"}


class OnError(StrEnum):
    """What a bad row does to the import: ``abort`` it whole, or ``skip`` just that row."""

    ABORT = "abort"
    SKIP = "skip"


class ImportRowError(BaseModel):
    """A bad row: where it is in the file, and what is wrong with it."""

    line: int = PydanticField(description="CSV: the row's line (header = 1). vCard: BEGIN line.")
    message: str


class ImportWarning(BaseModel):
    """A value that was repaired or left out, while the rest of its row was imported."""

    line: int | None = PydanticField(description="The row's line; null for the whole file.")
    field: str | None = PydanticField(description="The contact field concerned, if one.")
    message: str


class RowOutcome(BaseModel):
    """What one row did (or, with ``dry_run``, would do)."""

    line: int
    action: Literal["created", "updated", "unchanged", "skipped"]
    contact_id: uuid.UUID | None = PydanticField(
        description="The contact the row made or matched; null for a skipped row or a dry run "
        "that would create one."
    )
    full_name: str | None
    possible_duplicate_of: uuid.UUID | None = PydanticField(
        default=None,
        description="A contact with the same email and another name: the row made a new "
        "contact rather than change that one.",
    )


class ContactImportResult(BaseModel):
    """What an import did (or, with ``dry_run``, would do). Counts are of rows."""

    format: str = PydanticField(
        description="How the file was read: infoview, linkedin, google, google_legacy, "
        "outlook, vcard or mapped."
    )
    encoding: str = PydanticField(description="The encoding the file was read in.")
    delimiter: str | None = PydanticField(description="CSV: the delimiter; null for vCard.")
    created: int = PydanticField(description="Rows that made a new contact.")
    updated: int = PydanticField(description="Rows that changed an existing contact.")
    unchanged: int = PydanticField(description="Rows matching a contact they left as it was.")
    skipped: int = PydanticField(description="Bad rows left out (on_error=skip).")
    flagged: int = PydanticField(
        description="Rows made into a new contact although another contact has their email "
        "(a shared family or office address): possible duplicates for the user to look at."
    )
    errors: list[ImportRowError] = PydanticField(
        description=f"The bad rows, in file order; at most {MAX_REPORTED_ERRORS} are listed."
    )
    error_count: int = PydanticField(description="How many bad rows there were in all.")
    warnings: list[ImportWarning] = PydanticField(
        description="Values repaired or left out while their rows were imported, in file "
        f"order; at most {MAX_REPORTED_WARNINGS} are listed."
    )
    warning_count: int = PydanticField(description="How many warnings there were in all.")
    rows: list[RowOutcome] = PydanticField(
        description=f"What each row did, in file order; the first {MAX_REPORTED_ROWS}."
    )
    dry_run: bool = PydanticField(description="True when nothing was written.")


class _BadRow(Exception):
    pass


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


def _name_key(values: dict[str, Any]) -> str:
    """A name as matching compares it: case, accents' composition and spacing aside."""
    return " ".join(str(values.get("full_name") or "").casefold().split())


_PROFILE_URL: TypeAdapter[str] = TypeAdapter(ProfileUrl)
_BARE_HOST = re.compile(r"^[\w-]+(\.[\w-]+)+(:\d+)?([/?#].*)?$")


def _profile_url(value: str) -> str:
    """A website as a contact keeps it: ``www.x.com`` gets ``https://``, ``https\\://`` its
    colon back. Raises ValueError for anything that is still no http(s) URL."""
    url = value.strip().replace("\\:", ":")
    if "://" not in url and _BARE_HOST.match(url):
        url = "https://" + url
    return str(_PROFILE_URL.validate_python(url))


def _phone(value: str) -> str:
    phone = " ".join(value.split())
    if not any(ch.isdigit() for ch in phone) or len(phone) > 50:
        raise ValueError("is not a phone number")
    return phone


def _repair(name: str, value: str) -> str:
    """The value of a multi-valued field as the contact keeps it; ValueError when unusable."""
    if name == "email":
        try:
            return _email(value.strip().removeprefix("mailto:"))
        except _BadRow as exc:
            raise ValueError(str(exc).removeprefix("email: ")) from None
    if name == "phone":
        return _phone(value)
    try:
        return _profile_url(value)
    except ValidationError as exc:
        raise ValueError(_message(exc).lstrip(": ")) from None


@dataclass
class _Planned:
    """A valid row, ready to be matched: its values and the fields it gives."""

    line: int
    values: dict[str, Any]
    given: set[str]
    outcome: RowOutcome


class ContactImporter:
    """Feed it chunks of rows, then ``finish``. One transaction from the first chunk to the end.

    Creating an importer locks the account (see :func:`app.imports.lock_account`).
    """

    def __init__(
        self,
        session: Session,
        owner_id: uuid.UUID,
        *,
        fmt: FileFormat | str = FileFormat.AUTO,
        on_error: OnError = OnError.ABORT,
        dry_run: bool = False,
        source: str | None = None,
        spelling: Spelling = HTTP,
    ) -> None:
        self.session = session
        self.owner_id = owner_id
        self.on_error = on_error
        self.dry_run = dry_run
        self.spelling = spelling
        self.format = str(fmt)
        self.encoding = "utf-8"
        self.delimiter: str | None = None
        kind = "vcard" if self.format == "vcard" else "csv"
        self.default_source = source or kind
        self.created = self.updated = self.unchanged = self.flagged = 0
        self.errors: list[ImportRowError] = []
        self.error_count = 0
        self.warnings: list[ImportWarning] = []
        self.warning_count = 0
        self.outcomes: list[RowOutcome] = []
        self.rows = 0
        self.contacts = ContactImportRepository(session)
        lock_account(session, owner_id)

    def describe(self, file: ContactFile) -> None:
        """Take the file's format, encoding, delimiter and notices into the result."""
        self.format = file.format.value
        self.encoding = file.encoding.name
        self.delimiter = file.delimiter
        for notice in file.notices:
            self._warn(None, None, notice)

    # -- rows -----------------------------------------------------------------------------

    def _fail(self, line: int, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(ImportRowError(line=line, message=message))
        self._outcome(RowOutcome(line=line, action="skipped", contact_id=None, full_name=None))

    def _warn(self, line: int | None, name: str | None, message: str) -> None:
        self.warning_count += 1
        if len(self.warnings) < MAX_REPORTED_WARNINGS:
            self.warnings.append(ImportWarning(line=line, field=name or None, message=message))

    def _outcome(self, outcome: RowOutcome) -> None:
        if len(self.outcomes) < MAX_REPORTED_ROWS:
            self.outcomes.append(outcome)

    def _validate(self, row: Row) -> tuple[dict[str, Any], set[str]]:
        """The row's values as a valid contact, and the names of the fields it gives.

        Forgiving per field: a value that cannot be used is repaired or left out, with a
        warning, and the contact is still imported. Only a row without a usable name is bad.
        """
        line = row.line
        for name, message in row.notices:
            self._warn(line, name, message)
        data = {k: v for k, v in row.fields.items() if v is not None}
        name = str(data.get("full_name") or "").strip()
        if not name:
            raise _BadRow("the row has no name; every contact needs one")
        for key, longest in _LONGEST.items():
            value = data.get(key)
            if isinstance(value, str) and len(value) > longest:
                data[key] = value[:longest].rstrip()
                self._warn(line, key, f"longer than {longest} characters; cut there")
        further: list[str] = []
        for key in MULTI_VALUED:
            candidates = [data.pop(key)] if key in data else []
            chosen: str | None = None
            for value in [*candidates, *row.more.get(key, [])]:
                try:
                    fixed = _repair(key, value)
                except ValueError as exc:
                    self._warn(line, key, f"{value[:80]!r} {exc}; left out")
                    continue
                if chosen is None:
                    chosen = fixed
                elif fixed != chosen:
                    further.append(f"{_FURTHER[key]}: {fixed}")
            if chosen is not None:
                data[key] = chosen
        if further:
            notes = str(data.get("notes") or "")
            added = "\n".join([notes, *further] if notes else further)
            if len(added) <= _LONGEST["notes"]:
                data["notes"] = added
            else:
                self._warn(line, "notes", "no room in the notes for: " + "; ".join(further))
        tags = data.get("tags")
        if tags:
            usable = [t for t in tags if len(t) <= 50]
            if len(usable) < len(tags):
                self._warn(line, "tags", "tags longer than 50 characters were left out")
            if len(usable) > MAX_TAGS:
                self._warn(line, "tags", f"{len(usable)} tags; the first {MAX_TAGS} were kept")
                usable = usable[:MAX_TAGS]
            data["tags"] = usable
        if "external_id" in data and "source" not in data:
            data["source"] = self.default_source
        if "source" in data and "external_id" not in data:
            self._warn(line, "source", "a source without an external_id says nothing; left out")
            del data["source"]
        email = data.pop("email", None)
        for _ in range(len(data) + 1):
            try:
                values = ContactCreate.model_validate(data).model_dump()
                break
            except ValidationError as exc:
                bad = {str(e["loc"][0]) for e in exc.errors() if e.get("loc")}
                if not bad or "full_name" in bad:
                    raise _BadRow(_message(exc)) from None
                if bad & {"external_id", "source"}:
                    bad |= {"external_id", "source"}  # the two go together
                for err in exc.errors():
                    key = str(err["loc"][0]) if err.get("loc") else ""
                    if key in data:
                        message = str(err.get("msg", "")).removeprefix("Value error, ")
                        self._warn(line, key, f"{message}; left out")
                for key in bad:
                    data.pop(key, None)
        else:  # pragma: no cover - every pass removes a field
            raise _BadRow("the row cannot be read")
        if email is not None:
            values["email"] = email
        return values, {*data, *(("email",) if email is not None else ())}

    def feed(self, rows: Sequence[Row]) -> None:
        """Plan and write one chunk of rows."""
        valid: list[_Planned] = []
        for row in rows:
            self.rows += 1
            if row.error is not None:
                self._fail(row.line, row.error)
                continue
            try:
                values, given = self._validate(row)
            except _BadRow as exc:
                self._fail(row.line, str(exc))
                continue
            outcome = RowOutcome(
                line=row.line, action="created", contact_id=None, full_name=values["full_name"]
            )
            self._outcome(outcome)
            valid.append(_Planned(row.line, values, given, outcome))
        if valid:
            self._apply(valid)

    # -- lookups ----------------------------------------------------------------------------

    def _lookup(
        self, rows: list[_Planned]
    ) -> tuple[
        dict[uuid.UUID, dict[str, Any]],
        dict[Identity, uuid.UUID],
        dict[str, list[uuid.UUID]],
        dict[str, list[uuid.UUID]],
    ]:
        """The user's contacts any row could match: by external identity, by lower-cased email."""
        emails = sorted({key for r in rows if (key := _email_key(r.values))})
        names = sorted(
            {
                r.values["full_name"]
                for r in rows
                if not _email_key(r.values) and not _identity(r.values)
            }
        )
        by_source: dict[str, set[str]] = {}
        for r in rows:
            identity = _identity(r.values)
            if identity:
                by_source.setdefault(identity[0], set()).add(identity[1])
        known: dict[uuid.UUID, dict[str, Any]] = {}
        by_identity: dict[Identity, uuid.UUID] = {}
        by_email: dict[str, list[uuid.UUID]] = {}
        by_name: dict[str, list[uuid.UUID]] = {}
        external_ids = {source: sorted(ids) for source, ids in by_source.items()}
        for found in self.contacts.matching(self.owner_id, external_ids, emails, names):
            if found["id"] in known:
                continue
            contact = known.setdefault(found["id"], dict(found))
            identity = _identity(contact)
            if identity:
                by_identity.setdefault(identity, contact["id"])
            email = _email_key(contact)
            if email:
                by_email.setdefault(email, []).append(contact["id"])
            elif identity is None:
                by_name.setdefault(contact["full_name"], []).append(contact["id"])
        for ids in (*by_email.values(), *by_name.values()):
            ids.sort()  # the oldest first
        return known, by_identity, by_email, by_name

    # -- planning and writing ---------------------------------------------------------------

    def _apply(self, rows: list[_Planned]) -> None:
        """Match each row: by source + external id, else by email *and* name.

        The same email under another name is somebody else (a shared family or office
        address): a new contact, flagged as a possible duplicate, never an overwrite.
        """
        known, db_identity, db_email, db_name = self._lookup(rows)
        claimed: set[uuid.UUID] = set()  # matched by name already: one row each
        now = utcnow()
        new: dict[uuid.UUID, dict[str, Any]] = {}
        touched: dict[uuid.UUID, dict[str, Any]] = {}  # existing contacts, as they will become
        chunk_identity: dict[Identity, uuid.UUID] = {}
        chunk_email: dict[str, list[uuid.UUID]] = {}

        def state(contact_id: uuid.UUID) -> dict[str, Any]:
            return new.get(contact_id) or touched.get(contact_id) or known[contact_id]

        def current(contact_id: uuid.UUID) -> dict[str, Any]:
            if contact_id in new:
                return new[contact_id]
            if contact_id not in touched:
                touched[contact_id] = dict(known[contact_id])
            return touched[contact_id]

        for planned in rows:
            values, outcome = planned.values, planned.outcome
            identity = _identity(values)
            email = _email_key(values)
            target: uuid.UUID | None = None
            duplicate_of: uuid.UUID | None = None
            if identity:
                target = chunk_identity.get(identity)
                found = db_identity.get(identity)
                if target is None and found is not None and _identity(state(found)) == identity:
                    target = found
            if target is None and email:
                # Contacts holding this email now: this file's first, then the database's.
                seen = [*chunk_email.get(email, []), *db_email.get(email, [])]
                holders = [c for c in dict.fromkeys(seen) if _email_key(state(c)) == email]
                same = [
                    cid
                    for cid in holders
                    if _name_key(state(cid)) == _name_key(values)
                    and (identity is None or _identity(state(cid)) in (None, identity))
                ]
                if same:
                    target = same[0]
                elif holders:
                    duplicate_of = holders[0]
            if target is None and not email and not identity:
                # Nothing but a name (a file imported again): a contact of before this import
                # with that name, no email or identity, and the same organization.
                target = next(
                    (
                        cid
                        for cid in db_name.get(values["full_name"], [])
                        if cid not in claimed
                        and not _email_key(state(cid))
                        and _identity(state(cid)) is None
                        and state(cid)["full_name"] == values["full_name"]
                        and state(cid).get("organization") == values.get("organization")
                    ),
                    None,
                )
                if target is not None:
                    claimed.add(target)
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
                if duplicate_of is not None:
                    self.flagged += 1
                    outcome.possible_duplicate_of = duplicate_of
            else:
                contact = current(target)
                changes = self._changes(planned.line, contact, values, planned.given)
                if changes:
                    contact.update(changes)
                    self.updated += 1
                    outcome.action = "updated"
                else:
                    self.unchanged += 1
                    outcome.action = "unchanged"
            outcome.contact_id = None if self.dry_run and target is None else contact["id"]
            if (identity := _identity(contact)) is not None:
                chunk_identity[identity] = contact["id"]
            if (email := _email_key(contact)) is not None:
                holders = chunk_email.setdefault(email, [])
                if contact["id"] not in holders:
                    holders.append(contact["id"])
        self._write(new, touched, known, now)

    def _changes(
        self, line: int, contact: dict[str, Any], values: dict[str, Any], given: set[str]
    ) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        for name in given & set(_WRITABLE):
            value = values[name]
            if name == "tags":
                value = list(dict.fromkeys([*contact["tags"], *value]))
                if len(value) > MAX_TAGS:
                    self._warn(
                        line,
                        "tags",
                        f"the contact would have {len(value)} tags; the first {MAX_TAGS} kept",
                    )
                    value = value[:MAX_TAGS]
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
            format=self.format,
            encoding=self.encoding,
            delimiter=self.delimiter,
            created=0 if failed else self.created,
            updated=0 if failed else self.updated,
            unchanged=0 if failed else self.unchanged,
            skipped=self.error_count if self.on_error == OnError.SKIP else 0,
            flagged=0 if failed else self.flagged,
            errors=self.errors,
            error_count=self.error_count,
            warnings=self.warnings,
            warning_count=self.warning_count,
            rows=[] if failed else self.outcomes,
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
                f"Fix them, or {self.spelling.skip} to import the other rows.",
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


def import_file(
    session: Session,
    owner_id: uuid.UUID,
    raw: IO[bytes],
    *,
    charset: str | None = None,
    fmt: FileFormat = FileFormat.AUTO,
    mapping: dict[str, str] | None = None,
    on_error: OnError = OnError.ABORT,
    dry_run: bool = False,
    source: str | None = None,
    max_rows: int | None = MAX_ROWS_PER_REQUEST,
    spelling: Spelling = HTTP,
    progress: Any = None,
) -> ContactImportResult:
    """Import a whole file (seekable, binary): one transaction, read as it streams past.

    ``progress``, if given, is called with the importer after each chunk.
    """
    try:
        file = open_contact_file(raw, charset=charset, fmt=fmt, mapping=mapping, spelling=spelling)
        importer = ContactImporter(
            session,
            owner_id,
            fmt=file.format,
            on_error=on_error,
            dry_run=dry_run,
            source=source,
            spelling=spelling,
        )
        importer.describe(file)
        for chunk in chunks(file.rows):
            importer.feed(chunk)
            if progress is not None:
                progress(importer)
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
