"""Everything a user owns as one JSON document, and that document loaded into an empty account.

**Export.** ``stream_export`` yields the document in chunks while it reads the database in
keyset batches of :data:`BATCH` rows (by id, on the ``(owner_id, id)`` indexes), so memory
stays flat however big the account is. It reads one consistent snapshot: a REPEATABLE READ
transaction on PostgreSQL, one read transaction on SQLite. The document::

    {"format": "infoview-export", "version": 1, "exported_at": "...",
     "user": {"id", "email", "full_name", "time_zone"},
     "contacts": [...], "referrals": [...],
     "interviews": [{..., "checklist": {...}, "events": [...]}],
     "letters": [...], "documents": [...], "interactions": [...], "templates": [...]}

Records carry their ids, so the references between them (``contact_id``, ``referrer_id``,
``interview_id`` …) can be followed; ``templates`` is present only when the server keeps letter
templates (a ``letter_template`` table). Credentials are not part of an export: personal access
tokens, webhook subscriptions and their secrets, the calendar feed token.

A failure after the first chunk has gone out can only cut the stream short: the client then
holds JSON that does not parse, never a document that looks whole but is not.

**Import.** ``import_document`` loads such a document into an account that has none of these
records yet (otherwise 409 ``account_not_empty``). It is a restore, not a replay: it bypasses
the workflow guards and the letter rules on purpose, keeping every state, state time, event,
sent letter and ``created_at``/``updated_at`` exactly as exported. What it does not keep:

- ids: every record gets a new one (issued in the order of the old ones, so lists keep their
  order) and every reference is remapped; an event whose ``actor`` was the exporting user
  becomes the importing user;
- ``version`` starts again at 1 (ETags are per server);
- ``last_contacted_at`` is derived again from the imported letters, interviews and
  interactions;
- no webhook events are emitted: nothing new happened.

The whole document is checked before anything is written — its shape by the request model,
then every reference, pair and external id across records — and any problem is a 422 whose
``errors[].loc`` is the JSON path of the offending value (``["body", "letters", 3,
"recipient_id"]``). Then it is written in one transaction. Request bodies are limited to
1 MiB (``INFOVIEW_MAX_BODY_BYTES``), which bounds the size of an account that can be imported;
documents travel whole, their bytes in base64 (:mod:`app.documents.transfer`), so an account
with documents needs a bigger limit to come back in.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    StrictBool,
    StringConstraints,
    model_validator,
)
from pydantic import Field as PydanticField
from sqlalchemy import Engine
from sqlmodel import Session

from app.accounts.lock import lock_account
from app.accounts.repository import (
    AccountDataRepository,
    UserRepository,
    keeps_templates,
    open_snapshot,
)
from app.contacts.schemas import (
    CareerField,
    Email,
    ExternalId,
    FullName,
    KeepInTouchDays,
    Notes,
    Organization,
    Phone,
    ProfileUrl,
    Source,
    Tags,
    Title,
)
from app.documents import transfer as document_transfer
from app.documents.transfer import DocumentRecord
from app.interviews.schemas import InterviewQuestion
from app.interviews.workflow import CHECKLIST_ITEMS, ENTERED_AT, answered
from app.kit.bodies import checked_list
from app.kit.db import new_id, utcnow
from app.kit.errors import AppError, Conflict, NotFound, Unprocessable
from app.kit.schemas import Timestamp, Whole, together
from app.kit.times import TimeZoneName
from app.letters.schemas import MAX_ATTACHMENTS
from app.referrals import service as referral_service
from app.referrals.schemas import ReferredOn
from app.vocabulary import (
    Channel,
    Decision,
    Direction,
    InteractionKind,
    InterviewMode,
    InterviewState,
    LetterKind,
    LetterStatus,
    Outcome,
    Relationship,
)

FORMAT = "infoview-export"
VERSION = 1
BATCH = 500
MAX_RECORDS = 100_000
RowMap = Mapping[Any, Any]
MAX_REPORTED_ERRORS = 100

# --- the document -----------------------------------------------------------------------------


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _together(external_id: str | None, source: str | None) -> None:
    if (external_id is None) != (source is None):
        raise ValueError("external_id and source go together: give both or neither")


class ExportUser(_Record):
    """Whose account the document was exported from (not imported: the caller's stays)."""

    id: uuid.UUID | None = None
    email: Annotated[str, StringConstraints(max_length=320)]
    full_name: Annotated[str, StringConstraints(max_length=200)] | None = None
    time_zone: TimeZoneName | None = None


class ContactRecord(_Record):
    """A contact. ``last_contacted_at`` is informative: an import derives it again."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=together("external_id", "source"))

    id: uuid.UUID
    full_name: FullName
    email: Email | None = None
    phone: Phone | None = None
    organization: Organization | None = None
    title: Title | None = None
    career_field: CareerField | None = None
    profile_url: ProfileUrl | None = None
    notes: Notes | None = None
    tags: Tags = PydanticField(default_factory=list)
    external_id: ExternalId | None = None
    source: Source | None = None
    keep_in_touch_days: KeepInTouchDays | None = None
    last_contacted_at: Timestamp | None = None
    archived: StrictBool = False
    time_zone: TimeZoneName | None = None
    created_at: Timestamp
    updated_at: Timestamp

    @model_validator(mode="after")
    def _identity_is_whole(self) -> ContactRecord:
        _together(self.external_id, self.source)
        return self


class ReferralRecord(_Record):
    """A referral between two contacts of the document."""

    id: uuid.UUID
    referrer_id: uuid.UUID
    referred_id: uuid.UUID
    relationship: Relationship
    notes: Notes | None = None
    referred_on: ReferredOn | None = None
    interview_id: uuid.UUID | None = PydanticField(
        default=None, description="The interview of the document at which the lead was given."
    )
    created_at: Timestamp
    updated_at: Timestamp


Note = Annotated[str, StringConstraints(max_length=2000)]


class ChecklistItemRecord(_Record):
    done: StrictBool = False
    done_at: Timestamp | None = None
    note: Note | None = None


class OpeningStatementRecord(ChecklistItemRecord):
    text: Annotated[str, StringConstraints(max_length=5000)] | None = None


class ChecklistRecord(_Record):
    """An interview's preparation checklist, item by item."""

    research: ChecklistItemRecord = PydanticField(default_factory=ChecklistItemRecord)
    website: ChecklistItemRecord = PydanticField(default_factory=ChecklistItemRecord)
    self_assessment: ChecklistItemRecord = PydanticField(default_factory=ChecklistItemRecord)
    opening_statement: OpeningStatementRecord = PydanticField(
        default_factory=OpeningStatementRecord
    )
    attire: ChecklistItemRecord = PydanticField(default_factory=ChecklistItemRecord)
    updated_at: Timestamp


class EventRecord(_Record):
    """One recorded workflow move. ``actor`` is whoever made it (a user id)."""

    from_state: InterviewState
    to_state: InterviewState
    at: Timestamp
    actor: Annotated[str, StringConstraints(max_length=100)]
    reason: Annotated[str, StringConstraints(max_length=2000)] | None = None


Text20k = Annotated[str, StringConstraints(max_length=20000)]


def _interview_record_schema(schema: dict[str, Any]) -> None:
    """The document states the record's two rules: external_id with source, and the time the
    interview entered its state (the workflow's ``ENTERED_AT``)."""
    together("external_id", "source")(schema)
    schema["dependentSchemas"]["state"] = {
        "anyOf": [
            {
                "required": ["state", entered],
                "properties": {"state": {"const": state.value}, entered: {"type": "string"}},
            }
            for state, entered in ENTERED_AT.items()
        ]
    }


class InterviewRecord(_Record):
    """An interview, in whatever state it reached, with its checklist and its history."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_interview_record_schema)

    id: uuid.UUID
    contact_id: uuid.UUID
    referral_id: uuid.UUID | None = None
    mode: InterviewMode
    scheduled_at: Timestamp | None = None
    duration_minutes: Annotated[int, Whole(ge=1, le=1440)] | None = None
    location: Annotated[str, StringConstraints(max_length=2048)] | None = None
    career_field: Annotated[str, StringConstraints(max_length=100)] | None = None
    organization: Annotated[str, StringConstraints(max_length=200)] | None = None
    state: InterviewState
    requested_at: Timestamp
    prepared_at: Timestamp | None = None
    held_at: Timestamp | None = None
    thanked_at: Timestamp | None = None
    reported_back_at: Timestamp | None = None
    cancelled_at: Timestamp | None = None
    cancel_reason: Annotated[str, StringConstraints(max_length=2000)] | None = None
    notes: Text20k | None = None
    questions: list[InterviewQuestion] = PydanticField(default_factory=list, max_length=100)
    advice: Text20k | None = None
    next_steps: Text20k | None = None
    decision: Decision = Decision.UNDECIDED
    external_id: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    source: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    created_at: Timestamp
    updated_at: Timestamp
    checklist: ChecklistRecord
    events: list[EventRecord] = PydanticField(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _consistent(self) -> InterviewRecord:
        _together(self.external_id, self.source)
        entered = ENTERED_AT[self.state]
        if getattr(self, entered) is None:
            raise ValueError(f"an interview in state {self.state.value} needs {entered}")
        return self


def _letter_record_schema(schema: dict[str, Any]) -> None:
    """The document states the record's two rules: external_id with source, and sent_at with
    a sent letter only."""
    together("external_id", "source")(schema)
    schema["dependentSchemas"]["status"] = {
        "anyOf": [
            {
                "required": ["status", "sent_at"],
                "properties": {
                    "status": {"const": LetterStatus.SENT.value},
                    "sent_at": {"type": "string"},
                },
            },
            {
                "properties": {
                    "status": {"not": {"const": LetterStatus.SENT.value}},
                    "sent_at": {"type": "null"},
                }
            },
        ]
    }


class LetterRecord(_Record):
    """A letter, draft or sent; a sent one has its ``sent_at``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_letter_record_schema)

    id: uuid.UUID
    kind: LetterKind
    recipient_id: uuid.UUID
    interview_id: uuid.UUID | None = None
    channel: Channel = Channel.EMAIL
    subject: Annotated[str, StringConstraints(max_length=300)] | None = None
    body: Annotated[str, StringConstraints(max_length=50000)] = ""
    status: LetterStatus
    sent_at: Timestamp | None = None
    attachment_ids: list[uuid.UUID] = PydanticField(
        default_factory=list, max_length=MAX_ATTACHMENTS
    )
    external_id: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    source: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    created_at: Timestamp
    updated_at: Timestamp

    @model_validator(mode="after")
    def _consistent(self) -> LetterRecord:
        _together(self.external_id, self.source)
        if (self.status == LetterStatus.SENT) != (self.sent_at is not None):
            raise ValueError("a sent letter has sent_at, and a draft has none")
        return self


class InteractionRecord(_Record):
    """A call, voicemail, meeting, message or reply, with what it was about."""

    id: uuid.UUID
    contact_id: uuid.UUID
    interview_id: uuid.UUID | None = None
    letter_id: uuid.UUID | None = None
    kind: InteractionKind
    direction: Direction
    outcome: Outcome | None = None
    occurred_at: Timestamp
    notes: Text20k | None = None
    created_at: Timestamp
    updated_at: Timestamp


class TemplateRecord(_Record):
    """A user's own letter template for one kind of letter."""

    id: uuid.UUID
    kind: LetterKind
    source: Annotated[str, StringConstraints(min_length=1, max_length=20000)]
    created_at: Timestamp
    updated_at: Timestamp


def _records(item: Any) -> Any:
    # Checked one record at a time, and only until a problem's worth of errors is found.
    return Annotated[
        checked_list(item, max_length=MAX_RECORDS), PydanticField(default_factory=list)
    ]


class AccountDocument(_Record):
    """A whole account as ``GET /export`` writes it and ``POST /import`` reads it."""

    format: Literal["infoview-export"]
    version: Literal[1]
    exported_at: Timestamp
    user: ExportUser
    contacts: _records(ContactRecord)  # type: ignore[valid-type]
    referrals: _records(ReferralRecord)  # type: ignore[valid-type]
    interviews: _records(InterviewRecord)  # type: ignore[valid-type]
    letters: _records(LetterRecord)  # type: ignore[valid-type]
    documents: list[DocumentRecord] = PydanticField(
        default_factory=list,
        max_length=document_transfer.MAX_DOCUMENTS,
        description="Your documents, each with its bytes in base64.",
    )
    interactions: _records(InteractionRecord)  # type: ignore[valid-type]
    templates: list[TemplateRecord] | None = PydanticField(
        default=None,
        max_length=100,
        description="Your own letter templates (one per kind), when the server keeps them.",
    )


class ImportSummary(BaseModel):
    """How many records of each kind the import created."""

    contacts: int
    referrals: int
    interviews: int
    events: int
    letters: int
    templates: int
    documents: int = 0
    interactions: int = 0


# --- export -----------------------------------------------------------------------------------


def _dumps(value: Any) -> bytes:
    """One record as compact UTF-8 JSON: datetimes in ISO 8601 with ``Z`` for UTC, dates and
    ids as strings. orjson writes them itself, several times faster than the standard library,
    which leaves the thread streaming an export less time holding the interpreter."""
    return orjson.dumps(value, option=orjson.OPT_UTC_Z)


_CONTACT_FIELDS = tuple(ContactRecord.model_fields)
_REFERRAL_FIELDS = tuple(ReferralRecord.model_fields)
_INTERVIEW_FIELDS = tuple(
    f for f in InterviewRecord.model_fields if f not in ("checklist", "events")
)
_EVENT_FIELDS = tuple(EventRecord.model_fields)
_LETTER_FIELDS = tuple(LetterRecord.model_fields)
_INTERACTION_FIELDS = tuple(InteractionRecord.model_fields)


def _pick(row: RowMap, fields: Sequence[str]) -> dict[str, Any]:
    return {name: row[name] for name in fields}


def _checklist(row: RowMap | None) -> dict[str, Any]:
    if row is None:  # created with every interview; absent only if the data was damaged
        return {"updated_at": utcnow()}
    items: dict[str, Any] = {
        item: {
            "done": bool(row[f"{item}_done"]),
            "done_at": row[f"{item}_done_at"],
            "note": row[f"{item}_note"],
        }
        for item in CHECKLIST_ITEMS
    }
    items["opening_statement"]["text"] = row["opening_statement_text"]
    items["updated_at"] = row["updated_at"]
    return items


def _interview_batch(records: AccountDataRepository, rows: Sequence[RowMap]) -> list[bytes]:
    ids = [row["id"] for row in rows]
    checklists = {row["interview_id"]: row for row in records.checklists(ids)}
    events: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for row in records.events(ids):
        events.setdefault(row["interview_id"], []).append(_pick(row, _EVENT_FIELDS))
    return [
        _dumps(
            {
                **_pick(row, _INTERVIEW_FIELDS),
                "checklist": _checklist(checklists.get(row["id"])),
                "events": events.get(row["id"], []),
            }
        )
        for row in rows
    ]


def _simple(fields: Sequence[str]) -> Any:
    def encode(_records: AccountDataRepository, rows: Sequence[RowMap]) -> list[bytes]:
        return [_dumps(_pick(row, fields)) for row in rows]

    return encode


def _letters(_records: AccountDataRepository, rows: Sequence[RowMap]) -> list[bytes]:
    return [
        _dumps({**_pick(row, _LETTER_FIELDS), "attachment_ids": row["attachment_ids"] or []})
        for row in rows
    ]


def _documents(_records: AccountDataRepository, rows: Sequence[RowMap]) -> list[bytes]:
    return [_dumps(document_transfer.exported(row)) for row in rows]


def _section(
    records: AccountDataRepository,
    owner_id: uuid.UUID,
    name: str,
    encode: Any,
    size: int = BATCH,
) -> Iterator[bytes]:
    """``,"name":[...]`` one batch of ``size`` records per chunk."""
    yield f',"{name}":['.encode()
    first = True
    for rows in records.batches(name, owner_id, size=size):
        encoded = encode(records, rows)
        yield (b"" if first else b",") + b",".join(encoded)
        first = False
    yield b"]"


def stream_export(engine: Engine, owner_id: uuid.UUID) -> Iterator[bytes]:
    """The export document of ``owner_id``, in chunks of about ``BATCH`` records each."""
    session = open_snapshot(engine)
    try:
        records = AccountDataRepository(session)
        user = UserRepository(session).get(owner_id)
        if user is None:
            raise NotFound("The account no longer exists.", code="user_not_found")
        head = {
            "format": FORMAT,
            "version": VERSION,
            "exported_at": utcnow(),
            "user": {
                "id": user.id,
                "email": user.email,
                "full_name": user.full_name,
                "time_zone": user.time_zone,
            },
        }
        yield _dumps(head)[:-1]  # the object stays open for the sections
        yield from _section(records, owner_id, "contacts", _simple(_CONTACT_FIELDS))
        yield from _section(records, owner_id, "referrals", _simple(_REFERRAL_FIELDS))
        yield from _section(records, owner_id, "interviews", _interview_batch)
        yield from _section(records, owner_id, "letters", _letters)
        # A few at a time: each may be megabytes.
        yield from _section(
            records, owner_id, "documents", _documents, size=document_transfer.EXPORT_BATCH
        )
        yield from _section(records, owner_id, "interactions", _simple(_INTERACTION_FIELDS))
        if keeps_templates():
            fields = tuple(TemplateRecord.model_fields)
            yield from _section(records, owner_id, "templates", _simple(fields))
        yield b"}"
    finally:
        session.close()


# --- import -----------------------------------------------------------------------------------

Loc = list[str | int]


class _Problems:
    """The document's problems, each at the JSON path of the value at fault."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, loc: Loc, msg: str, kind: str) -> None:
        self.items.append({"loc": ["body", *loc], "msg": msg, "type": kind})


def _unique(
    problems: _Problems, section: str, index: int, seen: set[Any], key: Any, field: str, what: str
) -> None:
    if key in seen:
        problems.add(
            [section, index, field],
            f"another record of {section} has this {what}",
            f"duplicate_{field}",
        )
    seen.add(key)


def _check_references(doc: AccountDocument, problems: _Problems) -> None:
    """Ids unique, references inside the document, pairs and external ids unique."""
    contacts: set[uuid.UUID] = set()
    identities: set[Any] = set()
    for i, contact in enumerate(doc.contacts):
        _unique(problems, "contacts", i, contacts, contact.id, "id", "id")
        if contact.source is not None:
            key = (contact.source, contact.external_id)
            _unique(
                problems, "contacts", i, identities, key, "external_id", "source and external_id"
            )

    referred: dict[uuid.UUID, uuid.UUID] = {}
    pairs: set[Any] = set()
    for i, referral in enumerate(doc.referrals):
        if referral.id in referred:
            problems.add(
                ["referrals", i, "id"], "another record of referrals has this id", "duplicate_id"
            )
        referred.setdefault(referral.id, referral.referred_id)
        for field in ("referrer_id", "referred_id"):
            if getattr(referral, field) not in contacts:
                problems.add(
                    ["referrals", i, field], "names no contact of the document", "invalid_reference"
                )
        if referral.referrer_id == referral.referred_id:
            problems.add(["referrals", i, "referred_id"], "equals referrer_id", "self_referral")
        _unique(
            problems,
            "referrals",
            i,
            pairs,
            (referral.referrer_id, referral.referred_id),
            "referred_id",
            "referrer and referred pair",
        )

    interviews: set[uuid.UUID] = set()
    identities = set()
    for i, interview in enumerate(doc.interviews):
        _unique(problems, "interviews", i, interviews, interview.id, "id", "id")
        if interview.contact_id not in contacts:
            problems.add(
                ["interviews", i, "contact_id"],
                "names no contact of the document",
                "invalid_reference",
            )
        if interview.referral_id is not None:
            if interview.referral_id not in referred:
                problems.add(
                    ["interviews", i, "referral_id"],
                    "names no referral of the document",
                    "invalid_reference",
                )
            elif referred[interview.referral_id] != interview.contact_id:
                problems.add(
                    ["interviews", i, "referral_id"],
                    "the referral's referred_id is not the interviewee",
                    "referral_mismatch",
                )
        if interview.source is not None:
            key = (interview.source, interview.external_id)
            _unique(
                problems, "interviews", i, identities, key, "external_id", "source and external_id"
            )

    for i, referral in enumerate(doc.referrals):
        if referral.interview_id is not None and referral.interview_id not in interviews:
            problems.add(
                ["referrals", i, "interview_id"],
                "names no interview of the document",
                "invalid_reference",
            )

    documents = {d.id for d in doc.documents}
    letters: set[uuid.UUID] = set()
    identities = set()
    for i, letter in enumerate(doc.letters):
        for j, document_id in enumerate(letter.attachment_ids):
            if document_id not in documents:
                problems.add(
                    ["letters", i, "attachment_ids", j],
                    "names no document of the document",
                    "invalid_reference",
                )
        _unique(problems, "letters", i, letters, letter.id, "id", "id")
        if letter.recipient_id not in contacts:
            problems.add(
                ["letters", i, "recipient_id"],
                "names no contact of the document",
                "invalid_reference",
            )
        if letter.interview_id is not None and letter.interview_id not in interviews:
            problems.add(
                ["letters", i, "interview_id"],
                "names no interview of the document",
                "invalid_reference",
            )
        if letter.source is not None:
            key = (letter.source, letter.external_id)
            _unique(
                problems, "letters", i, identities, key, "external_id", "source and external_id"
            )

    seen: set[uuid.UUID] = set()
    for i, interaction in enumerate(doc.interactions):
        _unique(problems, "interactions", i, seen, interaction.id, "id", "id")
        for field, known, what in (
            ("contact_id", contacts, "contact"),
            ("interview_id", interviews, "interview"),
            ("letter_id", letters, "letter"),
        ):
            value = getattr(interaction, field)
            if value is not None and value not in known:
                problems.add(
                    ["interactions", i, field],
                    f"names no {what} of the document",
                    "invalid_reference",
                )


def _template_rows(
    doc: AccountDocument, owner_id: uuid.UUID, problems: _Problems
) -> list[dict[str, Any]]:
    """The templates as ``letter_template`` rows, each checked as saving it would check it."""
    if not doc.templates:
        return []
    if not keeps_templates():
        problems.add(["templates"], "this server keeps no letter templates", "unsupported")
        return []
    # Imported here: templates are an optional part of the server (see keeps_templates).
    from app.letters import user_templates as template_service

    kinds: set[LetterKind] = set()
    rows = []
    for i, template in enumerate(doc.templates):
        _unique(problems, "templates", i, kinds, template.kind, "kind", "kind")
        try:
            template_service.validate(template.kind, template.source)
        except AppError as exc:
            for error in exc.errors or [{"msg": exc.detail, "type": exc.code}]:
                line = f" (line {error['line']})" if error.get("line") else ""
                problems.add(["templates", i, "source"], f"{error.get('msg')}{line}", exc.code)
        rows.append(
            {
                **_plain(template.model_dump(exclude={"id"})),
                "id": new_id(),
                "owner_id": owner_id,
                "version": 1,
            }
        )
    return rows


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Enum members as their plain string values, as the columns store them."""
    return {k: (v.value if isinstance(v, Enum) else v) for k, v in values.items()}


def _remap(records: Sequence[Any]) -> dict[uuid.UUID, uuid.UUID]:
    """New ids, issued in the order of the old ones, so every list keeps its order."""
    return {old: new_id() for old in sorted({r.id for r in records})}


def import_document(session: Session, owner_id: uuid.UUID, doc: AccountDocument) -> ImportSummary:
    """Load an export into the caller's empty account, in one transaction (see the module)."""
    # The cheap refusal first: checking up to a hundred templates takes seconds, wasted on an
    # account that already has records. Checked again below, under the lock, before writing.
    records = AccountDataRepository(session)
    empty = records.is_empty(owner_id)
    session.rollback()  # no transaction held open while the document is checked
    if not empty:
        raise _not_empty()
    problems = _Problems()
    _check_references(doc, problems)
    template_rows = _template_rows(doc, owner_id, problems)
    contents, faults = document_transfer.check(doc.documents)
    for loc, msg, kind in faults:
        problems.add(["documents", *loc], msg, kind)
    if problems.items:
        count = len(problems.items)
        raise Unprocessable(
            f"The document has {count} problem(s); nothing was imported. See errors[].",
            code="validation_error",
            errors=problems.items[:MAX_REPORTED_ERRORS],
            error_count=count,
        )
    try:
        lock_account(session, owner_id)
        if not records.is_empty(owner_id):
            raise _not_empty()
        document_ids = _remap(doc.documents)
        summary = _write(records, owner_id, doc, template_rows, document_ids)
        summary.documents = _write_documents(records, owner_id, doc, contents, document_ids)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return summary


def _write_documents(
    records: AccountDataRepository,
    owner_id: uuid.UUID,
    doc: AccountDocument,
    contents: dict[uuid.UUID, bytes],
    new_ids: dict[uuid.UUID, uuid.UUID],
) -> int:
    """The documents, under their new ids."""
    if doc.documents:
        rows = document_transfer.rows(doc.documents, contents, new_ids, owner_id)
        records.insert_documents(sorted(rows, key=lambda r: r["id"]))
    return len(doc.documents)


def _not_empty() -> Conflict:
    return Conflict(
        "An import goes into an empty account only; this one already has contacts, "
        "referrals, interviews, letters, interactions or templates.",
        code="account_not_empty",
    )


def _last_contacted(doc: AccountDocument) -> dict[uuid.UUID, datetime]:
    """``last_contacted_at`` as the service derives it: latest sent letter, held interview or
    interaction that reached the contact."""
    latest: dict[uuid.UUID, datetime] = {}
    moments = [(x.recipient_id, x.sent_at) for x in doc.letters if x.status == LetterStatus.SENT]
    moments += [(x.contact_id, x.held_at) for x in doc.interviews]
    moments += [
        (x.contact_id, x.occurred_at)
        for x in doc.interactions
        if answered(x.kind, x.direction, x.outcome)
    ]
    for contact_id, at in moments:
        if at is not None and (contact_id not in latest or at > latest[contact_id]):
            latest[contact_id] = at
    return latest


def _write(
    records: AccountDataRepository,
    owner_id: uuid.UUID,
    doc: AccountDocument,
    template_rows: list[dict[str, Any]],
    document_ids: dict[uuid.UUID, uuid.UUID],
) -> ImportSummary:
    contacts = _remap(doc.contacts)
    referrals = _remap(doc.referrals)
    interviews = _remap(doc.interviews)
    letters = _remap(doc.letters)
    interactions = _remap(doc.interactions)
    old_user = str(doc.user.id) if doc.user.id else None
    last = _last_contacted(doc)
    own = {"owner_id": owner_id, "version": 1}

    rows = [
        {
            **_plain(c.model_dump(exclude={"id", "last_contacted_at"})),
            **own,
            "id": contacts[c.id],
            "last_contacted_at": last.get(c.id),
        }
        for c in doc.contacts
    ]
    if rows:
        records.insert_contacts(sorted(rows, key=lambda r: r["id"]))
    rows = [
        {
            **_plain(r.model_dump(exclude={"id", "referrer_id", "referred_id", "interview_id"})),
            **own,
            "id": referrals[r.id],
            "referrer_id": contacts[r.referrer_id],
            "referred_id": contacts[r.referred_id],
            # Interviews point at referrals and referrals at interviews: the referrals go in
            # first, and learn their interview once the interviews are in.
            "interview_id": None,
        }
        for r in doc.referrals
    ]
    if rows:
        records.insert_referrals(sorted(rows, key=lambda r: r["id"]))
    rows = []
    checklists = []
    events = []
    for interview in doc.interviews:
        new = interviews[interview.id]
        rows.append(
            {
                **_plain(
                    interview.model_dump(
                        exclude={"id", "contact_id", "referral_id", "checklist", "events"}
                    )
                ),
                **own,
                "id": new,
                "contact_id": contacts[interview.contact_id],
                "referral_id": referrals[interview.referral_id] if interview.referral_id else None,
            }
        )
        checklist: dict[str, Any] = {"interview_id": new, "owner_id": owner_id}
        for item in CHECKLIST_ITEMS:
            record = getattr(interview.checklist, item)
            checklist.update(
                {
                    f"{item}_done": record.done,
                    f"{item}_done_at": record.done_at,
                    f"{item}_note": record.note,
                }
            )
        checklist["opening_statement_text"] = interview.checklist.opening_statement.text
        checklist["updated_at"] = interview.checklist.updated_at
        checklists.append(checklist)
        for event in interview.events:
            events.append(
                {
                    **_plain(event.model_dump()),
                    "id": new_id(),
                    "interview_id": new,
                    "owner_id": owner_id,
                    "actor": str(owner_id) if event.actor == old_user else event.actor,
                }
            )
    if rows:
        records.insert_interviews(sorted(rows, key=lambda r: r["id"]))
        records.insert_checklists(checklists)
    if events:
        records.insert_events(events)
    links = [
        (referrals[r.id], interviews[r.interview_id])
        for r in doc.referrals
        if r.interview_id is not None
    ]
    if links:
        referral_service.link_interviews(records.session, links)
    rows = [
        {
            **_plain(
                x.model_dump(exclude={"id", "recipient_id", "interview_id", "attachment_ids"})
            ),
            **own,
            "id": letters[x.id],
            "recipient_id": contacts[x.recipient_id],
            "interview_id": interviews[x.interview_id] if x.interview_id else None,
            "attachment_ids": [str(document_ids[d]) for d in x.attachment_ids] or None,
        }
        for x in doc.letters
    ]
    if rows:
        records.insert_letters(sorted(rows, key=lambda r: r["id"]))
    rows = [
        {
            **_plain(x.model_dump(exclude={"id", "contact_id", "interview_id", "letter_id"})),
            **own,
            "id": interactions[x.id],
            "contact_id": contacts[x.contact_id],
            "interview_id": interviews[x.interview_id] if x.interview_id else None,
            "letter_id": letters[x.letter_id] if x.letter_id else None,
        }
        for x in doc.interactions
    ]
    if rows:
        records.insert_interactions(sorted(rows, key=lambda r: r["id"]))
    if template_rows:
        records.insert_templates(template_rows)
    return ImportSummary(
        contacts=len(doc.contacts),
        referrals=len(doc.referrals),
        interviews=len(doc.interviews),
        events=len(events),
        letters=len(doc.letters),
        templates=len(template_rows),
        interactions=len(doc.interactions),
    )
