"""``GET /metrics``: the Prometheus scrape endpoint, outside ``/api/v1`` and the OpenAPI document.

It is for the operator's Prometheus, not for API clients; expose it only on the internal
network (the reverse proxy should not route it).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.metrics import Metrics

router = APIRouter(tags=["metrics"])


@router.get("/metrics", operation_id="metrics-get", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Request, database-pool and webhook metrics in the Prometheus text format."""
    registry_owner: Metrics = request.app.state.metrics
    return Response(generate_latest(registry_owner.registry), media_type=CONTENT_TYPE_LATEST)
