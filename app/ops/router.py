"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from app.kit.errors import ServiceUnavailable
from app.kit.migrations import migrations_at_head
from app.kit.problems import problem_responses

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """The probe's verdict."""

    status: str


@router.get("/healthz", operation_id="health-live", response_model=Health)
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get(
    "/readyz",
    operation_id="health-ready",
    response_model=Health,
    responses=problem_responses(503),
)
async def readyz(request: Request) -> Health:
    """The database answers and its schema is at the latest migration."""
    try:
        at_head = await run_in_threadpool(migrations_at_head, request.app.state.engine)
    except Exception as exc:
        raise ServiceUnavailable(
            "The database is unreachable.", code="database_unreachable"
        ) from exc
    if not at_head:
        raise ServiceUnavailable(
            "The database schema is not at the latest migration; run `infoview migrate`.",
            code="migrations_pending",
        )
    return Health(status="ready")
