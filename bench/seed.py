"""Seed a benchmark database fast, through SQLAlchemy Core, after running the migrations.

Shape (scale 1.0): 100 users, 100,000 contacts, 1,000,000 interviews with their checklists,
spread evenly over the users, plus request letters for a fifth of the interviews. Scale 0.1
is the "10x smaller" database the big/small ratios compare against.

:func:`seed_agenda_user` fills a database with one user of the big-user size (10,000 interviews,
20,000 contacts) for the agenda target; :func:`checkpoint` folds a SQLite WAL into the main
file so that a plain copy of the ``.db`` is complete.
"""

from __future__ import annotations

import contextlib
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, create_engine, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel

import app.tables  # noqa: F401  every table, for the inserts below
from app.kit.db import make_engine, new_id
from app.kit.migrations import upgrade
from app.kit.security import hash_password

PASSWORD = "bench-password-123"
AGENDA_USER_EMAIL = "agenda-user@example.com"
AGENDA_USER_INTERVIEWS = 10_000
AGENDA_USER_CONTACTS = 20_000
STATES = ["request", "prepared", "held", "thanked", "reported-back", "cancelled"]
MODES = ["in_person", "phone", "video", "email"]
FIELDS = ["accounting", "marketing", "web development", "investment banking", "nursing"]


@dataclass
class Seeded:
    """What the benchmark needs to know about a seeded database."""

    users: list[tuple[str, str]]  # (email, id)
    interview_ids: dict[str, list[str]]  # user id -> some interview ids
    request_interview_ids: dict[str, list[str]]  # user id -> interviews still in `request`


def _table(name: str) -> Any:
    return SQLModel.metadata.tables[name]


def _batched_insert(engine: Engine, table: Any, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(table), rows[start : start + 5000])


def seed(url: str, *, scale: float, seed_value: int = 7) -> Seeded:
    """Create and fill a database at ``url``; return ids the load scenarios use."""
    rng = random.Random(seed_value)
    upgrade(url)
    engine = make_engine(url)
    n_users = max(1, round(100 * scale)) if scale >= 1 else max(10, round(100 * scale))
    n_contacts = round(100_000 * scale)
    n_interviews = round(1_000_000 * scale)
    now = datetime.now(UTC)
    password_hash = hash_password(PASSWORD)

    users = []
    for i in range(n_users):
        users.append(
            {
                "id": new_id(),
                "email": f"bench{i}@example.com",
                "full_name": f"Bench User {i}",
                "password_hash": password_hash,
                "created_at": now,
                "updated_at": now,
            }
        )
    _batched_insert(engine, _table("user_account"), users)

    contacts_by_user: dict[uuid.UUID, list[uuid.UUID]] = {u["id"]: [] for u in users}
    batch: list[dict[str, Any]] = []
    for i in range(n_contacts):
        owner = users[i % n_users]["id"]
        cid = new_id()
        contacts_by_user[owner].append(cid)
        batch.append(
            {
                "id": cid,
                "owner_id": owner,
                "full_name": f"Contact {i}",
                "email": f"contact{i}@example.org",
                "organization": f"Org {i % 997}",
                "career_field": FIELDS[i % len(FIELDS)],
                "tags": ["bench"],
                "keep_in_touch_days": 90 if i % 10 == 0 else None,
                "last_contacted_at": now - timedelta(days=rng.randint(0, 400)),
                "archived": False,
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
        )
        if len(batch) >= 50_000:
            _batched_insert(engine, _table("contact"), batch)
            batch = []
    _batched_insert(engine, _table("contact"), batch)

    interview_ids: dict[str, list[str]] = {str(u["id"]): [] for u in users}
    request_ids: dict[str, list[str]] = {str(u["id"]): [] for u in users}
    interviews: list[dict[str, Any]] = []
    checklists: list[dict[str, Any]] = []
    letters: list[dict[str, Any]] = []
    for i in range(n_interviews):
        owner = users[i % n_users]["id"]
        contact = rng.choice(contacts_by_user[owner])
        state = STATES[rng.randrange(len(STATES))] if i % 3 else "request"
        iid = new_id()
        scheduled = now + timedelta(hours=rng.randint(-24 * 365, 24 * 60))
        past = STATES.index(state) if state != "cancelled" else 0
        held_at = scheduled if past >= 2 else None
        interviews.append(
            {
                "id": iid,
                "owner_id": owner,
                "contact_id": contact,
                "mode": MODES[i % len(MODES)],
                "scheduled_at": scheduled if state != "request" or i % 2 else None,
                "duration_minutes": 30,
                "career_field": FIELDS[i % len(FIELDS)],
                "state": state,
                "requested_at": scheduled - timedelta(days=14),
                "prepared_at": scheduled - timedelta(days=1) if past >= 1 else None,
                "held_at": held_at,
                "thanked_at": held_at + timedelta(days=1) if held_at and past >= 3 else None,
                "reported_back_at": held_at + timedelta(days=3) if held_at and past >= 4 else None,
                "cancelled_at": now if state == "cancelled" else None,
                "cancel_reason": "no answer" if state == "cancelled" else None,
                "questions": [],
                "decision": "undecided",
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
        )
        done = state != "request"
        checklists.append(
            {
                "interview_id": iid,
                "owner_id": owner,
                "research_done": done,
                "website_done": done,
                "self_assessment_done": done,
                "opening_statement_done": done,
                "opening_statement_text": "I am exploring this field." if done else None,
                "attire_done": done,
                "updated_at": now,
            }
        )
        if i % 5 == 0:
            letters.append(
                {
                    "id": new_id(),
                    "owner_id": owner,
                    "kind": "request",
                    "recipient_id": contact,
                    "interview_id": iid,
                    "channel": "email",
                    "subject": "A short conversation?",
                    "body": "Would you have twenty minutes to tell me about your work?",
                    "status": "sent",
                    "sent_at": scheduled - timedelta(days=14),
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        if len(interview_ids[str(owner)]) < 2000:
            interview_ids[str(owner)].append(str(iid))
        if state == "request" and len(request_ids[str(owner)]) < 50_000:
            request_ids[str(owner)].append(str(iid))
        if len(interviews) >= 50_000:
            _batched_insert(engine, _table("interview"), interviews)
            _batched_insert(engine, _table("prep_checklist"), checklists)
            _batched_insert(engine, _table("letter"), letters)
            interviews, checklists, letters = [], [], []
    _batched_insert(engine, _table("interview"), interviews)
    _batched_insert(engine, _table("prep_checklist"), checklists)
    _batched_insert(engine, _table("letter"), letters)
    if url.startswith("postgresql"):
        # Vacuumed and written out before any load: otherwise autovacuum's first pass over
        # the new tables and the checkpoint of the bulk insert run during the first scenarios.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE)"))
            with contextlib.suppress(DBAPIError):  # a role without the right to ask for one
                conn.execute(text("CHECKPOINT"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    engine.dispose()
    return Seeded(
        users=[(u["email"], str(u["id"])) for u in users],
        interview_ids=interview_ids,
        request_interview_ids=request_ids,
    )


def checkpoint(url: str) -> None:
    """Fold a SQLite database's write-ahead log into the main file and empty the log.

    Afterwards the ``.db`` file alone is the whole database, so a plain copy of it is complete.
    A no-op for other databases.
    """
    if not url.startswith("sqlite"):
        return
    engine = create_engine(url)
    with engine.connect() as conn:
        busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    engine.dispose()
    if busy:
        raise RuntimeError(f"could not checkpoint {url}: the database is in use")


def request_interviews(url: str) -> dict[str, list[str]]:
    """Owner id -> ids of the interviews in ``request`` now: what the transition can cancel.

    Read from the database itself rather than from what seeding noted, so a database some
    earlier run moved interviews in never hands out one that is already cancelled.
    """
    engine = make_engine(url)
    interview = _table("interview")
    found: dict[str, list[str]] = {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(interview.c.owner_id, interview.c.id)
            .where(interview.c.state == "request")
            .order_by(interview.c.id)
        )
        for owner, iid in rows:
            found.setdefault(str(owner), []).append(str(iid))
    engine.dispose()
    return found


def seed_agenda_user(url: str, *, seed_value: int = 11) -> tuple[str, str]:
    """One user of the big-user size: 10,000 interviews and 20,000 contacts.

    The interviews are spread over the workflow's states as a year of use leaves them, each
    with its checklist and the letters its state implies (request letters, some follow-ups,
    thank-yous, report-backs), scheduled from a year ago to two months ahead; a tenth of the
    contacts were referred by another contact, and a fifth keep in touch on a cadence. So every
    kind of agenda action has candidates, and many are due. Returns (email, user id).
    """
    rng = random.Random(seed_value)
    upgrade(url)
    engine = make_engine(url)
    now = datetime.now(UTC)
    owner = new_id()
    _batched_insert(
        engine,
        _table("user_account"),
        [
            {
                "id": owner,
                "email": AGENDA_USER_EMAIL,
                "full_name": "Agenda User",
                "password_hash": hash_password(PASSWORD),
                "created_at": now - timedelta(days=400),
                "updated_at": now,
            }
        ],
    )

    contacts: list[dict[str, Any]] = []
    for i in range(AGENDA_USER_CONTACTS):
        created = now - timedelta(days=rng.randint(30, 400))
        contacts.append(
            {
                "id": new_id(),
                "owner_id": owner,
                "full_name": f"Agenda Contact {i}",
                "email": f"agenda-contact{i}@example.org",
                "organization": f"Org {i % 997}",
                "career_field": FIELDS[i % len(FIELDS)],
                "tags": ["bench"],
                "keep_in_touch_days": rng.choice([30, 60, 90, 180]) if i % 5 == 0 else None,
                "last_contacted_at": (
                    created + timedelta(days=rng.randint(0, 29)) if i % 3 else None
                ),
                "archived": i % 50 == 0,
                "version": 1,
                "created_at": created,
                "updated_at": now,
            }
        )
    _batched_insert(engine, _table("contact"), contacts)
    contact_ids = [c["id"] for c in contacts]

    referrals = []
    referrer_of: dict[uuid.UUID, uuid.UUID] = {}
    for i in range(0, AGENDA_USER_CONTACTS, 10):
        referred = contact_ids[i]
        referrer = contact_ids[(i + 7) % AGENDA_USER_CONTACTS]
        referrer_of[referred] = referrer
        referrals.append(
            {
                "id": new_id(),
                "owner_id": owner,
                "referrer_id": referrer,
                "referred_id": referred,
                "relationship": "colleague",
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
        )
    _batched_insert(engine, _table("referral"), referrals)

    # How a year of use leaves the interviews: most asked for or done, some cancelled.
    weights = {
        "request": 30,
        "prepared": 10,
        "held": 10,
        "thanked": 15,
        "reported-back": 25,
        "cancelled": 10,
    }
    interviews: list[dict[str, Any]] = []
    checklists: list[dict[str, Any]] = []
    letters: list[dict[str, Any]] = []

    def letter(kind: str, to: uuid.UUID, iid: uuid.UUID, sent: datetime) -> None:
        letters.append(
            {
                "id": new_id(),
                "owner_id": owner,
                "kind": kind,
                "recipient_id": to,
                "interview_id": iid,
                "channel": "email",
                "subject": "Our conversation",
                "body": "Thank you for your time.",
                "status": "sent",
                "sent_at": sent,
                "version": 1,
                "created_at": sent,
                "updated_at": sent,
            }
        )

    for i in range(AGENDA_USER_INTERVIEWS):
        state = rng.choices(list(weights), weights=list(weights.values()))[0]
        contact = rng.choice(contact_ids)
        iid = new_id()
        step = STATES.index(state) if state != "cancelled" else 0
        if state in ("request", "prepared"):
            # Asked for recently; a time agreed for some, in the coming weeks (a few past).
            requested = now - timedelta(hours=rng.randint(1, 24 * 60))
            scheduled = (
                now + timedelta(hours=rng.randint(-48, 24 * 45))
                if state == "prepared" or rng.random() < 0.4
                else None
            )
        else:
            requested = now - timedelta(hours=rng.randint(24 * 20, 24 * 365))
            scheduled = requested + timedelta(days=rng.randint(7, 19))
        held = scheduled if step >= 2 and scheduled else None
        thanked = held + timedelta(days=rng.randint(0, 3)) if held and step >= 3 else None
        reported = thanked + timedelta(days=rng.randint(1, 10)) if thanked and step >= 4 else None
        interviews.append(
            {
                "id": iid,
                "owner_id": owner,
                "contact_id": contact,
                "mode": MODES[i % len(MODES)],
                "scheduled_at": scheduled,
                "duration_minutes": 30,
                "career_field": FIELDS[i % len(FIELDS)],
                "state": state,
                "requested_at": requested,
                "prepared_at": (scheduled or now) - timedelta(days=1) if step >= 1 else None,
                "held_at": held,
                "thanked_at": thanked,
                "reported_back_at": reported,
                "cancelled_at": requested + timedelta(days=5) if state == "cancelled" else None,
                "cancel_reason": "no answer" if state == "cancelled" else None,
                "questions": [],
                "decision": "undecided",
                "version": 1,
                "created_at": requested,
                "updated_at": now,
            }
        )
        # Checklists: done once prepared; partly done while still in request.
        partial = step == 0 and rng.random() < 0.5
        checklists.append(
            {
                "interview_id": iid,
                "owner_id": owner,
                "research_done": step >= 1 or partial,
                "website_done": step >= 1 or partial,
                "self_assessment_done": step >= 1,
                "opening_statement_done": step >= 1,
                "opening_statement_text": "I am exploring this field." if step >= 1 else None,
                "attire_done": step >= 1,
                "updated_at": now,
            }
        )
        letter("request", contact, iid, requested)
        if state == "request" and scheduled is None and rng.random() < 0.3:
            letter("follow_up", contact, iid, requested + timedelta(days=7))
        if thanked:
            letter("thank_you", contact, iid, thanked)
        if reported and contact in referrer_of:
            letter("report_back", referrer_of[contact], iid, reported)
    _batched_insert(engine, _table("interview"), interviews)
    _batched_insert(engine, _table("prep_checklist"), checklists)
    _batched_insert(engine, _table("letter"), letters)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return AGENDA_USER_EMAIL, str(owner)
