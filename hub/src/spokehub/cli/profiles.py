"""``spokehub profiles``: look at, explain and repair profiles.

Identifier values appear in this output because the operator asked for them by name.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import Connection, inspect

from spokehub_contracts import Identifier

from ..identity.errors import IdentityError
from ..identity.explain import explain
from ..identity.profile_graph import resolve_ref
from ..identity.unmerge import unmerge
from ..pipeline.identity_changes import announce_splits
from ..profiles.view import profile_view
from ..store import transaction
from .context import CliState, fail, out, state
from .store import store_engine

app = typer.Typer(help="Look at, explain and repair profiles.", no_args_is_help=True)


@contextmanager
def _connection(st: CliState, *, write: bool = False) -> Iterator[Connection]:
    engine = store_engine(st)
    try:
        with transaction(engine, readonly=not write) as conn:
            if not inspect(conn).has_table("profiles"):
                fail("the store has no identity tables yet: run `spokehub db upgrade`")
            yield conn
    finally:
        engine.dispose()


def parse_ref(text: str) -> Identifier | str:
    """A contact ID (a UUID) or a ``TYPE:VALUE`` identifier."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        pass
    try:
        return Identifier.parse(text)
    except ValueError:
        fail(f"{text!r} is neither a contact ID nor TYPE:VALUE (e.g. email:ada@example.com)")


def _when(value: Any) -> str:
    return value.isoformat(timespec="seconds") if value is not None else "—"


@app.command("show")
def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="contact ID or TYPE:VALUE")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Show a profile: identifiers, traits with their source, memberships, consents (the
    current decision per purpose and the history it comes from), scores."""
    st = state(ctx)
    rules = st.project.identity
    with _connection(st) as conn:
        try:
            contact_id, _ = resolve_ref(conn, parse_ref(ref))
            view = profile_view(conn, contact_id, rules)
        except IdentityError as exc:
            fail(f"{ref}: {exc}", 1)
    if as_json:
        out.print_json(view.model_dump_json())
        return
    out.print(f"[bold]{view.contact_id}[/bold]  created {_when(view.created_at)}")
    if view.merged_ids:
        out.print(f"absorbed: {', '.join(view.merged_ids)}")
    table = Table("type", "value", "first seen", "last seen", "source", title="identifiers")
    for i in view.identifiers:
        table.add_row(i.type, i.value, _when(i.first_seen), _when(i.last_seen), i.connection)
    out.print(table)
    if view.traits:
        table = Table("trait", "value", "source", "observed", "policy", title="traits")
        for name, t in view.traits.items():
            table.add_row(name, json.dumps(t.value), t.connection, _when(t.observed_at), t.strategy)
        out.print(table)
    if view.memberships:
        table = Table("account", "role", "started", "ended", title="memberships")
        for m in view.memberships:
            name = f"{m.account_name} ({m.account_id})" if m.account_name else m.account_id
            table.add_row(name, m.role or "—", _when(m.started_at), _when(m.ended_at))
        out.print(table)
    if view.consents:
        table = Table("purpose", "granted", "source", "recorded", title="consents")
        for purpose, c in sorted(view.consents.items()):
            table.add_row(purpose, "yes" if c.granted else "no", c.source, _when(c.recorded_at))
        out.print(table)
    if view.consent_history:
        table = Table(
            "recorded",
            "purpose",
            "granted",
            "source",
            "evidence",
            "received",
            title="consent history",
        )
        for e in view.consent_history:
            table.add_row(
                _when(e.recorded_at),
                e.purpose,
                "yes" if e.granted else "no",
                e.source,
                e.evidence or "—",
                _when(e.received_at),
            )
        out.print(table)
    if view.scores:
        table = Table("score", "value", "model", "computed", title="scores")
        for name, s in sorted(view.scores.items()):
            table.add_row(name, json.dumps(s.value), s.model, _when(s.computed_at))
        out.print(table)
    out.print(f"recent events: {len(view.events)}   audiences: {len(view.audiences)}")


@app.command("explain")
def explain_cmd(
    ctx: typer.Context,
    a: Annotated[str, typer.Argument(help="contact ID or TYPE:VALUE")],
    b: Annotated[str, typer.Argument(help="contact ID or TYPE:VALUE")],
) -> None:
    """Why two identifiers or contact IDs are one person, or what kept them apart."""
    st = state(ctx)
    rules = st.project.identity
    with _connection(st) as conn:
        try:
            why = explain(conn, rules, parse_ref(a), parse_ref(b))
        except IdentityError as exc:
            fail(str(exc), 1)
    if why.same_profile:
        out.print(f"[green]one person[/green]: profile {why.contact_a}")
        for n, step in enumerate(why.path, 1):
            out.print(
                f"  {n}. {step.source[0]}:{step.source[1]} — {step.target[0]}:{step.target[1]}"
                f"  (record {step.record_id} from {step.connection}, {_when(step.observed_at)})",
                highlight=False,
            )
    else:
        out.print(f"[yellow]two profiles[/yellow]: {why.contact_a} and {why.contact_b}")
    if why.log:
        table = Table("when", "action", "survivor", "other", "rule", "record", title="log")
        for e in why.log:
            table.add_row(
                _when(e["at"]), e["action"], e["survivor"], e["other"] or "—",
                e["rule"] or "—", e["record_id"] or "—",
            )  # fmt: skip
        out.print(table)


@app.command("unmerge")
def unmerge_cmd(
    ctx: typer.Context,
    identifier: Annotated[
        str | None, typer.Argument(help="TYPE:VALUE to detach, or the first of a pair")
    ] = None,
    other: Annotated[
        str | None, typer.Argument(help="TYPE:VALUE: remove only the edge to this one")
    ] = None,
    record: Annotated[
        str | None, typer.Option("--record", help="remove every link this record made")
    ] = None,
    reason: Annotated[str, typer.Option(help="why, for the log")] = "",
) -> None:
    """Undo a bad link: detach an identifier, cut one pair, or undo one record's links."""
    if (identifier is None) == (record is None):
        fail("give an identifier (and optionally a second one) or --record")

    def ident(text: str) -> Identifier:
        ref = parse_ref(text)
        if isinstance(ref, str):
            fail("unmerge takes identifiers (TYPE:VALUE), not contact IDs")
        return ref

    st = state(ctx)
    rules = st.project.identity
    with _connection(st, write=True) as conn:
        try:
            if record is not None:
                result = unmerge(conn, rules, record_id=record, reason=reason)
            elif other is not None:
                assert identifier is not None
                pair = (ident(identifier), ident(other))
                result = unmerge(conn, rules, pair=pair, reason=reason)
            else:
                assert identifier is not None
                result = unmerge(conn, rules, identifier=ident(identifier), reason=reason)
        except IdentityError as exc:
            fail(str(exc), 1)
        sent = announce_splits(conn, st.project, st.registry, result.changes)
    out.print(f"removed {result.removed_edges} evidence edge(s)")
    if not result.changes:
        out.print("the profile still holds together through other evidence")
    for change in result.changes:
        out.print(f"{change.contact_id} kept; split off: {', '.join(change.others)}")
    if sent:
        out.print(f"{sent} change(s) for the destinations that hold the profile")
