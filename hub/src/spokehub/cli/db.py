"""``spokehub db``: the store's tables."""

from __future__ import annotations

import typer

from .context import out, state
from .store import migrate

app = typer.Typer(help="Manage the store.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(ctx: typer.Context) -> None:
    """Create or migrate the store's tables (SQLite or PostgreSQL)."""
    _, revision = migrate(state(ctx))
    out.print(f"store at revision {revision}")
