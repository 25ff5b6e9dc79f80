"""The agenda: what the user should do next, oldest due first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.accounts.deps import ConnectionDep, CurrentReader
from app.agenda import service as agenda_service
from app.agenda.schemas import AgendaList
from app.kit.api import API_PREFIX
from app.kit.problems import problem_responses
from app.kit.schemas import Timestamp

router = APIRouter(prefix=API_PREFIX, tags=["agenda"])


@router.get(
    "/agenda",
    operation_id="agenda-list",
    response_model=AgendaList,
    responses=problem_responses(401, 403, 422),
)
async def list_agenda(
    connection: ConnectionDep,
    user: CurrentReader,
    due_before: Annotated[
        Timestamp | None,
        Query(description="Only actions due before this time; default: 7 days from now."),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=agenda_service.MAX_LIMIT, description="At most this many, 1 to 100.")
    ] = 100,
) -> AgendaList:
    """List what is due next: follow up, prepare, thank, report back, keep in touch."""
    result = await connection.run_sync(
        agenda_service.agenda, user.id, due_before=due_before, limit=limit
    )
    return AgendaList(
        data=result.items,
        has_more=result.has_more,
        due_before=result.due_before,
        time_zone=result.time_zone,
    )
