"""``GET /metrics``: Prometheus text with requests by route template, the pool, table gauges."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.kit.metrics import TableCollector, TableGauge
from app.kit.middleware import UNMATCHED
from tests.factories import register


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics`` as {(name, sorted labels): value}."""
    r = client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def requests_total(samples: dict, method: str, route: str, status: int) -> float:  # type: ignore[type-arg]
    key = ("http_requests_total", (("method", method), ("route", route), ("status", str(status))))
    return float(samples.get(key, 0.0))


class TestMetricsGet:
    def test_requests_are_counted_by_route_template_and_status(self, client: TestClient) -> None:
        user = register(client)
        for _ in range(2):
            assert client.get("/api/v1/me", headers=user.headers).status_code == 200
        assert client.get("/api/v1/me").status_code == 401
        missing = uuid.uuid4()
        r = client.get(f"/api/v1/contacts/{missing}", headers=user.headers)
        assert r.status_code == 404
        assert client.get("/no/such/route").status_code == 404
        assert client.put("/healthz").status_code == 405

        samples = scrape(client)
        assert requests_total(samples, "GET", "/api/v1/me", 200) == 2
        assert requests_total(samples, "GET", "/api/v1/me", 401) == 1
        assert requests_total(samples, "POST", "/api/v1/auth/register", 201) == 1
        assert requests_total(samples, "POST", "/api/v1/auth/token", 200) == 1
        assert requests_total(samples, "GET", "/api/v1/contacts/{contact_id}", 404) == 1
        assert requests_total(samples, "GET", UNMATCHED, 404) == 1
        assert requests_total(samples, "PUT", "/healthz", 405) == 1
        # Raw paths never become labels: the series stay bounded whatever clients send.
        routes = {dict(labels).get("route") for _, labels in samples}
        assert not any(str(missing) in (route or "") for route in routes)
        assert "/no/such/route" not in routes

        count = (
            "http_request_duration_seconds_count",
            (("method", "GET"), ("route", "/api/v1/me")),
        )
        assert samples[count] == 3
        inf = (
            "http_request_duration_seconds_bucket",
            (("le", "+Inf"), ("method", "GET"), ("route", "/api/v1/me")),
        )
        assert samples[inf] == 3
        total = ("http_request_duration_seconds_sum", (("method", "GET"), ("route", "/api/v1/me")))
        assert samples[total] > 0

    def test_scrapes_count_themselves_and_oversize_bodies_too(self, client: TestClient) -> None:
        scrape(client)
        r = client.post(
            "/api/v1/auth/register",
            content=b"x" * (2 * 1024 * 1024),
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 413
        samples = scrape(client)
        assert requests_total(samples, "GET", "/metrics", 200) == 1
        assert requests_total(samples, "POST", UNMATCHED, 413) == 1

    def test_the_database_pool_is_reported(self, client: TestClient) -> None:
        user = register(client)
        client.get("/api/v1/me", headers=user.headers)  # its connection stays open in the pool
        samples = scrape(client)
        assert samples[("db_pool_size", ())] >= 1
        assert samples[("db_pool_open_connections", ())] >= 1
        assert samples[("db_pool_checked_out", ())] >= 0
        assert samples[("db_pool_overflow", ())] >= 0

    def test_each_app_has_its_own_registry(self, client: TestClient) -> None:
        from app.main import create_app

        client.get("/healthz")
        other = create_app(client.app.state.settings)  # type: ignore[attr-defined]
        try:
            with TestClient(other) as other_client:
                assert requests_total(scrape(other_client), "GET", "/healthz", 200) == 0
        finally:
            other.state.engine.dispose()
        assert requests_total(scrape(client), "GET", "/healthz", 200) == 1

    def test_a_scraper_asking_for_openmetrics_gets_it(self, client: TestClient) -> None:
        r = client.get(
            "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
        assert r.headers["content-type"].startswith("application/openmetrics-text")
        assert r.text.endswith("# EOF\n")

    def test_it_is_not_part_of_the_api_document(self, client: TestClient) -> None:
        assert "/metrics" not in client.get("/openapi.json").json()["paths"]


class TestTableGauges:
    """Gauges read from tables at scrape time (the webhook outbox and deliveries)."""

    def test_gauges_appear_once_their_table_exists(self, client: TestClient) -> None:
        register(client)
        register(client)
        engine = client.app.state.engine  # type: ignore[attr-defined]
        collector = TableCollector(
            engine,
            (
                TableGauge(
                    "users", "Accounts.", "user_account", "SELECT count(*) FROM user_account"
                ),
                TableGauge(
                    "refresh_tokens",
                    "Refresh tokens by revocation.",
                    "refresh_token",
                    "SELECT revoked_at IS NULL, count(*) FROM refresh_token GROUP BY 1",
                    label="live",
                ),
                TableGauge("later", "Not yet.", "no_such_table", "SELECT count(*) FROM nope"),
            ),
        )
        families = {f.name: f for f in collector.collect()}
        assert set(families) == {"users", "refresh_tokens"}
        assert families["users"].samples[0].value == 2
        assert [s.value for s in families["refresh_tokens"].samples] == [2]

    def test_a_query_that_does_not_fit_its_table_is_dropped_not_fatal(
        self, client: TestClient
    ) -> None:
        engine = client.app.state.engine  # type: ignore[attr-defined]
        broken = TableGauge("broken", "Bad.", "user_account", "SELECT nope FROM user_account")
        fine = TableGauge("users", "Accounts.", "user_account", "SELECT count(*) FROM user_account")
        collector = TableCollector(engine, (broken, fine))
        assert [f.name for f in collector.collect()] == ["users"]
        assert [f.name for f in collector.collect()] == ["users"]
        assert collector._broken == {"broken"}

    def test_the_webhook_gauges_are_reported_when_their_tables_exist(
        self, client: TestClient
    ) -> None:
        from sqlalchemy import inspect

        engine = client.app.state.engine  # type: ignore[attr-defined]
        tables = set(inspect(engine).get_table_names())
        samples = scrape(client)
        names = {name for name, _ in samples}
        assert ("outbox_pending_events" in names) == ("outbox_event" in tables)
        if "outbox_event" in tables:
            assert samples[("outbox_pending_events", ())] == 0
        if "webhook_delivery" in tables:
            for status in ("pending", "failed", "dead"):
                assert samples[("webhook_deliveries", (("status", status),))] == 0
