"""The reference enricher through ``spokehub serve``: installed, it is listed by
``spokehub spokes``; orders in, and the profile holds ``lifetime_value`` with its model and
time, which the destination receives with the person's upsert."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from .daemon import WRITE_KEY, Daemon, free_port, wait_until
from .serving import FILES_CRM, destination_project


def _project(tmp_path: Path, port: int) -> Path:
    routes = [
        {"to": "crm", "kinds": ["upsert_person"], "mapping": {"ltv": "scores.lifetime_value"}}
    ]
    return destination_project(tmp_path, port, FILES_CRM, routes)


def _order(order_id: str, total: float, day: int) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": "u1",
        "event": "Order Completed",
        "properties": {"order_id": order_id, "total": total},
        "timestamp": f"2024-05-0{day}T10:00:00Z",
    }


def _upserts(tmp_path: Path) -> list[dict[str, Any]]:
    out = tmp_path / "crm.jsonl"
    lines = out.read_text().splitlines() if out.exists() else []
    return [json.loads(line) for line in lines if '"upsert_person"' in line]


def test_the_lifetime_value_enricher_is_listed_and_scores_profiles(tmp_path: Path, run_cli) -> None:
    config = _project(tmp_path, port := free_port())
    listed = run_cli(
        "-c",
        str(config),
        "spokes",
        env={"SPOKEHUB_PLUGINS": "files,lifetime_value", "COLUMNS": "250"},
    )
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if "lifetime_value" in line)
    assert "enricher" in row and "spokehub-lifetime-value" in row

    daemon = Daemon(config, port, plugins="files,lifetime_value").start()
    try:
        batch = [
            {"type": "identify", "userId": "u1", "traits": {"email": "ada@example.com"}},
            _order("o1", 19.99, 1),
            _order("o2", 30.01, 3),
        ]
        r = httpx.post(f"{daemon.url}/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, ""))
        assert r.status_code == 200, r.text
        wait_until(lambda: any(u["scores"].get("order_count") == 2 for u in _upserts(tmp_path)))
        last = _upserts(tmp_path)[-1]
        assert last["scores"]["lifetime_value"] == 50.0
        assert last["person"]["attributes"]["ltv"] == 50.0
        assert last["score_details"]["lifetime_value"]["model"] == "spokehub-lifetime-value/1"

        found = daemon.admin("/v1/profiles", identifier="email:ada@example.com")
        assert found.status_code == 200, found.text
        profile = found.json()["profile"]
        score = profile["scores"]["lifetime_value"]
        assert score["value"] == 50.0
        assert score["model"] == "spokehub-lifetime-value/1"
        assert score["computed_at"].startswith("2024-05-03T10:00:00")
        assert profile["scores"]["order_count"]["value"] == 2
    finally:
        daemon.stop()
