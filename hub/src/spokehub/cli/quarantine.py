"""``spokehub quarantine``: records that broke the contract, and sending them again."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ..pipeline import list_quarantine, replay
from .context import out, state
from .store import migrated_engine

app = typer.Typer(help="Records that broke the contract.", no_args_is_help=True)


@app.command("list")
def list_(
    ctx: typer.Context,
    connection: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include replayed records.")] = False,
    limit: Annotated[int, typer.Option(min=1)] = 100,
) -> None:
    """List quarantined records with the field and rule each broke."""
    rows = list_quarantine(
        migrated_engine(state(ctx)), connection=connection, include_replayed=all_, limit=limit
    )
    table = Table(title=f"Quarantine ({len(rows)})")
    for col in ("id", "source", "stage", "field", "rule", "at", "replayed"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r.id),
            r.connection,
            r.stage,
            r.field,
            r.rule,
            r.created_at.isoformat(timespec="seconds"),
            r.replayed_at.isoformat(timespec="seconds") if r.replayed_at else "",
        )
    out.print(table)


@app.command("replay")
def replay_(
    ctx: typer.Context,
    ids: Annotated[list[int] | None, typer.Argument(help="Quarantine ids (default: all).")] = None,
    connection: Annotated[str | None, typer.Option(help="Only this source.")] = None,
) -> None:
    """Send quarantined records through the pipeline again (after fixing the cause)."""
    count = replay(migrated_engine(state(ctx)), ids or None, connection=connection)
    out.print(f"replayed {count} record(s) into the inbox")
