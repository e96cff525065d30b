"""Run the alembic migrations programmatically, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def _config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "heads") -> str:
    """Migrate the store to ``revision`` (every branch head by default); returns the
    revision(s) it is at afterwards, comma-separated."""
    command.upgrade(_config(engine), revision)
    return current_revision(engine)


def current_revision(engine: Engine) -> str:
    """The store's revision(s), sorted and comma-separated; empty for an empty store."""
    with engine.connect() as conn:
        return ",".join(sorted(MigrationContext.configure(conn).get_current_heads()))


def head_revision() -> str:
    """The revision(s) the code expects, in the same form as :func:`current_revision`.

    Parts of the hub add their tables on branches of their own off the foundation
    revision, so there may be several heads; all are applied.
    """
    return ",".join(sorted(ScriptDirectory.from_config(_config()).get_heads()))
