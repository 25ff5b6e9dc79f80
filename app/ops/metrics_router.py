"""``GET /metrics``: the Prometheus scrape endpoint, outside ``/api/v1`` and the OpenAPI document.

It is for the operator's Prometheus, not for API clients; expose it only on the internal
network (the reverse proxy should not route it). With ``INFOVIEW_METRICS_TOKEN`` set, it also
asks for that token (``Authorization: Bearer …``, Prometheus's ``authorization`` setting), and
answers anyone else with a 401 before collecting anything.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from prometheus_client.exposition import choose_encoder
from starlette.concurrency import run_in_threadpool

from app.kit.errors import Unauthorized
from app.kit.metrics import Metrics

router = APIRouter(tags=["metrics"])


@router.get("/metrics", operation_id="metrics-get", include_in_schema=False)
async def get_metrics(request: Request) -> Response:
    """Request, database-pool and webhook metrics in the Prometheus text format."""
    token: str | None = request.app.state.settings.metrics_token
    if token and not _bearer_matches(request.headers.get("authorization", ""), token):
        raise Unauthorized("The metrics need the bearer token the server was configured with.")
    metrics: Metrics = request.app.state.metrics
    # The classic text format unless the scraper asks for OpenMetrics (Prometheus does).
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    # The table gauges query the database: collected in a worker thread, off the event loop.
    body = await run_in_threadpool(encoder, metrics.registry)
    return Response(body, headers={"Content-Type": content_type})


def _bearer_matches(authorization: str, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``token`` (compared in constant time)."""
    scheme, _, credentials = authorization.strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        credentials.strip().encode(), token.encode()
    )
