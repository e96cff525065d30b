"""``spokehub check``: each connection's credentials and vendor, asked by its spoke."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from spokehub_contracts import CheckResult, CheckStatus

from .context import CliState, fail, out, state

app = typer.Typer()


@app.command()
def check(
    ctx: typer.Context,
    connection: Annotated[str | None, typer.Argument(help="Only this connection.")] = None,
) -> None:
    """Check connections: credentials accepted and vendor reachable."""
    st = state(ctx)
    project = st.project
    names = [connection] if connection else sorted(project.connections)
    if connection and connection not in project.connections:
        fail(f"no connection {connection!r} in {st.config_path}")
    worst = 0
    for name in names:
        result = asyncio.run(_check_one(st, name))
        colour = "green" if result.ok else "red"
        out.print(f"{name}: [{colour}]{result.status.value}[/{colour}] {result.message}")
        if not result.ok:
            worst = 1
    raise typer.Exit(worst)


async def _check_one(st: CliState, name: str) -> CheckResult:
    project = st.project
    conn = project.connections[name]
    if conn.spoke is None:
        return CheckResult(status=CheckStatus.OK, message="HTTP API source")
    table = st.registry.sources if conn.kind == "source" else st.registry.destinations
    spoke = table[conn.spoke].cls(project.spoke_configs[name], connection=name)
    try:
        return await spoke.check()
    except Exception as exc:  # a spoke bug must not hide the other connections' results
        return CheckResult(status=CheckStatus.UNREACHABLE, message=type(exc).__name__)
    finally:
        await spoke.aclose()
