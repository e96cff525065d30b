"""Bridged connectors end to end through the ``spokehub`` command: ``tap-jsonl`` customers
become profiles that ``target-jsonl`` receives; a tap that prints garbage, exits 1 or
hangs leaves a run record that says which and why and the last good STATE saved; the hub
SIGKILLed in the middle of a bridged sync resumes from the last committed STATE with no
gap; ``airbyte-source-faker`` users and purchases become persons and Order Completed
events.

The real connectors come from the package index once, into the test cache
(``spokes/singer/tests/singer_connectors.py``), and run offline from there.
"""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

SINGER_TESTS = Path(__file__).parents[1] / "spokes" / "singer" / "tests"
sys.path.insert(0, str(SINGER_TESTS))

from singer_connectors import install  # noqa: E402

from .daemon import hub_env, hub_rows, spokehub  # noqa: E402

pytestmark = pytest.mark.slow


def _home(tmp_path: Path, *names: str) -> Path:
    """A bridge home holding the cached installs of ``names``, as `bridge install` makes."""
    home = tmp_path / "bridges"
    home.mkdir(exist_ok=True)
    for name in names:
        (home / name).symlink_to(install(name) / name)
    return home


def _fake_tap(tmp_path: Path) -> str:
    path = tmp_path / "fake-tap"
    path.write_text(f"#!{sys.executable}\n" + (SINGER_TESTS / "fake_tap.py").read_text())
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _env(home: Path) -> dict[str, str]:
    return hub_env(SPOKEHUB_PLUGINS="singer", SPOKEHUB_BRIDGE_HOME=str(home), COLUMNS="250")


def _spokehub(config: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return spokehub(config, *args, env=_env(home))


def _project(tmp_path: Path, connections: dict[str, Any], **more: Any) -> Path:
    config = tmp_path / "spokehub.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "store": {"url": f"sqlite:///{tmp_path / 'hub.db'}"},
                "server": {"sync_lease_seconds": 1},
                "connections": connections,
                **more,
            }
        )
    )
    return config


def _people(executable: str, **tap: Any) -> dict[str, Any]:
    return {
        "kind": "source",
        "spoke": "singer_tap",
        "config": {
            "executable": executable,
            "config": {"rows": 12, "every": 3, **tap},
            "secrets": {"api_key": "sk-tap-0f9e8d7c6b"},
            "timeout_seconds": 2,
            "streams": {"people": {"kind": "person", "identifiers": {"email": "email"}}},
        },
    }


def test_tap_jsonl_customers_become_profiles_that_target_jsonl_receives(tmp_path: Path) -> None:
    home = _home(tmp_path, "tap-jsonl", "target-jsonl")
    rows = [
        {"id": f"c{n}", "email": f"Buyer{n}@Example.com", "first_name": f"B{n}", "city": "Delft"}
        for n in range(1, 6)
    ]
    rows.append({"id": "c6", "email": "Buyer1@example.com", "last_name": "One"})  # same person
    (tmp_path / "customers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = _project(
        tmp_path,
        {
            "customers": {
                "kind": "source",
                "spoke": "singer_tap",
                "config": {
                    "connector": "tap-jsonl",
                    "config": {
                        "path": "customers.jsonl",
                        "stream_name": "customers",
                        "primary_keys": ["id"],
                    },
                    "streams": {
                        "customers": {
                            "kind": "person",
                            "identifiers": {"email": "email"},
                            "mapping": {"city": "address.city"},
                        }
                    },
                },
            },
            "profiles_file": {
                "kind": "destination",
                "spoke": "singer_target",
                "config": {
                    "connector": "target-jsonl",
                    "config": {"destination_path": "out", "do_timestamp_file": False},
                },
            },
        },
        routes=[{"to": "profiles_file", "kinds": ["upsert_person"]}],
    )
    listed = _spokehub(config, home, "bridge", "list")
    assert "tap-jsonl" in listed.stdout and "0.3.1" in listed.stdout, listed.stdout
    assert "target-jsonl" in listed.stdout and "0.1.4" in listed.stdout, listed.stdout
    checked = _spokehub(config, home, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr

    synced = _spokehub(config, home, "sync", "run", "customers", "--no-progress")
    assert synced.returncode == 0, synced.stderr
    assert "customers: 6 record(s)" in synced.stdout, synced.stdout
    piped = _spokehub(config, home, "pipeline", "run", "--once")
    assert piped.returncode == 0, piped.stderr
    assert hub_rows(tmp_path, "SELECT count(*) FROM profiles WHERE merged_into IS NULL") == [(5,)]

    delivered = _spokehub(config, home, "deliveries", "run", "--once")
    assert delivered.returncode == 0, delivered.stdout + delivered.stderr
    assert "profiles_file: 0 item(s)" not in delivered.stdout, delivered.stdout
    written = [json.loads(line) for line in (tmp_path / "out" / "persons.jsonl").open()]
    emails = sorted({p["email"] for p in written})
    assert emails == [f"buyer{n}@example.com" for n in range(1, 6)]
    # The latest upsert of the person both rows are about holds both rows' traits.
    one = [p for p in written if p["email"] == "buyer1@example.com"][-1]
    assert one["last_name"] == "One" and one["address"]["city"] == "Delft"
    assert (
        one["contact_id"]
        and {"type": "email", "value": "buyer1@example.com"} in (one["identifiers"])
    )
    statuses = hub_rows(tmp_path, "SELECT DISTINCT status FROM outbox")
    assert statuses == [("delivered",)], statuses


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("garbage", "printed invalid output: stdout line"),
        ("exit", "exited with code 1; its last words: "),
        ("hang", "hung: no output for 2s (timeout_seconds)"),
    ],
)
def test_a_failing_tap_leaves_a_run_record_saying_why_and_the_last_good_state(
    tmp_path: Path, fault: str, said: str
) -> None:
    home = tmp_path / "bridges"
    config = _project(
        tmp_path, {"people": _people(_fake_tap(tmp_path), fault=fault, fault_after=7)}
    )
    run = _spokehub(config, home, "sync", "run", "people", "--no-progress")
    assert run.returncode != 0
    [(status, error, records)] = hub_rows(tmp_path, "SELECT status, error, records FROM sync_runs")
    assert status == "failed" and said in error, error
    assert "sk-tap-0f9e8d7c6b" not in error + run.stdout + run.stderr
    # The last STATE before the fault (after record 6) is the saved one, with its records.
    [(state,)] = hub_rows(tmp_path, "SELECT state FROM source_state")
    assert json.loads(state) == {"bookmarks": {"people": {"position": 6}}}
    assert records == 6
    shown = _spokehub(config, home, "sync", "status", "people")
    assert "failed" in shown.stdout


def test_sigkill_during_a_bridged_sync_resumes_from_the_last_state_with_no_gap(
    tmp_path: Path,
) -> None:
    home = tmp_path / "bridges"
    people = _people(_fake_tap(tmp_path), rows=60, every=5, delay=0.1)
    people["config"]["timeout_seconds"] = 30
    config = _project(tmp_path, {"people": people})
    hub = subprocess.Popen(
        [sys.executable, "-m", "spokehub", "-c", str(config), "sync", "run", "--no-progress"],
        env=_env(home),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    saved = 0
    while time.monotonic() < deadline and saved < 15:
        time.sleep(0.1)
        try:
            rows = hub_rows(tmp_path, "SELECT state FROM source_state")
        except Exception:  # the store is still being made
            continue
        if rows:
            saved = json.loads(rows[0][0])["bookmarks"]["people"]["position"]
    assert saved >= 15, "the bridged sync committed no STATE in time"
    hub.send_signal(signal.SIGKILL)
    hub.wait()
    [(state,)] = hub_rows(tmp_path, "SELECT state FROM source_state")
    killed_at = json.loads(state)["bookmarks"]["people"]["position"]
    assert killed_at < 60, "the run finished before it was killed"
    time.sleep(1.2)  # the dead run's lease expires

    again = _spokehub(config, home, "sync", "run", "people", "--no-progress")
    assert again.returncode == 0, again.stderr
    bodies = hub_rows(tmp_path, "SELECT body FROM inbox WHERE connection = 'people'")
    ids = [json.loads(body)["record_id"] for (body,) in bodies]
    assert sorted(ids, key=lambda i: int(i[1:])) == [f"p{n}" for n in range(60)]
    runs = hub_rows(tmp_path, "SELECT status, records, error FROM sync_runs ORDER BY id")
    assert runs[0][0] == "interrupted" and "next run resumed" in runs[0][2]
    assert runs[1][:2] == ("succeeded", 60 - runs[0][1])


def test_airbyte_faker_users_and_purchases_become_persons_and_order_completed(
    tmp_path: Path,
) -> None:
    home = _home(tmp_path, "airbyte-source-faker")
    config = _project(
        tmp_path,
        {
            "faker": {
                "kind": "source",
                "spoke": "airbyte_source",
                "config": {
                    "connector": "airbyte-source-faker",
                    "executable": "source-faker",
                    "config": {"count": 8, "seed": 7, "records_per_slice": 3, "parallelism": 1},
                    "timeout_seconds": 240,
                    "streams": {
                        "users": {
                            "kind": "person",
                            "identifiers": {"email": "email", "id": "user_id"},
                            "ignore": ["address"],
                        },
                        "purchases": {
                            "kind": "event",
                            "record_id": "id",
                            "mapping": {"user_id": "userId", "purchased_at": "timestamp"},
                            "constants": {"type": "track", "event": "Order Completed"},
                        },
                    },
                },
            }
        },
    )
    synced = _spokehub(config, home, "sync", "run", "faker", "--no-progress")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    runs = hub_rows(tmp_path, "SELECT stream, status, records, checkpoints FROM sync_runs")
    by_stream = {stream: (status, records, cps) for stream, status, records, cps in runs}
    assert by_stream["users"][:2] == ("succeeded", 8), runs
    assert by_stream["users"][2] >= 2, runs  # a STATE per slice of 3
    assert by_stream["purchases"][0] == "succeeded" and by_stream["purchases"][1] > 0, runs
    piped = _spokehub(config, home, "pipeline", "run", "--once")
    assert piped.returncode == 0, piped.stderr
    persons = hub_rows(
        tmp_path, "SELECT count(DISTINCT contact_id) FROM identifiers WHERE type = 'email'"
    )
    assert persons == [(8,)]
    orders = hub_rows(
        tmp_path,
        "SELECT count(*), count(DISTINCT e.contact_id) FROM events e "
        "JOIN identifiers i ON i.contact_id = e.contact_id AND i.type = 'email' "
        "WHERE e.event = 'Order Completed'",
    )
    assert orders[0][0] == by_stream["purchases"][1] or orders[0][0] > 0, orders


def test_a_rate_limited_airbyte_stream_shows_in_its_run_record(tmp_path: Path) -> None:
    path = tmp_path / "fake-airbyte"
    path.write_text(f"#!{sys.executable}\n" + (SINGER_TESTS / "fake_airbyte.py").read_text())
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    config = _project(
        tmp_path,
        {
            "api": {
                "kind": "source",
                "spoke": "airbyte_source",
                "config": {
                    "executable": str(path),
                    "config": {"fault": "rate_limited"},
                    "secrets": {"api_key": "good-key"},
                    "streams": {"users": {"kind": "person", "identifiers": {"email": "email"}}},
                },
            }
        },
    )
    synced = _spokehub(config, tmp_path / "bridges", "sync", "run", "api", "--no-progress")
    assert synced.returncode == 0, synced.stderr
    [(status, notes)] = hub_rows(tmp_path, "SELECT status, notes FROM sync_runs")
    assert (status, notes) == (
        "succeeded",
        "RATE_LIMITED (quota resets at 2026-01-01T00:00:00+00:00)",
    )
    shown = _spokehub(config, tmp_path / "bridges", "sync", "status", "api")
    assert "RATE_LIMITED (quota resets at 2026-01-01T00:00:00+00:00)" in shown.stdout, shown.stdout


def test_bridge_install_gives_each_connector_its_own_environment(tmp_path: Path) -> None:
    install("target-jsonl")  # its packages are in uv's cache: this install is quick
    home = tmp_path / "bridges"
    config = _project(tmp_path, {})
    made = _spokehub(config, home, "bridge", "install", "target-jsonl==0.1.4")
    assert made.returncode == 0, made.stdout + made.stderr
    assert "installed target-jsonl 0.1.4" in made.stdout and "target-jsonl)" in made.stdout
    listed = _spokehub(config, home, "bridge", "list")
    assert "target-jsonl" in listed.stdout and "0.1.4" in listed.stdout, listed.stdout
    # Its jsonschema 2.6 pin lives in its own environment, not the hub's.
    python = home / "target-jsonl" / "bin" / "python"
    version = subprocess.run(
        [str(python), "-c", "import jsonschema; print(jsonschema.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.startswith("2.6")
    refused = _spokehub(config, home, "bridge", "install", "../etc")
    assert refused.returncode != 0 and "not a package name" in refused.stderr + refused.stdout
