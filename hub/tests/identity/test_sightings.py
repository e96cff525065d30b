"""First and last sightings of identifiers, and the migration that moved them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from spokehub.identity import IdentityRules
from spokehub.profiles import profile_view
from spokehub.store import create_store_engine, current_revision, head_revision, upgrade

from .helpers import T0, rec, resolve


def _seen(conn, contact_id: str) -> dict[str, tuple[datetime, datetime]]:  # type: ignore[no-untyped-def]
    view = profile_view(conn, contact_id, IdentityRules())
    return {f"{i.type}:{i.value}": (i.first_seen, i.last_seen) for i in view.identifiers}


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_the_window_widens_both_ways_and_replays_change_nothing(engine):
    with engine.begin() as conn:
        first = resolve(conn, [rec("email:a@example.com", "phone:+14155550100", at=10)])
        cid = first.contact_ids[0]
        assert cid is not None
        resolve(conn, [rec("email:a@example.com", at=30), rec("email:a@example.com", at=20)])
        # An older record arriving late moves the first sighting back.
        resolve(conn, [rec("phone:+14155550100", at=5)])
        resolve(conn, [rec("email:a@example.com", at=25)])  # inside the window: no change
        seen = _seen(conn, cid)
    assert seen["email:a@example.com"] == (at(10), at(30))
    assert seen["phone:+14155550100"] == (at(5), at(10))


def test_a_batch_records_its_own_first_and_last(engine):
    with engine.begin() as conn:
        result = resolve(
            conn,
            [
                rec("user_id:u1", "anonymous_id:d1", at=7),
                rec("anonymous_id:d1", at=3),
                rec("anonymous_id:d1", at=9),
            ],
        )
        seen = _seen(conn, result.contact_ids[0])
    assert seen["anonymous_id:d1"] == (at(3), at(9))
    assert seen["user_id:u1"] == (at(7), at(7))
    assert all(a.tzinfo is not None for pair in seen.values() for a in pair)


def test_migration_moves_existing_sightings(tmp_path):
    engine = create_store_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0002")
    first, last = datetime(2023, 5, 1, 12, 0, 0, 123456), datetime(2024, 2, 3, 4, 5, 6)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO profiles (contact_id, created_at) VALUES ('c1', :t)"), {"t": first}
        )
        conn.execute(
            text(
                "INSERT INTO identifiers (id, type, value, contact_id, first_seen, last_seen, "
                "connection) VALUES (1, 'email', 'a@example.com', 'c1', :f, :l, 'web')"
            ),
            {"f": first, "l": last},
        )
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.begin() as conn:
        seen = _seen(conn, "c1")
        columns = [r[1] for r in conn.exec_driver_sql("PRAGMA table_info(identifiers)")]
    assert seen == {"email:a@example.com": (first.replace(tzinfo=UTC), last.replace(tzinfo=UTC))}
    assert "first_seen" not in columns and "last_seen" not in columns
    engine.dispose()
