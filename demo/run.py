"""The spokehub demo: a fresh project on the embedded store, driven through the real CLI.

Run with ``make demo``. Everything happens in ``demo-out/`` (recreated each run); every
step calls the installed ``spokehub`` command, as a user would.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
from rich.console import Console
from rich.rule import Rule
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "demo-out"
SPOKEHUB = [sys.executable, "-m", "spokehub"]
console = Console()
WRITE_KEY = "website-demo-key"
ADMIN_TOKEN = "demo-admin-token"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOKEHUB_")}
    env.update(
        SPOKEHUB_ADMIN_TOKEN=ADMIN_TOKEN,
        WEBSITE_WRITE_KEY=WRITE_KEY,
        SPOKEHUB_PLUGINS="files",  # the demo uses the built-in spoke only
        COLUMNS="160",
    )
    return env


def step(title: str) -> None:
    console.print(Rule(f"[bold]{title}"))


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    console.print(f"[dim]$ spokehub {' '.join(args)}[/dim]")
    env = _env()
    result = subprocess.run(
        [*SPOKEHUB, *args], cwd=WORK, env=env, capture_output=True, text=True, timeout=300
    )
    if result.stdout.strip():
        console.print(result.stdout.rstrip(), highlight=False)
    if result.stderr.strip():
        console.print(result.stderr.rstrip(), style="yellow", highlight=False)
    if check and result.returncode != 0:
        console.print(f"[red]demo step failed (exit {result.returncode})[/red]")
        sys.exit(result.returncode)
    return result


def main() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir()

    step("1. A new project on the embedded SQLite store")
    run("--version")
    run("init")
    run("config", "validate")
    run("db", "upgrade")

    step("2. Spokes are found through entry points, like third-party ones")
    run("spokes")
    run("check")

    step("3. A broken project file is refused with the YAML path and the rule")
    bad = WORK / "broken.yaml"
    bad.write_text(
        "version: 1\nserver: {port: eighty}\nconnections:\n"
        "  crm: {kind: destination, spoke: hubspott}\n"
    )
    result = run("-c", "broken.yaml", "config", "validate", check=False)
    assert result.returncode == 2, "a broken config must exit 2"

    step("4. The hub as a daemon: ingestion API, pipeline, scheduled pulls, delivery lanes")
    port = free_port()
    daemon = start_daemon(port)
    base = f"http://127.0.0.1:{port}"
    try:
        story(base)
    finally:
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(30)
        console.print(f"daemon stopped on SIGTERM with exit code {code}")
        if code != 0:
            sys.exit(1)

    step("6. The same profile from the CLI, and the delivery lanes")
    run("profiles", "show", "email:ada.lovelace@example.com")
    run("deliveries", "status")
    run("quarantine", "list")

    console.print("\n[bold green]demo finished[/bold green]")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_daemon(port: int) -> subprocess.Popen[bytes]:
    console.print(f"[dim]$ spokehub serve --port {port}[/dim]")
    env = _env()
    proc = subprocess.Popen(
        [*SPOKEHUB, "--log-format", "json", "serve", "--port", str(port)],
        cwd=WORK,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(WORK / "daemon.log").open("wb"),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            console.print("[red]the daemon exited; see demo-out/daemon.log[/red]")
            sys.exit(1)
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    console.print("[red]the daemon did not become ready[/red]")
    sys.exit(1)


def story(base: str) -> None:
    auth = (WRITE_KEY, "")
    console.print(
        "The website sends Segment calls with its write key; the webshop's customers CSV is "
        "pulled by the files spoke on its schedule."
    )
    batch = [
        {"type": "page", "anonymousId": "browser-7f3a", "name": "Home"},
        {
            "type": "track",
            "anonymousId": "browser-7f3a",
            "event": "Product Viewed",
            "properties": {"product_id": "sku-42", "price": 129.0, "currency": "EUR"},
        },
        {
            "type": "identify",
            "anonymousId": "browser-7f3a",
            "userId": "ada-1001",
            "traits": {"email": "ADA.Lovelace@example.com ", "loyalty": "new"},
        },
        {
            "type": "track",
            "userId": "ada-1001",
            "event": "Order Completed",
            "properties": {"order_id": "o-1", "total": 129.0, "currency": "EUR"},
        },
    ]
    r = httpx.post(f"{base}/v1/batch", json={"batch": batch}, auth=auth, timeout=10)
    console.print(f"POST /v1/batch ({len(batch)} calls) -> {r.status_code} {r.text}")
    bad = httpx.post(
        f"{base}/v1/track", json={"userId": "ada-1001", "properties": {}}, auth=auth, timeout=10
    )
    console.print(f"POST /v1/track without an event name -> {bad.status_code} {bad.text}")
    wrong = httpx.post(f"{base}/v1/track", json=batch[3], auth=("nope", ""), timeout=10)
    console.print(f"POST /v1/track with a wrong write key -> {wrong.status_code} {wrong.text}")

    received = WORK / "out" / "crm.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lines = received.read_text().splitlines() if received.exists() else []
        kinds = [orjson.loads(line)["kind"] for line in lines]
        if "event" in kinds and kinds.count("upsert_person") >= 2:
            break
        time.sleep(0.2)
    time.sleep(1.0)  # let the last lane batches land

    step("5. One profile out, and what the CRM destination received")
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    found = httpx.get(
        f"{base}/v1/profiles",
        params={"identifier": "email:ada.lovelace@example.com"},
        headers=headers,
        timeout=10,
    )
    if found.status_code != 200:
        console.print(f"[red]profile lookup failed: {found.status_code} {found.text}[/red]")
        sys.exit(1)
    profile = found.json()
    console.print_json(data=_summary(profile))
    lines = received.read_text().splitlines() if received.exists() else []
    table = Table(title=f"crm received {len(lines)} item(s) (out/crm.jsonl)")
    for col in ("kind", "contact_id", "what"):
        table.add_column(col)
    for line in lines:
        item = orjson.loads(line)
        event = item.get("event", {})
        what = (event.get("event") or event.get("type")) if item["kind"] == "event" else ""
        if item["kind"] == "upsert_person":
            person = item.get("person", {})
            what = ", ".join(sorted(k for k, v in person.items() if v and k != "attributes"))
        table.add_row(item["kind"], str(item.get("contact_id")), str(what or ""))
    console.print(table)
    ada = sum(orjson.loads(line).get("contact_id") == profile["contact_id"] for line in lines)
    console.print(
        f"{ada} of the CRM's items carry Ada's one contact ID: her browsing before login, "
        "her login, her order and her webshop record were resolved to one person."
    )


def _summary(found: dict) -> dict:
    view = found.get("profile", {})
    return {
        "contact_id": found.get("contact_id"),
        "identifiers": [f"{i['type']}:{i['value']}" for i in view.get("identifiers", [])],
        "traits": {
            name: f"{t.get('value')!r} from {t.get('connection') or t.get('source')}"
            for name, t in view.get("traits", {}).items()
        },
        "events": [e.get("event") or e.get("type") for e in view.get("events", [])],
    }


if __name__ == "__main__":
    main()
