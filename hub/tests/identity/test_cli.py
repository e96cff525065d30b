"""The profiles and identity sub-commands, mounted on a local app as the main CLI does."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import typer
from typer.testing import CliRunner

from spokehub.identity import IdentityRules
from spokehub.identity.cli import identity_app, profiles_app

from .helpers import rec, resolve


@dataclass
class State:
    store_url: str
    identity: IdentityRules = field(default_factory=IdentityRules)


def _app(url: str) -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = State(url)

    app.add_typer(profiles_app, name="profiles")
    app.add_typer(identity_app, name="identity")
    return app


def _seed(engine) -> str:
    with engine.begin() as conn:
        resolve(conn, [rec("user_id:u1", "email:ada@example.com", record_id="signup")])
        result = resolve(
            conn, [rec("email:ada@example.com", "phone:+14155550120", record_id="crm")]
        )
        return result.contact_ids[0]


def test_show_explain_unmerge(engine, store_url):
    contact = _seed(engine)
    runner = CliRunner()
    app = _app(store_url)
    shown = runner.invoke(app, ["profiles", "show", "email:ada@example.com"])
    assert shown.exit_code == 0, shown.output
    assert contact in shown.output and "+14155550120" in shown.output
    as_json = runner.invoke(app, ["profiles", "show", contact, "--json"])
    assert json.loads(as_json.output)["contact_id"] == contact
    why = runner.invoke(app, ["profiles", "explain", "user_id:u1", "phone:+14155550120"])
    assert why.exit_code == 0, why.output
    assert "one person" in why.output and "signup" in why.output and "crm" in why.output
    cut = runner.invoke(app, ["profiles", "unmerge", "--record", "crm", "--reason", "typo"])
    assert cut.exit_code == 0, cut.output
    assert "split off" in cut.output
    apart = runner.invoke(app, ["profiles", "explain", "user_id:u1", "phone:+14155550120"])
    assert "two profiles" in apart.output


def test_unknown_id_exits_1(engine, store_url):
    runner = CliRunner()
    app = _app(store_url)
    result = runner.invoke(app, ["profiles", "show", "email:nobody@example.com"])
    assert result.exit_code == 1
    assert "no email identifier" in result.output
    result = runner.invoke(app, ["profiles", "show", "0190a000-0000-7000-8000-000000000000"])
    assert result.exit_code == 1
    result = runner.invoke(app, ["profiles", "show", "not an id"])
    assert result.exit_code == 2


def test_rules(tmp_path):
    runner = CliRunner()
    app = _app(f"sqlite:///{tmp_path / 'x.db'}")
    result = runner.invoke(app, ["identity", "rules"])
    assert result.exit_code == 0, result.output
    assert "user_id" in result.output and "test@test" in result.output
    data = json.loads(runner.invoke(app, ["identity", "rules", "--json"]).output)
    assert data["limits"]["user_id"] == 1
