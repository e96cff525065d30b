"""Whole profiles through ``spokehub serve``: a route that maps a model score and a
consent decision finds them on every person upsert after they are known, whatever record
caused it (a pulled score, an identify that only adds a name), and the e-mail goes out
normalized."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from .daemon import WRITE_KEY, Daemon, free_port, wait_until
from .serving import FILES_CRM, destination_project


def _project(tmp_path: Path, port: int) -> Path:
    (tmp_path / "churn.csv").write_text("email,risk\nada@example.com,0.83\n")
    churn = {
        "name": "churn",
        "path": "churn.csv",
        "kind": "score",
        "identifiers": {"email": "email"},
        "mapping": {"risk": "value"},
        "constants": {"name": "churn_risk", "model": "churn-v3"},
    }
    mapping = {"churn": "scores.churn_risk", "newsletter": "consents.email_marketing"}
    return destination_project(
        tmp_path,
        port,
        FILES_CRM,
        [{"to": "crm", "kinds": ["upsert_person"], "mapping": mapping}],
        sources={"models": {"spoke": "files", "config": {"streams": [churn]}}},
    )


def _upserts(tmp_path: Path) -> list[dict[str, Any]]:
    out = tmp_path / "crm.jsonl"
    lines = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
    return [x for x in lines if x["kind"] == "upsert_person"]


def _identify(daemon: Daemon, traits: dict[str, Any]) -> None:
    message = {"type": "identify", "userId": "u-ada", "traits": traits}
    r = httpx.post(f"{daemon.url}/v1/batch", json={"batch": [message]}, auth=(WRITE_KEY, ""))
    assert r.status_code == 200, r.text


def test_every_upsert_carries_the_mapped_score_and_consent(tmp_path: Path, run_cli) -> None:
    config = _project(tmp_path, port := free_port())
    daemon = Daemon(config, port, plugins="files").start()
    try:
        _identify(daemon, {"email": "ADA@Example.com "})
        wait_until(lambda: len(_upserts(tmp_path)) == 1)

        pulled = run_cli(
            "-c", str(config), "sync", "run", "models", env={"SPOKEHUB_PLUGINS": "files"}
        )
        assert pulled.returncode == 0, pulled.stderr
        wait_until(lambda: len(_upserts(tmp_path)) == 2)

        daemon.decide_consent("email:ada@example.com", "email_marketing", False)
        wait_until(
            lambda: daemon.admin("/v1/profiles", identifier="email:ada@example.com").json()[
                "profile"
            ]["consents"]
        )

        # An identify that only adds a name: its upsert carries the whole profile.
        _identify(daemon, {"firstName": "Ada"})
        wait_until(lambda: len(_upserts(tmp_path)) == 3)
        first, scored, named = _upserts(tmp_path)
        assert first["person"]["email"] == "ada@example.com"
        assert "churn" not in first["person"]["attributes"]
        assert scored["person"]["attributes"]["churn"] == 0.83
        assert scored["score_details"]["churn_risk"]["model"] == "churn-v3"
        assert named["person"]["first_name"] == "Ada"
        assert named["person"]["email"] == "ada@example.com"
        assert named["person"]["attributes"]["churn"] == 0.83
        assert named["person"]["attributes"]["newsletter"] is False
        assert named["consents"] == {"email_marketing": False}

        # The raw value stays in the hub as the trait's provenance.
        profile = daemon.admin("/v1/profiles", identifier="email:ada@example.com").json()
        email = profile["profile"]["traits"]["email"]
        assert (email["value"], email["raw"]) == ("ada@example.com", "ADA@Example.com ")
    finally:
        daemon.stop()
