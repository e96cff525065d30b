from sqlalchemy import inspect

from spokehub.store import current_revision, head_revision


def test_migrations_reach_head_on_each_backend(engine):
    assert current_revision(engine) == head_revision()
    assert {"source_state", "inbox", "outbox"} <= set(inspect(engine).get_table_names())


def test_sqlite_runs_in_wal_mode(sqlite_engine):
    with sqlite_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_migrations_build_what_the_tables_describe(engine):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import spokehub.audiences.tables
    import spokehub.identity.tables
    import spokehub.journeys.tables
    import spokehub.profiles.tables  # noqa: F401  (their tables join the shared metadata)
    from spokehub.store.tables import metadata

    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    # Migration 0005 adds one index on PostgreSQL only, by design (see its docstring).
    # Migration 0401 indexes the data path's events table without declaring it there.
    ignored = {"ix_inbox_partition_key_id", "ix_events_event_timestamp"}
    diff = [d for d in diff if getattr(d[1], "name", None) not in ignored]
    assert diff == []
