"""Driver SQL stores timestamps exactly as the column type would."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Integer, MetaData, Table, insert, select

from spokehub.store.driver_sql import placeholder, timestamp_binder


def test_timestamps_bound_for_the_driver_read_back_like_the_column_types_own(engine):
    moment = datetime(2025, 6, 7, 8, 9, 10, 123456, tzinfo=UTC)
    table = Table(
        "driver_sql_probe",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("at", DateTime(timezone=True)),
    )
    mark = placeholder(engine.dialect)
    with engine.begin() as conn:
        table.create(conn)
        conn.execute(insert(table).values(id=1, at=moment))
        conn.exec_driver_sql(
            f"INSERT INTO driver_sql_probe (id, at) VALUES ({mark}, {mark})",
            (2, timestamp_binder(engine.dialect)(moment)),
        )
        raw = conn.exec_driver_sql("SELECT at FROM driver_sql_probe ORDER BY id").all()
        typed = conn.execute(select(table.c.at).order_by(table.c.id)).scalars().all()
        table.drop(conn)
    assert raw[0] == raw[1]  # stored alike, byte for byte on SQLite
    assert typed[0] == typed[1]
