"""FastAPI's own OpenTelemetry records requests only when ``INFOVIEW_OPENTELEMETRY`` asks for
it, to the providers the process sets up (here the SDK's, recording spans in memory)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from app.kit.config import Settings
from app.main import create_app

_RECORDED = InMemorySpanExporter()


def _recording() -> InMemorySpanExporter:
    """The process's tracer provider, recording into memory. OpenTelemetry lets a process set
    its provider once, so this test's is set the first time and kept."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_RECORDED))
        trace.set_tracer_provider(provider)
    return _RECORDED


def _server_spans(settings: Settings) -> list[str]:
    recorded = _recording()
    recorded.clear()
    application = create_app(settings)
    try:
        with TestClient(application) as client:
            assert client.get("/healthz").status_code == 200
            assert client.get("/api/v1/contacts").status_code == 401
    finally:
        application.state.engine.dispose()
    return [span.name for span in recorded.get_finished_spans() if span.kind is SpanKind.SERVER]


def test_requests_are_not_traced_unless_asked(settings: Settings) -> None:
    assert _server_spans(settings) == []


def test_asked_for_each_request_is_a_server_span_named_by_its_route(settings: Settings) -> None:
    traced = settings.model_copy(update={"opentelemetry": True})
    assert _server_spans(traced) == ["GET /healthz", "GET /api/v1/contacts"]
