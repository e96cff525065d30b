"""``spokehub spokes``: what the installed distributions registered."""

from __future__ import annotations

import typer
from rich.table import Table

from spokehub_contracts import Capabilities

from .context import err, out, state

app = typer.Typer()


@app.command()
def spokes(ctx: typer.Context) -> None:
    """List installed spokes and plugins with their capabilities."""
    registry = state(ctx).registry
    table = Table(title="Installed spokes and plugins")
    for col in ("kind", "name", "distribution", "capabilities"):
        table.add_column(col)
    groups = (
        ("source", registry.sources),
        ("destination", registry.destinations),
        ("transform", registry.transforms),
        ("enricher", registry.enrichers),
        ("matcher", registry.matchers),
    )
    for kind, entries in groups:
        for name, reg in sorted(entries.items()):
            caps = getattr(reg.cls, "capabilities", None)
            table.add_row(
                kind, name, f"{reg.distribution} {reg.version}", _caps(caps) if caps else ""
            )
    out.print(table)
    for failure in registry.failures:
        err.print(
            f"[yellow]warning:[/yellow] distribution {failure.distribution!r} "
            f"(entry point {failure.entry_point!r}) failed to load: {failure.error}",
            highlight=False,
            soft_wrap=True,
        )


def _caps(caps: Capabilities) -> str:
    parts = []
    if caps.record_kinds:
        parts.append("kinds=" + ",".join(caps.record_kinds))
    parts.append(f"batch={caps.batch_size}")
    if caps.rate_limit:
        parts.append(f"rate={caps.rate_limit.requests}/{caps.rate_limit.per_seconds:g}s")
    if caps.identifier_types:
        parts.append("match=" + ",".join(caps.identifier_types))
    if caps.incremental:
        parts.append("incremental")
    if caps.webhooks:
        parts.append("webhooks")
    if caps.can_delete:
        parts.append("can-delete")
    if caps.merges:
        parts.append("merges")
    if caps.external_id_type:
        parts.append(f"ids-back={caps.external_id_type}")
    if caps.purposes:
        parts.append("purposes=" + ",".join(caps.purposes))
    return " ".join(parts)
