"""``spokehub contract``: show, check, diff, export, publish and report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from ..datacontract import (
    Checker,
    EffectiveContract,
    diff,
    effective,
    load_contract,
    read_contract_file,
)
from ..datacontract.export import all_schemas, warehouse_ddl
from ..datacontract.store import publish, violation_report
from ..store import transaction
from .context import fail, out, state
from .store import breaking_changes_fail, store_engine

app = typer.Typer(help="The data contract: declared traits and events.", no_args_is_help=True)


def _effective(ctx: typer.Context) -> EffectiveContract:
    project = state(ctx).project
    return load_contract(project.contract, project.path)


@app.command("show")
def show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the contract as JSON.")] = False,
) -> None:
    """Show the effective contract: defaults plus the project's additions."""
    contract = _effective(ctx)
    if as_json:
        print(contract.model_dump_json(indent=2, exclude_defaults=True))
        return
    table = Table(title=f"Events (contract version {contract.version or '-'})")
    for col in ("event", "property", "type", "required", "rules"):
        table.add_column(col)
    for name in sorted(contract.events):
        props = contract.events[name].properties
        if not props:
            table.add_row(name, "", "", "", "")
        for i, (key, spec) in enumerate(sorted(props.items())):
            rules = []
            if spec.enum:
                rules.append("one of " + ", ".join(map(str, spec.enum)))
            if spec.pattern:
                rules.append(f"matches {spec.pattern}")
            table.add_row(
                name if i == 0 else "",
                key,
                spec.type,
                "yes" if spec.required else "",
                " ".join(rules),
            )
    out.print(table)
    traits = Table(title="Person and account traits")
    for col in ("set", "trait", "type", "pii", "owner"):
        traits.add_column(col)
    for kind, fields in (("person", contract.person_traits), ("account", contract.account_traits)):
        for key, spec in sorted(fields.items()):
            traits.add_row(
                kind, key, spec.type + (" enum" if spec.enum else ""), spec.pii, spec.owner or ""
            )
    out.print(traits)
    if contract.sources:
        for name, policy in sorted(contract.sources.items()):
            out.print(
                f"source {name}: {policy.mode}, unknown events "
                f"{policy.unknown_events}, unknown traits {policy.unknown_traits}"
            )


def _read_messages(path: Path) -> list[Any]:
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
        if isinstance(data, dict) and "batch" in data:
            return list(data["batch"])
        return data if isinstance(data, list) else [data]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


@app.command("check")
def check(
    ctx: typer.Context,
    sample: Annotated[
        Path, typer.Argument(help="JSON array, Segment batch or JSON lines of messages.")
    ],
    source: Annotated[
        str, typer.Option(help="Check as if sent by this source connection.")
    ] = "default",
) -> None:
    """Check a sample file of events against the contract (exit 1 if any would be refused)."""
    checker = Checker(_effective(ctx))
    try:
        messages = _read_messages(sample)
    except (OSError, json.JSONDecodeError) as exc:
        fail(f"{sample}: cannot read messages ({type(exc).__name__})")
    refused = 0
    for i, message in enumerate(messages):
        verdict = checker.check_message(source, message if isinstance(message, dict) else {})
        label = message.get("event") or message.get("type") if isinstance(message, dict) else "?"
        if verdict.action != "accept":
            refused += 1
        for v in verdict.violations:
            out.print(f"[{i}] {label}: {v} ({verdict.mode}, {verdict.action})", highlight=False)
        for trait in verdict.dropped_traits:
            out.print(f"[{i}] {label}: traits.{trait}: dropped (not declared)", highlight=False)
    out.print(f"{len(messages)} message(s), {refused} refused")
    raise typer.Exit(1 if refused else 0)


@app.command("diff")
def diff_cmd(
    old: Annotated[Path, typer.Argument(help="Old contract.yaml or project file.")],
    new: Annotated[Path, typer.Argument(help="New contract.yaml or project file.")],
) -> None:
    """Classify changes between two contract versions (exit 1 if any is breaking)."""
    changes = diff(effective(read_contract_file(old)), effective(read_contract_file(new)))
    for change in changes:
        colour = "red" if change.severity == "breaking" else "green"
        out.print(
            f"[{colour}]{change.severity}[/{colour}] {change.where}: {change.what}", highlight=False
        )
    breaking = sum(c.severity == "breaking" for c in changes)
    out.print(f"{len(changes)} change(s), {breaking} breaking")
    raise typer.Exit(1 if breaking else 0)


@app.command("export")
def export(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Where to write the schemas.")] = Path(
        "contract-export"
    ),
) -> None:
    """Write JSON Schema for every event and trait set, and the warehouse DDL."""
    contract = _effective(ctx)
    for name, schema in all_schemas(contract).items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    (directory / "warehouse.sql").write_text(warehouse_ddl(contract), encoding="utf-8")
    out.print(f"wrote {len(contract.events) + 2} schema(s) and warehouse.sql to {directory}")


@app.command("publish")
def publish_cmd(
    ctx: typer.Context,
    allow_breaking: Annotated[
        bool, typer.Option(help="Publish even if it breaks the live contract.")
    ] = False,
) -> None:
    """Make the project's contract the live one (breaking changes need --allow-breaking)."""
    st = state(ctx)
    contract = _effective(ctx)
    with breaking_changes_fail():
        changes = publish(store_engine(st), contract, allow_breaking=allow_breaking)
    out.print(f"published: {len(changes)} change(s)" if changes else "live contract unchanged")


@app.command("report")
def report(ctx: typer.Context) -> None:
    """Violation counts per source, event, field and rule."""
    with transaction(store_engine(state(ctx)), readonly=True) as conn:
        rows = violation_report(conn)
    table = Table(title="Contract violations")
    for col in ("source", "event", "field", "rule", "outcome", "count", "last seen"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["connection"],
            r["event"],
            r["field"],
            r["rule"],
            r["outcome"],
            str(r["count"]),
            str(r["last_seen"])[:19],
        )
    out.print(table)
