"""The store seam: driver SQL written once for both backends, and the one transaction."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, insert, select
from sqlalchemy.exc import IntegrityError

from spokehub.store import transaction
from spokehub.store.driver_sql import (
    chunks,
    cursor,
    dialect_insert,
    driver,
    insert_sql,
    marks,
    utc,
    values,
)
from spokehub.store.gate import gate_of
from spokehub.store.pg_batches import batched, rounds

PROBE = Table(
    "driver_sql_probe",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("name", String(40), unique=True),
    Column("at", DateTime(timezone=True)),
)


@pytest.fixture
def probe(engine):
    with transaction(engine) as conn:
        PROBE.create(conn)
    yield engine
    with transaction(engine) as conn:
        PROBE.drop(conn)


def test_timestamps_bound_for_the_driver_read_back_like_the_column_types_own(probe):
    moment = datetime(2025, 6, 7, 8, 9, 10, 123456, tzinfo=UTC)
    with transaction(probe) as conn:
        conn.execute(insert(PROBE).values(id=1, name="core", at=moment))
        cur = cursor(conn)
        cur.run(
            insert_sql("driver_sql_probe", ["id", "name", "at"]),
            (2, "driver", cur.driver.stamp(moment)),
        )
        raw = cur.rows("SELECT at FROM driver_sql_probe ORDER BY id")
        typed = conn.execute(select(PROBE.c.at).order_by(PROBE.c.id)).scalars().all()
    assert raw[0] == raw[1]  # stored alike, byte for byte on SQLite
    assert typed[0] == typed[1]
    # Read back through the driver, either way, as the same aware UTC moment.
    assert [cur.driver.parse(r[0]) for r in raw] == [moment, moment]


def test_statements_are_written_once_with_the_neutral_marker(probe):
    with transaction(probe) as conn:
        cur = cursor(conn)
        cur.many(
            insert_sql("driver_sql_probe", ["id", "name"]),
            [(1, "a%b"), (2, "c"), (3, "d")],
        )
        # A literal percent sign survives psycopg's parameter style.
        found = cur.rows(
            f"SELECT id FROM driver_sql_probe WHERE name LIKE '%' || ? AND id IN ({marks(3)})"
            " ORDER BY id",
            ("b", 1, 2, 3),
        )
        changed = cur.run("UPDATE driver_sql_probe SET name = ? WHERE id > ?", ("z", 5))
    assert found == [(1,)]
    assert changed == 0


def test_insert_or_ignore_and_upsert_mean_the_same_on_both_backends(probe):
    with transaction(probe) as conn:
        cur = cursor(conn)
        cur.run(insert_sql("driver_sql_probe", ["id", "name"], rows=2), (1, "a", 2, "b"))
        ignore = insert_sql("driver_sql_probe", ["id", "name"], rows=2, ignore=True)
        cur.run(ignore, (1, "again", 3, "c"))  # the row with id 1 is kept as it was
        upsert = insert_sql("driver_sql_probe", ["id", "name"], conflict=["id"], update=["name"])
        cur.run(upsert, (2, "B"))
        conn.execute(
            dialect_insert(conn, PROBE)
            .values(id=4, name="d")
            .on_conflict_do_update(index_elements=["id"], set_={"name": "d"})
        )
        rows = cur.rows("SELECT id, name FROM driver_sql_probe ORDER BY id")
    assert rows == [(1, "a"), (2, "B"), (3, "c"), (4, "d")]


def test_a_literal_row_shape_and_its_copies():
    assert values("(?, 'x')", 3) == "(?, 'x'), (?, 'x'), (?, 'x')"
    assert insert_sql("t", ["a", "b"], rows=2, row="(?, 'p')") == (
        "INSERT INTO t (a, b) VALUES (?, 'p'), (?, 'p')"
    )
    with pytest.raises(ValueError, match="key it conflicts on"):
        insert_sql("t", ["a"], update=["a"])


def test_a_driver_error_is_sqlalchemys_and_names_no_parameter(probe):
    with pytest.raises(IntegrityError) as caught, transaction(probe) as conn:
        cur = cursor(conn)
        cur.run(insert_sql("driver_sql_probe", ["id", "name"]), (1, "someone@example.com"))
        cur.run(insert_sql("driver_sql_probe", ["id", "name"]), (1, "someone@example.com"))
    assert "someone@example.com" not in str(caught.value)
    with transaction(probe, readonly=True) as conn:  # the failed transaction left nothing
        assert cursor(conn).rows("SELECT count(*) FROM driver_sql_probe") == [(0,)]


def test_chunks_respect_the_backends_parameter_limit(engine):
    with transaction(engine, readonly=True) as conn:
        d = driver(conn)
    assert d.max_params >= 999
    per_row = d.rows_per_statement(7, cap=10**9)
    assert per_row * 7 <= d.max_params < (per_row + 1) * 7
    assert d.rows_per_statement(3) == 1000
    assert d.rows_per_statement(10**6) == 1
    assert [list(c) for c in chunks(list(range(5)), 2)] == [[0, 1], [2, 3], [4]]


def test_utc_makes_every_timestamp_aware_and_utc():
    naive = datetime(2025, 1, 1, 12, 0)
    assert utc(naive) == datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    plus_two = datetime(2025, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert utc(plus_two).tzinfo is UTC and utc(plus_two) == utc(naive)


def test_a_transaction_takes_the_writers_turn_with_its_urgency(sqlite_engine):
    gate = gate_of(sqlite_engine)
    with transaction(sqlite_engine, urgent=True):
        assert gate.held_here()
        # An urgent writer holding the turn: another thread's background writer waits.
        started = threading.Event()
        finished = threading.Event()

        def background() -> None:
            started.set()
            with transaction(sqlite_engine):
                pass
            finished.set()

        worker = threading.Thread(target=background, daemon=True)
        worker.start()
        started.wait(5)
        assert not finished.wait(0.2)
    worker.join(10)
    assert finished.is_set()
    assert not gate.held_here()
    with transaction(sqlite_engine, readonly=True):
        assert not gate.held_here()
    with (
        pytest.raises(ValueError, match="read-only"),
        transaction(sqlite_engine, readonly=True, urgent=True),
    ):
        pass


def test_many_rows_mean_what_they_mean_one_by_one_on_both_backends(probe):
    moment = datetime(2025, 6, 7, 8, 9, 10, tzinfo=UTC)
    upsert = insert_sql("driver_sql_probe", ["id", "name"], conflict=["id"], update=["name"])
    with transaction(probe) as conn:
        cur = cursor(conn)
        cur.insert("driver_sql_probe", ["id", "name"], [(i, f"n{i}") for i in range(1, 6)])
        # One key twice in a batch: the later row lands last, as row by row.
        cur.many(upsert, [(1, "first"), (6, "six"), (1, "second"), (2, "two")])
        # Distinct keys; a column set to NULL throughout keeps its type.
        cur.many(
            "UPDATE driver_sql_probe SET at = ?, name = ? WHERE id = ? AND name <> 'two'",
            [(None, "u3", 3), (None, "u2", 2), (None, "u4", 4)],
        )
        cur.many("UPDATE driver_sql_probe SET at = ? WHERE id = ?", [(moment, 3), (moment, 4)])
        # A key twice: the second row sees the first one's change.
        cur.many("UPDATE driver_sql_probe SET name = name || ? WHERE id = ?", [("x", 5), ("y", 5)])
        # Assigning the key column: each row sees the rows before it.
        cur.many("UPDATE driver_sql_probe SET name = ? WHERE name = ?", [("b", "six"), ("c", "b")])
        cur.many("DELETE FROM driver_sql_probe WHERE id = ?", [(4,), (4,), (99,)])
        rows = cur.rows("SELECT id, name, at FROM driver_sql_probe ORDER BY id")
    assert [(i, n) for i, n, _ in rows] == [
        (1, "second"),
        (2, "two"),
        (3, "u3"),
        (5, "n5xy"),
        (6, "c"),
    ]
    assert [i for i, _, at in rows if at is not None] == [3]


def test_per_row_statements_rewritten_whole_only_where_the_meaning_is_kept():
    update = batched("UPDATE t SET a = ?, b = CASE WHEN b > ? THEN ? ELSE b END WHERE k = ?")
    assert update is not None
    assert update.key == (3,) and update.untyped == (1, 2)
    assert update.text(2) == (
        "UPDATE t SET a = _batch_p.p0, b = CASE WHEN b > _batch_p.p1 THEN _batch_p.p2"
        " ELSE b END FROM (VALUES ((NULL::t).a, NULL, NULL, (NULL::t).k), (?, ?, ?, ?),"
        " (?, ?, ?, ?)) AS _batch_p (p0, p1, p2, p3) WHERE k = _batch_p.p3"
    )
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert update.fits([(1, now, now, 1), ("a", None, now, 2)])
    assert not update.fits([(1, now, now, 1), (2, now, now, 1)])  # a key twice
    assert not update.fits([(1, "text", now, 1)])  # untyped beside a column
    assert not update.fits([(1, None, now, 1)])  # NULL throughout
    upsert = batched(insert_sql("t", ["k", "v", "w"], conflict=["k"], update=["v"]))
    assert upsert is not None and upsert.key == (0,) and upsert.in_rounds
    assert rounds([(1, "a"), (2, "b"), (1, "c"), (1, "d")], [0]) == [
        [(1, "a"), (2, "b")],
        [(1, "c")],
        [(1, "d")],
    ]
    for kept_row_by_row in (
        "UPDATE t SET a = ? WHERE k = ? OR b = 1",  # other rows' targets too
        "UPDATE t SET k = ? WHERE k = ?",  # moves rows between keys
        "UPDATE t SET a = ? WHERE b > ?",  # no key
        "UPDATE t SET a = ? WHERE k = ? RETURNING a",
        "UPDATE t SET a = (SELECT max(a) FROM u WHERE u.k = ?) WHERE k = ?",
        "INSERT INTO t (a) VALUES (?), (?)",
        "INSERT INTO t (a) VALUES (?) RETURNING a",
        "INSERT INTO t (a) SELECT ?",
        "SELECT ?",
    ):
        assert batched(kept_row_by_row) is None, kept_row_by_row


def test_a_long_plain_insert_keeps_its_rows_literals_and_errors(probe):
    rows = [(i, f"n{i}") for i in range(1, 41)]
    dated = "(?, ?, '2025-01-02 03:04:05')"
    with transaction(probe) as conn:
        cur = cursor(conn)
        cur.insert("driver_sql_probe", ["id", "name"], rows[:20])
        cur.insert(
            "driver_sql_probe", ["name", "id", "at"], [(n, i) for i, n in rows[20:]], row=dated
        )
        cur.run(insert_sql("driver_sql_probe", ["name", "id", "at"], row=dated), ("one", 100))
        found = cur.rows("SELECT id, name FROM driver_sql_probe ORDER BY id")
        stamps = cur.rows("SELECT DISTINCT at FROM driver_sql_probe WHERE at IS NOT NULL")
    assert found == [*rows, (100, "one")]
    assert len(stamps) == 1
    with pytest.raises(IntegrityError) as caught, transaction(probe) as conn:
        cursor(conn).insert(
            "driver_sql_probe",
            ["id", "name"],
            [(i, f"someone{i}@example.com") for i in range(200, 240)] + [(1, "x@example.com")],
        )
    assert "example.com" not in str(caught.value)
