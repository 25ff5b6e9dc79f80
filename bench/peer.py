"""The peer: a plain FastAPI + SQLModel app written the usual way, to measure Infoview against.

Sync ``def`` endpoints (FastAPI runs them in its thread pool), one session per request, the
same ``interview`` table and index as Infoview's (it reads the benchmark's seeded database);
contacts go into a table of its own. The caller sends ``Authorization: Bearer <user id>``,
with no token to verify: the peer does less than Infoview on every request. Its paths are
Infoview's, so the same load scripts drive both.

    PEER_DATABASE_URL=postgresql+psycopg://… uvicorn bench.peer:app --workers 1
"""

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException
from sqlalchemy import JSON, Column, DateTime
from sqlmodel import Field, Session, SQLModel, create_engine, select

engine = create_engine(os.environ["PEER_DATABASE_URL"], pool_size=20, max_overflow=20)


class Interview(SQLModel, table=True):
    id: uuid.UUID = Field(primary_key=True)
    owner_id: uuid.UUID = Field(index=True)
    contact_id: uuid.UUID
    referral_id: uuid.UUID | None = None
    mode: str
    scheduled_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    duration_minutes: int | None = None
    location: str | None = None
    career_field: str | None = None
    organization: str | None = None
    state: str
    requested_at: datetime = Field(sa_column=Column(DateTime(timezone=True)))
    notes: str | None = None
    questions: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    advice: str | None = None
    next_steps: str | None = None
    decision: str
    version: int
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True)))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True)))


class PeerContact(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    owner_id: uuid.UUID = Field(index=True)
    full_name: str
    email: str | None = None
    organization: str | None = None
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class ContactIn(SQLModel):
    full_name: str
    email: str | None = None
    organization: str | None = None


SQLModel.metadata.create_all(engine, tables=[PeerContact.__table__])  # type: ignore[list-item]
app = FastAPI()


def get_session() -> Iterator[Session]:
    with Session(engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def owner(authorization: Annotated[str, Header()]) -> uuid.UUID:
    return uuid.UUID(authorization.removeprefix("Bearer "))


Owner = Annotated[uuid.UUID, Depends(owner)]


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/api/v1/interviews/{interview_id}", response_model=Interview)
def get_interview(interview_id: uuid.UUID, caller: Owner, session: SessionDep) -> Interview:
    interview = session.get(Interview, interview_id)
    if interview is None or interview.owner_id != caller:
        raise HTTPException(404)
    return interview


@app.get("/api/v1/interviews", response_model=list[Interview])
def list_interviews(caller: Owner, session: SessionDep, limit: int = 20) -> Any:
    query = select(Interview).where(Interview.owner_id == caller)
    return session.exec(query.order_by(Interview.id.desc()).limit(limit)).all()  # type: ignore[attr-defined]


@app.post("/api/v1/contacts", status_code=201, response_model=PeerContact)
def create_contact(data: ContactIn, caller: Owner, session: SessionDep) -> PeerContact:
    contact = PeerContact(owner_id=caller, **data.model_dump())
    session.add(contact)
    session.commit()
    session.refresh(contact)
    return contact
