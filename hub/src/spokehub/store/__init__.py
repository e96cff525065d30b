"""The durable store: one SQLAlchemy engine (SQLite by default, PostgreSQL by URL),
the table definitions and their alembic migrations, and the seam every write transaction
and hot statement goes through (:mod:`spokehub.store.driver_sql`)."""

from .driver_sql import transaction
from .engine import create_store_engine, is_postgres, is_sqlite, normalize_url
from .migrate import current_revision, head_revision, upgrade
from .tables import metadata

__all__ = [
    "create_store_engine",
    "current_revision",
    "head_revision",
    "is_postgres",
    "is_sqlite",
    "metadata",
    "normalize_url",
    "transaction",
    "upgrade",
]
