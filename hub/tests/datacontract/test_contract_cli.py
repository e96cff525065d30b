from __future__ import annotations

import json
from pathlib import Path

import yaml

from .test_contract import CONTRACT


def _project(tmp_path: Path, contract: dict) -> None:
    (tmp_path / "contract.yaml").write_text(yaml.safe_dump(contract))
    (tmp_path / "spokehub.yaml").write_text("version: 1\nstore: {url: 'sqlite:///hub.db'}\n")


def test_show_check_export(run_cli, tmp_path: Path):
    _project(tmp_path, CONTRACT)
    shown = run_cli("contract", "show")
    assert shown.returncode == 0, shown.stderr
    assert "Subscription Started" in shown.stdout and "loyalty_tier" in shown.stdout

    sample = tmp_path / "sample.jsonl"
    sample.write_text(
        "\n".join(
            json.dumps(m)
            for m in (
                {
                    "type": "track",
                    "userId": "u",
                    "event": "Subscription Started",
                    "properties": {"plan": "pro"},
                },
                {"type": "track", "userId": "u", "event": "Subscription Started", "properties": {}},
            )
        )
    )
    checked = run_cli("contract", "check", "sample.jsonl", "--source", "website")
    assert checked.returncode == 1
    assert "[1] Subscription Started: properties.plan: required" in checked.stdout
    assert "2 message(s), 1 refused" in checked.stdout

    exported = run_cli("contract", "export", "out")
    assert exported.returncode == 0, exported.stderr
    schema = json.loads((tmp_path / "out/events/subscription_started.json").read_text())
    assert schema["properties"]["properties"]["required"] == ["plan"]
    assert "CREATE TABLE persons" in (tmp_path / "out/warehouse.sql").read_text()


def test_breaking_change_to_live_contract_needs_the_flag(run_cli, tmp_path: Path):
    _project(tmp_path, CONTRACT)
    assert run_cli("db", "upgrade").returncode == 0
    first = run_cli("contract", "publish")
    assert first.returncode == 0, first.stderr

    narrowed = json.loads(json.dumps(CONTRACT))
    narrowed["traits"]["person"]["loyalty_tier"]["enum"] = ["gold"]
    _project(tmp_path, narrowed)
    refused = run_cli("contract", "publish")
    assert refused.returncode == 2
    assert "breaking: traits.person.loyalty_tier: enum narrowed" in refused.stderr
    assert run_cli("contract", "publish", "--allow-breaking").returncode == 0

    widened = json.loads(json.dumps(narrowed))
    widened["events"]["Trial Ended"] = {"properties": {}}
    _project(tmp_path, widened)
    assert run_cli("contract", "publish").returncode == 0  # additive needs no flag


def test_diff_exit_codes(run_cli, tmp_path: Path):
    (tmp_path / "old.yaml").write_text(yaml.safe_dump(CONTRACT))
    new = json.loads(json.dumps(CONTRACT))
    del new["events"]["Subscription Started"]["properties"]["plan"]
    (tmp_path / "new.yaml").write_text(yaml.safe_dump(new))
    result = run_cli("contract", "diff", "old.yaml", "new.yaml")
    assert result.returncode == 1
    assert "breaking" in result.stdout and "plan" in result.stdout
    same = run_cli("contract", "diff", "old.yaml", "old.yaml")
    assert same.returncode == 0


def test_bad_contract_names_the_yaml_path(run_cli, tmp_path: Path):
    (tmp_path / "spokehub.yaml").write_text(
        "version: 1\ncontract:\n  events:\n    X:\n      properties:\n        p: {type: colour}\n"
    )
    result = run_cli("config", "validate")
    assert result.returncode == 2
    assert "contract.events.X.properties.p.type" in result.stderr
