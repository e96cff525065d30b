"""The profiles and identity sub-commands, run as the ``spokehub`` command."""

from __future__ import annotations

import json
from pathlib import Path

from .helpers import rec, resolve


def _project(directory: Path, url: str) -> None:
    (directory / "spokehub.yaml").write_text(f"version: 1\nstore: {{url: '{url}'}}\n")


def _seed(engine) -> str:
    with engine.begin() as conn:
        resolve(conn, [rec("user_id:u1", "email:ada@example.com", record_id="signup")])
        result = resolve(
            conn, [rec("email:ada@example.com", "phone:+14155550120", record_id="crm")]
        )
        return result.contact_ids[0]


def test_show_explain_unmerge(engine, store_url, run_cli, tmp_path):
    contact = _seed(engine)
    _project(tmp_path, store_url)
    shown = run_cli("profiles", "show", "email:ada@example.com")
    assert shown.returncode == 0, shown.stderr
    assert contact in shown.stdout and "+14155550120" in shown.stdout
    as_json = run_cli("profiles", "show", contact, "--json")
    assert json.loads(as_json.stdout)["contact_id"] == contact
    why = run_cli("profiles", "explain", "user_id:u1", "phone:+14155550120")
    assert why.returncode == 0, why.stderr
    assert "one person" in why.stdout and "signup" in why.stdout and "crm" in why.stdout
    cut = run_cli("profiles", "unmerge", "--record", "crm", "--reason", "typo")
    assert cut.returncode == 0, cut.stderr
    assert "split off" in cut.stdout
    apart = run_cli("profiles", "explain", "user_id:u1", "phone:+14155550120")
    assert "two profiles" in apart.stdout


def test_unknown_id_exits_1(engine, store_url, run_cli, tmp_path):
    _project(tmp_path, store_url)
    result = run_cli("profiles", "show", "email:nobody@example.com")
    assert result.returncode == 1
    assert "no email identifier" in result.stderr
    result = run_cli("profiles", "show", "0190a000-0000-7000-8000-000000000000")
    assert result.returncode == 1
    result = run_cli("profiles", "show", "not an id")
    assert result.returncode == 2


def test_an_unmigrated_store_is_named(run_cli, tmp_path):
    _project(tmp_path, f"sqlite:///{tmp_path / 'empty.db'}")
    result = run_cli("profiles", "show", "email:ada@example.com")
    assert result.returncode == 2
    assert "spokehub db upgrade" in result.stderr


def test_rules(run_cli, tmp_path):
    _project(tmp_path, f"sqlite:///{tmp_path / 'x.db'}")
    result = run_cli("identity", "rules")
    assert result.returncode == 0, result.stderr
    assert "user_id" in result.stdout and "test@test" in result.stdout
    assert "alias: one person (previousId as user_id, no limits)" in result.stdout
    data = json.loads(run_cli("identity", "rules", "--json").stdout)
    assert data["limits"]["user_id"] == 1
    assert data["never_merge_on"] == []
    assert data["alias"] == {"merge": True, "previous_id": "user_id"}
