"""Identity changes reach the tools through ``spokehub serve``: after a merge the files
destination holds the survivor and the merge line naming the absorbed contact; after an
unmerge, both parts upserted again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from .daemon import ADMIN, WRITE_KEY, Daemon, free_port, wait_until
from .serving import FILES_CRM, destination_project

EMAIL = "chain@example.org"


def _project(tmp_path: Path, port: int) -> Path:
    return destination_project(
        tmp_path,
        port,
        FILES_CRM,
        [{"to": "crm", "kinds": ["upsert_person"]}],
    )


def _send(url: str, *messages: dict[str, Any]) -> None:
    r = httpx.post(f"{url}/v1/batch", json={"batch": list(messages)}, auth=(WRITE_KEY, ""))
    assert r.status_code == 200, r.text


def _lines(tmp_path: Path) -> list[dict[str, Any]]:
    out = tmp_path / "crm.jsonl"
    text = out.read_text() if out.exists() else ""
    return [json.loads(line) for line in text.splitlines()]


def _ids(line: dict[str, Any]) -> set[tuple[str, str]]:
    return {(i["type"], i["value"]) for i in line["identifiers"]}


def test_merge_and_unmerge_reach_the_files_destination(tmp_path: Path) -> None:
    port = free_port()
    daemon = Daemon(_project(tmp_path, port), port, plugins="files").start()
    try:
        # Two visitors the hub cannot tell are one person yet.
        _send(daemon.url, {"type": "identify", "anonymousId": "A1", "traits": {"plan": "pro"}})
        wait_until(lambda: len(_lines(tmp_path)) == 1)
        _send(daemon.url, {"type": "identify", "anonymousId": "B1", "traits": {"email": EMAIL}})
        wait_until(lambda: len(_lines(tmp_path)) == 2)
        first, second = _lines(tmp_path)
        older, newer = first["contact_id"], second["contact_id"]
        assert older != newer

        # The same e-mail on the first device: one person.
        _send(daemon.url, {"type": "identify", "anonymousId": "A1", "traits": {"email": EMAIL}})
        wait_until(lambda: any(line["kind"] == "merge" for line in _lines(tmp_path)))
        wait_until(lambda: len(_lines(tmp_path)) >= 4)
        lines = _lines(tmp_path)
        merges = [line for line in lines if line["kind"] == "merge"]
        assert len(merges) == 1
        merge = merges[0]
        assert merge["contact_id"] == older
        assert merge["absorbed_contact_id"] == newer
        assert {(i["type"], i["value"]) for i in merge["absorbed_identifiers"]} == {
            ("anonymous_id", "B1"),
            ("email", EMAIL),
        }
        # The destination's own id of the absorbed contact (its line) came back with it.
        assert merge["absorbed_external_id"] == "crm.jsonl:2"
        after = lines[lines.index(merge) + 1 :]
        survivor = [line for line in after if line["kind"] == "upsert_person"]
        assert survivor and all(line["contact_id"] == older for line in survivor)
        assert _ids(survivor[0]) == {
            ("anonymous_id", "A1"),
            ("anonymous_id", "B1"),
            ("email", EMAIL),
        }
        assert survivor[-1]["person"]["email"] == EMAIL
        assert survivor[-1]["person"]["attributes"] == {"plan": "pro"}
        profile = daemon.admin(f"/v1/profiles/{newer}").json()
        assert profile["contact_id"] == older

        # An operator undoes the link the last identify made.
        count = len(_lines(tmp_path))
        r = httpx.post(
            f"{daemon.url}/v1/profiles/{older}/unmerge",
            json={"pair": ["anonymous_id:A1", f"email:{EMAIL}"], "reason": "shared device"},
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        wait_until(lambda: len(_lines(tmp_path)) >= count + 2)
        parts = _lines(tmp_path)[count:]
        assert [line["kind"] for line in parts] == ["upsert_person", "upsert_person"]
        assert len({line["contact_id"] for line in parts}) == 2
        assert older in {line["contact_id"] for line in parts}
        assert sorted(sorted(_ids(line)) for line in parts) == [
            [("anonymous_id", "A1")],
            [("anonymous_id", "B1"), ("email", EMAIL)],
        ]
    finally:
        daemon.stop()
