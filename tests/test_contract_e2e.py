"""The data contract through the real daemon: enforce quarantines with field and rule,
a fixed contract plus ``quarantine replay`` delivers, ``warn`` delivers and counts."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import yaml

from .daemon import WRITE_KEY, Daemon, free_port
from .serving import FILES_CRM, destination_project

CONTRACT = {
    "traits": {"person": {"loyalty_tier": {"type": "string", "enum": ["bronze", "gold"]}}},
    "events": {
        "Subscription Started": {"properties": {"plan": {"type": "string", "required": True}}}
    },
    "sources": {"web": {"mode": "enforce"}, "legacy": {"mode": "warn"}},
}


def _project(tmp_path: Path, port: int, contract: dict) -> Path:
    (tmp_path / "contract.yaml").write_text(yaml.safe_dump(contract))
    return destination_project(
        tmp_path,
        port,
        FILES_CRM,
        [{"to": "crm", "kinds": ["upsert_person", "event"]}],
        sources={"legacy": {"write_keys": ["wk-legacy"]}},
    )


def _send(url: str, key: str, batch: list[dict]) -> None:
    r = httpx.post(f"{url}/v1/batch", json={"batch": batch}, auth=(key, ""), timeout=10)
    assert r.status_code == 200, r.text


def _delivered(tmp_path: Path, needle: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    out = tmp_path / "crm.jsonl"
    while time.monotonic() < deadline:
        text = out.read_text() if out.exists() else ""
        if needle in text:
            return text
        time.sleep(0.1)
    raise AssertionError(f"{needle!r} never delivered")


def test_contract_enforce_replay_and_warn(tmp_path: Path, run_cli):
    def cli(*args: str):
        # rich tables wrap to the terminal width
        return run_cli(*args, env={"COLUMNS": "250"})

    port = free_port()
    config = _project(tmp_path, port, CONTRACT)
    daemon = Daemon(config, port, plugins="files").start()
    try:
        _send(
            daemon.url,
            WRITE_KEY,
            [
                {"type": "identify", "userId": "u1", "traits": {"loyalty_tier": "gold"}},
                {"type": "identify", "userId": "u2", "traits": {"loyalty_tier": "platinum"}},
                {
                    "type": "track",
                    "userId": "u1",
                    "event": "Subscription Started",
                    "properties": {"plan": "pro"},
                },
                {
                    "type": "track",
                    "userId": "u2",
                    "event": "Subscription Started",
                    "properties": {"seats": 3},
                },
            ],
        )
        _send(
            daemon.url,
            "wk-legacy",
            [{"type": "identify", "userId": "u3", "traits": {"loyalty_tier": "diamond"}}],
        )
        daemon.wait_idle()
        _delivered(tmp_path, "diamond")  # warn mode delivers
        listed = cli("quarantine", "list")
        assert listed.returncode == 0, listed.stderr
        assert "traits.loyalty_tier" in listed.stdout
        assert "properties.plan" in listed.stdout
        assert "platinum" not in listed.stdout  # values are never shown
        text = (tmp_path / "crm.jsonl").read_text()
        assert "platinum" not in text and '"seats"' not in text
    finally:
        assert daemon.stop() == 0

    # Fix the contract (both changes are additive) and replay the quarantined records.
    fixed = yaml.safe_load(yaml.safe_dump(CONTRACT))
    fixed["traits"]["person"]["loyalty_tier"]["enum"].append("platinum")
    fixed["events"]["Subscription Started"]["properties"]["plan"]["required"] = False
    _project(tmp_path, port, fixed)
    daemon = Daemon(config, port, plugins="files").start()
    try:
        replayed = cli("quarantine", "replay")
        assert replayed.returncode == 0, replayed.stderr
        _delivered(tmp_path, "platinum")
        text = _delivered(tmp_path, '"seats"')
        assert text.count("Subscription Started") == 2
        report = cli("contract", "report")
        assert report.returncode == 0, report.stderr
        assert "legacy" in report.stdout and "warn:accept" in report.stdout
        assert "enforce:quarantine" in report.stdout
        metrics = daemon.metrics()
        assert 'spokehub_contract_violations_total{event="Subscription Started"' in metrics
        assert 'source="legacy"' in metrics
    finally:
        assert daemon.stop() == 0
