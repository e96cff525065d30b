"""``spokehub identity``: the identity resolution rules in effect."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from .context import out, state

app = typer.Typer(help="Identity resolution rules.", no_args_is_help=True)


@app.command("rules")
def rules_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Show the identity rules in effect (defaults plus the project's ``identity:``)."""
    rules = state(ctx).project.identity
    if as_json:
        out.print_json(rules.model_dump_json())
        return
    table = Table("type", "priority", "limit", "never merges alone", title="identifier types")
    listed = [t for t in rules.priority if t != "*"]
    extra = sorted((set(rules.limits) | set(rules.never_merge_on)) - set(listed))
    for type_ in [*listed, *extra]:
        table.add_row(
            type_,
            str(rules.rank(type_) + 1),
            str(rules.limit_for(type_)),
            "yes" if type_ in rules.never_merge_on else "no",
        )
    table.add_row("(other types)", str(rules.rank("*") + 1), str(rules.default_limit), "no")
    out.print(table)
    alias = rules.alias
    if alias.merge:
        out.print(f"alias: one person (previousId as {alias.previous_id}, no limits)")
    else:
        out.print("alias: links nothing (previousId is not an identifier)")
    out.print("blocked values (besides the contracts' junk patterns):")
    for pattern in rules.blocked_values:
        out.print(f"  {pattern}", highlight=False, markup=False)
    if rules.survivorship:
        out.print("survivorship:")
        for name, policy in sorted(rules.survivorship.items()):
            sources = f" {', '.join(policy.sources)}" if policy.sources else ""
            out.print(f"  {name}: {policy.strategy}{sources}", highlight=False)
    out.print(f"default survivorship: {rules.default_survivorship.strategy}")
