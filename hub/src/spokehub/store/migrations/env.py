"""alembic environment: the engine comes from the caller (``spokehub db upgrade``)."""

from __future__ import annotations

from alembic import context

from spokehub.store.tables import metadata

engine = context.config.attributes["engine"]

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()
