"""The garbage collector while the app runs: everything built at start-up frozen out of its
sight, and its youngest generation run far less often than Python's default."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from app.kit.config import Settings
from app.main import YOUNG_GENERATION, create_app


def test_the_youngest_generation_waits_longer_while_the_app_runs(settings: Settings) -> None:
    before = gc.get_threshold()
    application = create_app(settings)
    try:
        with TestClient(application) as client:
            assert gc.get_threshold() == (YOUNG_GENERATION, *before[1:])
            assert gc.get_freeze_count() > 0  # start-up's objects, out of the collector's sight
            assert client.get("/healthz").status_code == 200
        assert gc.get_threshold() == before  # given back when the app stops
    finally:
        gc.unfreeze()
        application.state.engine.dispose()
