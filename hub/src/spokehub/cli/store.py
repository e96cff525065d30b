"""The store as commands open it, and a breaking change to its live contract reported
as the user's error it is."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..datacontract.store import BreakingChange
from ..store import create_store_engine, upgrade
from .context import CliState, err, fail


def store_engine(st: CliState) -> Engine:
    """An engine on the project's store, as it is (no migration)."""
    try:
        return create_store_engine(st.store_url)
    except ModuleNotFoundError as exc:
        fail(f"store: driver missing ({exc.name}); install 'spokehub[postgres]' for PostgreSQL")
    except SQLAlchemyError as exc:
        fail(f"store: {_name(exc)}: cannot open store.url")


def migrate(st: CliState) -> tuple[Engine, str]:
    """An engine on the project's store, migrated to the newest revision, and that revision."""
    engine = store_engine(st)
    try:
        revision = upgrade(engine)
    except ModuleNotFoundError as exc:
        fail(f"store: driver missing ({exc.name}); install 'spokehub[postgres]' for PostgreSQL")
    except SQLAlchemyError as exc:
        fail(f"store: {_name(exc)}: cannot migrate (is the database up?)")
    return engine, revision


def migrated_engine(st: CliState) -> Engine:
    """An engine on the migrated store (migrations are idempotent, and a worker may be the
    first to open a new database)."""
    return migrate(st)[0]


def _name(exc: SQLAlchemyError) -> str:
    # The driver's exception says more than SQLAlchemy's wrapper; neither message is
    # printed, since it can hold the URL and its password.
    return type(getattr(exc, "orig", None) or exc).__name__


@contextmanager
def breaking_changes_fail() -> Iterator[None]:
    """Turn a refused contract publication into its changes on stderr and exit code 2."""
    try:
        yield
    except BreakingChange as exc:
        for change in exc.changes:
            err.print(f"breaking: {change.where}: {change.what}", highlight=False)
        fail(str(exc))
