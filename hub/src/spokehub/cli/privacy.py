"""``spokehub privacy``: forget a person, lift a suppression, export a person's data,
and follow a request's receipts."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from spokehub_contracts import Identifier, PrivacyAction

from ..privacy.erase import carry_out
from ..privacy.export import export_subject
from ..privacy.requests import RequestView, file_request, read_request
from ..privacy.settle import settle
from ..store.driver_sql import transaction
from .context import CliState, err, fail, out, state
from .store import store_engine

app = typer.Typer(
    help="Erasure, suppression and access requests, with a receipt per destination.",
    no_args_is_help=True,
)


def _identifier(text: str) -> Identifier:
    try:
        return Identifier.parse(text)
    except ValueError as exc:
        fail(f"TYPE:VALUE: {exc}")


def _file_and_carry_out(
    st: CliState, action: PrivacyAction, subject: Identifier, reason: str | None
) -> RequestView:
    engine = store_engine(st)
    with transaction(engine) as conn:
        request_id = file_request(
            conn, action, [subject], source="cli", requested_by="cli", reason=reason
        )
    try:
        carry_out(engine, st.project, st.registry, request_id)
    except Exception as exc:
        fail(
            f"request {request_id} could not be carried out ({type(exc).__name__}); "
            "it stays pending and the daemon tries again",
            code=1,
        )
    settle(engine)
    with transaction(engine, readonly=True) as conn:
        view = read_request(conn, request_id)
    assert view is not None
    return view


@app.command("forget")
def forget_command(
    ctx: typer.Context,
    identifier: Annotated[str, typer.Argument(help="TYPE:VALUE, e.g. email:ada@example.com")],
    reason: Annotated[str | None, typer.Option(help="Why, kept with the request.")] = None,
    suppress: Annotated[
        bool, typer.Option(help="Also keep the identifiers out: new data with them is dropped.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Erase a person from the hub and from every destination that can delete."""
    st = state(ctx)
    action = PrivacyAction.DELETE_AND_SUPPRESS if suppress else PrivacyAction.DELETE
    view = _file_and_carry_out(st, action, _identifier(identifier), reason)
    _show(view, as_json)


@app.command("unsuppress")
def unsuppress_command(
    ctx: typer.Context,
    identifier: Annotated[str, typer.Argument(help="TYPE:VALUE")],
    reason: Annotated[str | None, typer.Option(help="Why, kept with the request.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Lift the suppression an identifier came with (all of that person's identifiers)."""
    st = state(ctx)
    view = _file_and_carry_out(st, PrivacyAction.UNSUPPRESS, _identifier(identifier), reason)
    _show(view, as_json)


@app.command("export")
def export_command(
    ctx: typer.Context,
    identifier: Annotated[str, typer.Argument(help="TYPE:VALUE")],
    reason: Annotated[str | None, typer.Option(help="Why, kept with the request.")] = None,
) -> None:
    """Print everything the hub holds about a person as JSON (an access request)."""
    st = state(ctx)
    subject = _identifier(identifier)
    view = _file_and_carry_out(st, PrivacyAction.ACCESS, subject, reason)
    with transaction(store_engine(st), readonly=True) as conn:
        data = export_subject(conn, st.project.identity, [subject])
    err.print(f"access request {view.id}: {len(data['profiles'])} profile(s)", highlight=False)
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@app.command("status")
def status_command(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(help="The request's id (pr_…).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A request's status and a receipt per destination."""
    st = state(ctx)
    engine = store_engine(st)
    settle(engine)
    with transaction(engine, readonly=True) as conn:
        view = read_request(conn, request_id)
    if view is None:
        fail(f"no privacy request {request_id!r}")
    _show(view, as_json)


def _show(view: RequestView, as_json: bool) -> None:
    if as_json:
        typer.echo(view.model_dump_json(indent=2))
        return
    out.print(f"request {view.id}: {view.action}, {view.status}", highlight=False)
    erased = view.summary.get("erased") or {}
    if erased:
        rows = ", ".join(f"{table} {n}" for table, n in sorted(erased.items()))
        out.print(f"erased in the hub: {rows}", highlight=False)
    if view.summary.get("suppressed"):
        out.print(f"suppressed identifiers: {view.summary['suppressed']}", highlight=False)
    if view.receipts:
        table = Table("destination", "status", "reference", "detail", "at", title="receipts")
        for r in view.receipts:
            table.add_row(
                r.destination,
                r.status,
                r.reference or "",
                r.detail or "",
                r.updated_at.isoformat(timespec="seconds"),
            )
        out.print(table)
