"""The SQLite read paths of the shared column types: fast, and the same values as before."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, Table, Uuid, insert, select

from app.kit.db import UTCDateTime, make_engine


def test_uuids_and_timestamps_read_back_as_written(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'types.db'}")
    metadata = MetaData()
    table = Table(
        "sample",
        metadata,
        Column("n", Integer, primary_key=True),
        Column("id", Uuid, nullable=True),
        Column("text_id", Uuid(as_uuid=False), nullable=True),
        Column("at", UTCDateTime, nullable=True),
    )
    metadata.create_all(engine)
    one, two = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(table),
            [
                {"n": 1, "id": one, "text_id": str(two), "at": now},
                {"n": 2, "id": None, "text_id": None, "at": None},
                {"n": 3, "id": two, "text_id": None, "at": datetime(2020, 1, 1, tzinfo=UTC)},
            ],
        )
        # Text another writer might have left: dashed ids, no fraction, an explicit offset.
        conn.exec_driver_sql(
            f"INSERT INTO sample VALUES (4, '{one}', NULL, '2020-01-01 10:00:00'), "
            f"(5, '{{{two}}}', NULL, '2020-01-01T10:00:00+02:00')"
        )
        rows = {row.n: row for row in conn.execute(select(table))}
    engine.dispose()

    assert rows[1].id == one and isinstance(rows[1].id, uuid.UUID)
    assert str(rows[1].id) == str(one) and hash(rows[1].id) == hash(one)
    assert rows[1].id.is_safe is uuid.SafeUUID.unknown
    assert rows[1].text_id == str(two)
    assert rows[1].at == now and rows[1].at.tzinfo is UTC
    assert rows[2].id is None and rows[2].at is None
    assert rows[3].at == datetime(2020, 1, 1, tzinfo=UTC)
    assert rows[4].id == one and rows[4].at == datetime(2020, 1, 1, 10, tzinfo=UTC)
    assert rows[5].id == two and rows[5].at == datetime(2020, 1, 1, 8, tzinfo=UTC)
