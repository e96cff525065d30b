"""The SQLite store holds personal data: its file, WAL and shared memory are the
owner's alone (0600) when the hub creates them."""

from __future__ import annotations

import os
import stat

from sqlalchemy import text

from spokehub.store import create_store_engine, upgrade


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_store_and_its_wal_are_created_0600(tmp_path):
    old_umask = os.umask(0o022)  # the usual umask, which leaves files world-readable
    try:
        db = tmp_path / "spokehub.db"
        engine = create_store_engine(f"sqlite:///{db}")
        try:
            upgrade(engine)
            with engine.connect() as conn:
                # The WAL and shared-memory files exist while a connection is open.
                conn.execute(text("SELECT count(*) FROM inbox")).scalar_one()
                files = [db, tmp_path / "spokehub.db-wal", tmp_path / "spokehub.db-shm"]
                assert all(f.exists() for f in files)
                assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
        finally:
            engine.dispose()
    finally:
        os.umask(old_umask)


def test_an_existing_store_keeps_the_permissions_its_owner_gave_it(tmp_path):
    db = tmp_path / "shared.db"
    db.touch()
    db.chmod(0o640)
    engine = create_store_engine(f"sqlite:///{db}")
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    assert mode(db) == 0o640
