"""End to end through ``spokehub serve``: a person's data reaches two destinations, one of
them dead-letters some of it; ``POST /v1/privacy/requests`` erases them: every destination
got its delete (receipts complete), the profile API answers 404 for each identifier, the
store holds none of the e-mail or phone in any table nor in the bytes of the database
file and its WAL, and a new event carrying the e-mail is not stored. Over the whole run,
errors included, the daemon's log holds no raw e-mail, phone, write key or token.

And retention: past their windows, the inbox and messageId tables shrink while the
daemon keeps answering."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx
import yaml

from spokehub_webhook.testing import SANDBOX_SECRET, WebhookReceiverSandbox

from .daemon import ADMIN, WRITE_KEY, Daemon, free_port, wait_until
from .serving import destination_project

DPO = "dpo-e2e-token-0123456789-0123456789"
EMAIL_SENT = "Ada.Lovelace@Example.com"
EMAIL = "ada.lovelace@example.com"
PHONE_SENT = "+44 20 7946 0958"
PHONE = "+442079460958"
FORMS = (EMAIL, PHONE, "2079460958", "20 7946 0958", "7946 0958")
OTHER = "grace@example.org"


def project(tmp_path: Path, port: int, hook_url: str, **extra) -> Path:
    destinations = {
        "crm": {"spoke": "files", "config": {"path": str(tmp_path / "crm.jsonl")}},
        "hook": {"spoke": "webhook", "config": {"url": hook_url, "secret": "${HOOK_SECRET}"}},
    }
    return destination_project(
        tmp_path,
        port,
        destinations,
        [{"to": "crm"}, {"to": "hook"}],
        server={"tokens": {"dpo": {"scopes": ["privacy"], "token": DPO}}},
        **extra,
    )


def send(daemon: Daemon, batch: list[dict], key: str = WRITE_KEY) -> httpx.Response:
    return httpx.post(f"{daemon.url}/v1/batch", json={"batch": batch}, auth=(key, ""), timeout=10)


def table_text(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return "\n".join(
            repr(row) for name in names for row in conn.execute(f'SELECT * FROM "{name}"')
        )
    finally:
        conn.close()


def raw_bytes(db: Path) -> bytes:
    data = db.read_bytes()
    wal = Path(f"{db}-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


def dead_letters(daemon: Daemon) -> int:
    lanes = daemon.admin("/v1/deliveries/status").json()
    return sum(lane["dead"] for lane in lanes if lane["connection"] == "hook")


def test_forget_end_to_end_with_receipts_no_trace_and_clean_logs(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", SANDBOX_SECRET)
    log = tmp_path / "daemon.log"
    db = tmp_path / "hub.db"
    with WebhookReceiverSandbox() as receiver:
        receiver.max_batch = 0  # every batch refused (413): dead letters with the reason
        port = free_port()
        daemon = Daemon(
            project(tmp_path, port, receiver.url + "/hooks"), port, plugins="files,webhook", log=log
        ).start()
        try:
            ada = [
                {
                    "type": "identify",
                    "userId": "u-ada",
                    "traits": {"email": EMAIL_SENT, "phone": PHONE_SENT, "firstName": "Ada"},
                },
                {
                    "type": "track",
                    "userId": "u-ada",
                    "event": "Order Completed",
                    "properties": {"contact": EMAIL_SENT},
                },
                {
                    "type": "identify",
                    "userId": "u-ada",
                    "traits": {"email": EMAIL_SENT, "age": "very old"},
                },
                {"type": "identify", "userId": "u-grace", "traits": {"email": OTHER}},
            ]
            assert send(daemon, ada).status_code == 200
            # Errors that log: an unknown write key, a wrong token, a body that is no JSON.
            assert send(daemon, ada[:1], key="wk-" + EMAIL).status_code == 401
            wrong = httpx.get(
                f"{daemon.url}/v1/profiles/x",
                headers={"Authorization": f"Bearer {DPO}x"},
                timeout=5,
            )
            assert wrong.status_code == 401
            bad = httpx.post(
                f"{daemon.url}/v1/track",
                content=b"{" + EMAIL.encode(),
                auth=(WRITE_KEY, ""),
                timeout=5,
            )
            assert bad.status_code == 400
            crm = tmp_path / "crm.jsonl"
            wait_until(lambda: crm.exists() and EMAIL in crm.read_text() and dead_letters(daemon))
            assert dead_letters(daemon) >= 1
            receiver.max_batch = 100  # the receiver takes batches again: the forget reaches it

            r = httpx.post(
                f"{daemon.url}/v1/privacy/requests",
                json={"kind": "delete_and_suppress", "identifiers": [f"phone:{PHONE_SENT}"]},
                headers={"Authorization": f"Bearer {DPO}"},
                timeout=30,
            )
            assert r.status_code == 200, r.text
            request_id = r.json()["id"]

            def finished() -> dict | None:
                got = httpx.get(
                    f"{daemon.url}/v1/privacy/requests/{request_id}",
                    headers={"Authorization": f"Bearer {DPO}"},
                    timeout=5,
                ).json()
                return got if got["status"] in ("done", "failed") else None

            wait_until(finished, 60)
            view = finished()
            assert view is not None and view["status"] == "done", view
            assert {x["destination"]: x["status"] for x in view["receipts"]} == {
                "crm": "deleted",
                "hook": "deleted",
            }
            assert EMAIL not in crm.read_text()
            assert any(
                c["kind"] == "forget" for m in receiver.messages for c in m["data"]["changes"]
            )
            for identifier in (f"email:{EMAIL}", f"phone:{PHONE}", "user_id:u-ada"):
                assert daemon.admin("/v1/profiles", identifier=identifier).status_code == 404

            # Once done: nothing of the e-mail or phone in any table, nor in the bytes.
            text = table_text(db).lower()
            blob = raw_bytes(db).lower()
            for form in (*FORMS, EMAIL_SENT, PHONE_SENT):
                assert form.lower() not in text, form
                assert form.lower().encode() not in blob, form
            assert OTHER in text

            # A new event carrying the e-mail: acknowledged, dropped, counted.
            again = [{"type": "identify", "userId": "u-new", "traits": {"email": EMAIL}}]
            assert send(daemon, again).status_code == 200
            daemon.wait_idle()
            wait_until(lambda: "spokehub_suppressed_records_total 1.0" in daemon.metrics())
            assert "spokehub_suppressed_records_total 1.0" in daemon.metrics()
            assert EMAIL not in table_text(db) and "u-new" not in table_text(db)
        finally:
            assert daemon.stop() == 0
    # As SQLite does when the last connection closes: the log copied back and emptied.
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    for form in (*FORMS, EMAIL_SENT, PHONE_SENT):
        assert form.lower().encode() not in raw_bytes(db).lower(), form

    # The whole run's log: the errors and dead letters are there, the secrets and PII not.
    written = log.read_text()
    assert "authentication failed" in written and "rejected (status 413)" in written
    for secret in (*FORMS, EMAIL_SENT, PHONE_SENT, WRITE_KEY, ADMIN, DPO, SANDBOX_SECRET):
        assert secret.lower() not in written.lower(), secret


def test_retention_shrinks_the_inbox_and_message_ids_while_the_daemon_answers(tmp_path):
    db = tmp_path / "hub.db"
    port = free_port()
    config = project(
        tmp_path,
        port,
        "http://127.0.0.1:9/unused",
        retention={"inbox_hours": 0.001, "interval_seconds": 1, "batch_size": 100, "pause_ms": 5},
    )
    data = yaml.safe_load(config.read_text())
    data["server"]["dedup_window_hours"] = 0.001  # 3.6 s
    data["routes"] = []
    del data["connections"]["hook"]
    config.write_text(yaml.safe_dump(data))
    daemon = Daemon(config, port, plugins="files").start()
    try:
        for start in range(0, 2000, 500):
            batch = [
                {"type": "track", "userId": f"u{i % 50}", "event": "Viewed", "messageId": f"m{i}"}
                for i in range(start, start + 500)
            ]
            assert send(daemon, batch).status_code == 200
        daemon.wait_idle(60)

        def rows(table: str) -> int:
            conn = sqlite3.connect(db)
            try:
                return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            finally:
                conn.close()

        assert rows("inbox") == 2000 and rows("message_ids") == 2000
        # While it prunes: every request answered, ingestion included.
        answers, sent = [], 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (rows("inbox") > 100 or rows("message_ids") > 100):
            answers.append(httpx.get(f"{daemon.url}/healthz", timeout=5).status_code)
            answers.append(
                send(
                    daemon,
                    [{"type": "track", "userId": "u", "event": "E", "messageId": f"late-{sent}"}],
                ).status_code
            )
            sent += 1
            time.sleep(0.05)
        assert rows("inbox") <= 100 + sent and rows("message_ids") <= 100 + sent
        assert rows("inbox") < 2000 and rows("message_ids") < 2000
        assert answers and set(answers) == {200}
        metrics = daemon.metrics()
        pruned = {
            line.split('"')[1]: float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("spokehub_retention_pruned_total{")
        }
        assert pruned["inbox"] >= 1900 and pruned["message_ids"] >= 1900
    finally:
        assert daemon.stop() == 0
