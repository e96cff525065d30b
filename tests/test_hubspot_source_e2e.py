"""End to end through ``spokehub sync run``: a HubSpot portal in the sandbox pulled into
the hub twice; the second run reads only the contacts and companies changed since the
first, and the run records say so."""

from __future__ import annotations

import itertools
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from spokehub_hubspot.testing import SANDBOX_ACCESS_TOKEN, HubSpotSandbox

from .daemon import hub_env, hub_rows, spokehub


def _spokehub(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = hub_env(SPOKEHUB_PLUGINS="hubspot", HUBSPOT_ACCESS_TOKEN=SANDBOX_ACCESS_TOKEN)
    return spokehub(config, *args, env=env)


def test_two_incremental_runs_the_second_reads_only_what_changed(tmp_path: Path) -> None:
    moments = itertools.count()
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    portal = HubSpotSandbox(now=lambda: start + timedelta(milliseconds=next(moments)))
    portal.seed(contacts=120, companies=12)
    with portal:
        config = tmp_path / "spokehub.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "store": {"url": f"sqlite:///{tmp_path / 'hub.db'}"},
                    "connections": {
                        "crm": {
                            "kind": "source",
                            "spoke": "hubspot",
                            "config": {
                                "base_url": portal.url,
                                "access_token": "${HUBSPOT_ACCESS_TOKEN}",
                                "page_size": 50,
                            },
                        }
                    },
                }
            )
        )
        first = _spokehub(config, "sync", "run", "crm", "--no-progress")
        assert first.returncode == 0, first.stderr
        # 120 persons and their 120 memberships, 12 accounts.
        assert "crm: 252 record(s)" in first.stdout, first.stdout
        searches = len(portal.requests_to("/crm/v3/objects/{object_type}/search"))

        contacts = sorted(portal.contacts, key=int)
        portal.touch("contacts", contacts[7], jobtitle="Head of purchasing")
        portal.touch("contacts", contacts[99], phone="+31 20 555 0199")
        portal.touch("companies", sorted(portal.companies, key=int)[4], name="Org Four BV")

        second = _spokehub(config, "sync", "run", "crm", "--no-progress")
        assert second.returncode == 0, second.stderr
        # Two persons with their memberships, one account.
        assert "crm: 5 record(s)" in second.stdout, second.stdout
        # One search a stream, each filtered on its last-modified date.
        later = portal.requests_to("/crm/v3/objects/{object_type}/search")[searches:]
        assert len(later) == 2
        filters = [r.json()["filterGroups"][0]["filters"][0] for r in later]
        assert {f["propertyName"] for f in filters} == {"lastmodifieddate", "hs_lastmodifieddate"}
        assert {f["operator"] for f in filters} == {"GTE"}

        status = _spokehub(config, "sync", "status", "crm", "-n", "10", "--json")
        assert status.returncode == 0, status.stderr
        runs = json.loads(status.stdout)
        by_stream = {
            stream: [r["records"] for r in runs if r["stream"] == stream]
            for stream in ("contacts", "companies")
        }
        assert by_stream == {"contacts": [4, 240], "companies": [1, 12]}
        assert {r["status"] for r in runs} == {"succeeded"}

    processed = _spokehub(config, "pipeline", "run", "--once")
    assert processed.returncode == 0, processed.stderr
    [(ids,)] = hub_rows(
        tmp_path, "SELECT count(*) FROM identifiers WHERE type = 'hubspot:contact_id'"
    )
    assert ids == 120
    phones = hub_rows(tmp_path, "SELECT value FROM identifiers WHERE type = 'phone'")
    assert phones == [("+31205550199",)]
