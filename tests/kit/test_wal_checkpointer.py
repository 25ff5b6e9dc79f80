"""The server's SQLite write-ahead log is checkpointed in the background, never in a request."""

from __future__ import annotations

import os
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from app.kit.db import make_engine, wal_checkpointer


def test_requests_connections_leave_checkpoints_to_the_background(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE filler (id INTEGER PRIMARY KEY, body TEXT)"))
    checkpointer = wal_checkpointer(engine)
    assert checkpointer is not None
    checkpointer.min_bytes = 256 * 1024
    checkpointer.interval = 0.05
    checkpointer.start()
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        wal = Path(f"{path}-wal")
        # Far more than SQLite's own 1,000-page threshold: without the background thread
        # the log would only grow, since no request connection checkpoints any more.
        for _ in range(40):
            with engine.begin() as conn:
                conn.execute(
                    text("INSERT INTO filler (body) VALUES (:body)"),
                    [{"body": os.urandom(1000).hex()} for _ in range(100)],
                )
            time.sleep(0.02)  # requests come and go; the checkpointer gets its turns
        # The log is reused from its start once folded in, so it stays near the threshold
        # instead of holding all 40 transactions (~8 MB).
        assert wal.stat().st_size < 4 * 1024 * 1024
    finally:
        checkpointer.stop()
        engine.dispose()
    # Stopped: new connections checkpoint by themselves again.
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM filler").scalar() == 4000
    engine.dispose()


def test_no_checkpointer_for_other_databases() -> None:
    assert wal_checkpointer(create_engine("sqlite://")) is None
    assert wal_checkpointer(create_engine("postgresql+psycopg://infoview@localhost/x")) is None
