"""``GET /metrics``: the Prometheus scrape endpoint, outside ``/api/v1`` and the OpenAPI document.

It is for the operator's Prometheus, not for API clients; expose it only on the internal
network (the reverse proxy should not route it).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client.exposition import choose_encoder
from starlette.concurrency import run_in_threadpool

from app.kit.metrics import Metrics

router = APIRouter(tags=["metrics"])


@router.get("/metrics", operation_id="metrics-get", include_in_schema=False)
async def get_metrics(request: Request) -> Response:
    """Request, database-pool and webhook metrics in the Prometheus text format."""
    metrics: Metrics = request.app.state.metrics
    # The classic text format unless the scraper asks for OpenMetrics (Prometheus does).
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    # The table gauges query the database: collected in a worker thread, off the event loop.
    body = await run_in_threadpool(encoder, metrics.registry)
    return Response(body, headers={"Content-Type": content_type})
