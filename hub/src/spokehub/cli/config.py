"""``spokehub config``: the project file."""

from __future__ import annotations

import typer

from .context import out, state

app = typer.Typer(help="Work with the project file.", no_args_is_help=True)


@app.command("validate")
def validate(ctx: typer.Context) -> None:
    """Check the project file, including every connection's spoke config."""
    st = state(ctx)
    project = st.project
    out.print(
        f"{st.config_path}: ok — {len(project.sources())} source(s), "
        f"{len(project.destinations())} destination(s), {len(project.routes)} route(s)"
    )
