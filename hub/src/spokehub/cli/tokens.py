"""``spokehub tokens``: API tokens with scopes, made without the secret reaching the
project file."""

from __future__ import annotations

import secrets
from typing import Annotated

import typer
from rich.table import Table

from ..tokens import ADMIN_TOKEN_NAME, SCOPES, token_digest
from .context import fail, out, state

app = typer.Typer(help="API tokens and their scopes.", no_args_is_help=True)


@app.command("new")
def new_command(
    name: Annotated[str, typer.Argument(help="The token's name, as it appears in audits.")],
    scope: Annotated[
        list[str], typer.Option("--scope", "-s", help=f"Repeat for each: {', '.join(SCOPES)}.")
    ],
) -> None:
    """Make a random token; print it once, with the entry for server.tokens (its hash)."""
    unknown = sorted(set(scope) - set(SCOPES))
    if unknown:
        fail(f"--scope: unknown {', '.join(unknown)}; use {', '.join(SCOPES)}")
    token = secrets.token_urlsafe(32)
    scopes = ", ".join(dict.fromkeys(scope))
    # Plain text: the token must be copied exactly, and [..] is no markup here.
    typer.echo(f"token (shown once; give it to its user): {token}")
    typer.echo(
        "add to spokehub.yaml:\n"
        f"server:\n  tokens:\n    {name}:\n      scopes: [{scopes}]\n"
        f"      sha256: {token_digest(token)}"
    )


@app.command("list")
def list_command(ctx: typer.Context) -> None:
    """The project's tokens: name, scopes, and where the secret lives (never the secret)."""
    server = state(ctx).project.server
    table = Table("name", "scopes", "stored as", title="API tokens")
    if server.admin_token is not None:
        table.add_row(ADMIN_TOKEN_NAME, "all", "server.admin_token")
    for name, settings in server.tokens.items():
        stored = "sha256" if settings.sha256 is not None else "token"
        table.add_row(name, ", ".join(settings.scopes), stored)
    out.print(table)
