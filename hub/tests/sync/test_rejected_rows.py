"""Rows a pulled source cannot map are quarantined with their reason, beside the checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from spokehub.config import validate
from spokehub.registry import Registry
from spokehub.store.tables import inbox, quarantine
from spokehub.sync import sync_connection

CSV = "id,email\n1,ada@example.com\n2,not-an-address\n3,cy@example.com\n"


@pytest.mark.asyncio
async def test_bad_rows_are_quarantined_and_the_rest_reach_the_inbox(
    engine, tmp_path: Path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "people.csv").write_text(CSV)
    registry = Registry.load(allow=["files"])
    project = validate(
        {
            "connections": {
                "shop": {
                    "kind": "source",
                    "spoke": "files",
                    "config": {
                        "streams": [
                            {
                                "name": "people",
                                "path": "people.csv",
                                "kind": "person",
                                "identifiers": {"email": "email"},
                            }
                        ]
                    },
                }
            }
        },
        registry,
    )
    stats = await sync_connection(engine, project, registry, "shop")
    assert (stats.records, stats.rejected) == (2, 1)
    with engine.connect() as conn:
        assert conn.execute(select(inbox.c.id)).all().__len__() == 2
        [row] = conn.execute(select(quarantine)).all()
    assert row.stage == "source" and row.field == "email"
    assert row.rule.startswith("people.csv:3: ")
    assert "not-an-address" not in row.rule  # the reason never quotes the value
    assert "not-an-address" in row.body  # the row itself is kept
    again = await sync_connection(engine, project, registry, "shop")
    assert (again.records, again.rejected) == (0, 0)
