"""Seed a benchmark database fast, through SQLAlchemy Core, after running the migrations.

Shape (scale 1.0): 100 users, 100,000 contacts, 1,000,000 interviews with their checklists,
spread evenly over the users, plus request letters for a fifth of the interviews. Scale 0.1
is the "10x smaller" database the big/small ratios compare against.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, text
from sqlmodel import SQLModel

import app.models  # noqa: F401
from app.db import make_engine, new_id
from app.migrations_state import upgrade
from app.security import hash_password

PASSWORD = "bench-password-123"
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
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    engine.dispose()
    return Seeded(
        users=[(u["email"], str(u["id"])) for u in users],
        interview_ids=interview_ids,
        request_interview_ids=request_ids,
    )
