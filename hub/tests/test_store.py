from sqlalchemy import inspect

from spokehub.store import current_revision, head_revision


def test_migrations_reach_head_on_each_backend(engine):
    assert current_revision(engine) == head_revision()
    assert {"source_state", "inbox", "outbox"} <= set(inspect(engine).get_table_names())


def test_sqlite_runs_in_wal_mode(sqlite_engine):
    with sqlite_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
