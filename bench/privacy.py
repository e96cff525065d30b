"""Privacy's costs: secure_delete on the pipeline, retention's prune rate, one erasure.

SQLite runs with ``PRAGMA secure_delete=ON`` so an erased person leaves no bytes behind;
the baseline is the same pipeline run with it ``OFF``, in the same process, alternated
(a shared machine swings the clock twofold: CPU seconds are compared). Retention prunes
processed inbox rows in batches of 500: rows per second. An erasure of one person among
``--events / 10`` people: the whole request in the hub (inbox scan included), in ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import spokehub.store.engine as store_engine
from spokehub.config import validate
from spokehub.ingest import check_message, write_messages
from spokehub.ingest.limits import IngestSettings
from spokehub.pipeline import Pipeline
from spokehub.privacy.erase import carry_out
from spokehub.privacy.requests import file_request
from spokehub.privacy.retention import RULES, prune_batch
from spokehub.registry import Registry
from spokehub.store import create_store_engine, upgrade
from spokehub.store.driver_sql import transaction, utcnow
from spokehub_contracts import Identifier

_PRAGMAS = store_engine._sqlite_pragmas


def _with_secure_delete(mode: str) -> None:
    def pragmas(dbapi_conn, record):  # type: ignore[no-untyped-def]
        _PRAGMAS(dbapi_conn, record)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA secure_delete={mode}")
        cur.close()

    store_engine._sqlite_pragmas = pragmas


def one_round(mode: str, events: int, folder: Path) -> dict[str, float]:
    _with_secure_delete(mode)
    engine = create_store_engine(f"sqlite:///{folder / f'{mode}-{time.monotonic_ns()}.db'}")
    upgrade(engine)
    project = validate({"connections": {"web": {"kind": "source", "write_keys": ["k"]}}})
    settings, people = IngestSettings(), max(1, events // 10)
    for start in range(0, events, 1000):
        batch = [
            check_message(
                "b",
                {
                    "type": "identify" if i % 4 == 0 else "track",
                    "event": "Viewed",
                    "userId": f"u{i % people}",
                    "traits": {"email": f"p{i % people}@example.com"},
                    "messageId": f"m{i}",
                },
                "2024-05-01T00:00:00+00:00",
                settings,
            )
            for i in range(start, min(events, start + 1000))
        ]
        write_messages(engine, "web", batch, dedup_window=3600)
    registry = Registry.load(allow=())
    cpu = time.process_time()
    Pipeline(engine, project, registry).drain()
    pipeline_cpu = time.process_time() - cpu

    wall = time.perf_counter()
    with transaction(engine) as conn:
        request_id = file_request(conn, "delete", [Identifier.parse("user_id:u1")], source="cli")
    carry_out(engine, project, registry, request_id)
    erase_ms = (time.perf_counter() - wall) * 1000

    wall, pruned = time.perf_counter(), 0
    while True:
        n = prune_batch(engine, RULES["inbox"], utcnow() + timedelta(days=1), 500)
        pruned += n
        if n < 500:
            break
    prune_rate = pruned / (time.perf_counter() - wall)
    engine.dispose()
    return {"pipeline_cpu": pipeline_cpu, "erase_ms": erase_ms, "prune_rate": prune_rate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="same as --events 4000 --rounds 1")
    args = parser.parse_args()
    if args.quick:
        args.events, args.rounds = 4000, 1
    runs: dict[str, list[dict[str, float]]] = {"OFF": [], "ON": []}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.rounds):
            for mode in ("OFF", "ON"):
                runs[mode].append(one_round(mode, args.events, Path(folder)))

    def median(mode: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[mode])

    off, on = median("OFF", "pipeline_cpu"), median("ON", "pipeline_cpu")
    print(f"{args.events} events, {args.rounds} round(s) each, medians")
    print(f"pipeline CPU s: secure_delete OFF {off:.2f} (baseline), ON {on:.2f} ({on / off:.2f}x)")
    print(
        f"erase one person in the hub (ms): OFF {median('OFF', 'erase_ms'):.0f}, "
        f"ON {median('ON', 'erase_ms'):.0f}"
    )
    print(
        f"retention prune (inbox rows/s): OFF {median('OFF', 'prune_rate'):,.0f}, "
        f"ON {median('ON', 'prune_rate'):,.0f}"
    )


if __name__ == "__main__":
    main()
