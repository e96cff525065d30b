"""A destination's vendor ids come back as identifiers through the inbox, and the profile
change they cause goes to every other destination, never back to the one that answered."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from sqlalchemy import select

from spokehub.delivery.lanes import Lane
from spokehub.delivery.settings import DeliverySettings
from spokehub.identity.lookup import lookup
from spokehub.pipeline import Pipeline
from spokehub.store.tables import inbox
from spokehub_contracts import (
    Capabilities,
    Change,
    Delivered,
    Destination,
    Identifier,
    Outcome,
    SpokeConfig,
    UpsertPerson,
)

from .helpers import feed, outbox_rows, project, registry

FAST = DeliverySettings(idle_poll_seconds=0.01, shutdown_grace=1.0)


class Crm(Destination):
    """Answers its own id for every person it upserts, as a CRM does."""

    name: ClassVar[str] = "fake-crm"
    capabilities: ClassVar[Capabilities] = Capabilities(
        record_kinds=("upsert_person",), external_id_type="fakecrm:contact_id"
    )

    def __init__(self, config: SpokeConfig, *, connection: str = "") -> None:
        super().__init__(config, connection=connection)
        self.seen: list[Change] = []

    async def write(self, batch: Sequence[Change]) -> Sequence[Outcome]:
        self.seen += batch
        return [
            Delivered(
                item_id=c.item_id,
                external_id=f"crm-{c.contact_id}" if isinstance(c, UpsertPerson) else None,
            )
            for c in batch
        ]


def _inbox(engine: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(inbox).order_by(inbox.c.id)))


def _kinds_to(engine: Any, destination: str) -> list[str]:
    return [r["kind"] for r in outbox_rows(engine) if r["destination"] == destination]


async def test_a_vendor_id_becomes_an_identifier_and_is_not_sent_back(engine: Any) -> None:
    routes = [{"name": "to-crm", "to": "crm"}, {"name": "to-ads", "to": "ads"}]
    pipeline = Pipeline(engine, project(routes), registry(), batch_size=50)
    feed(engine, [{"type": "identify", "userId": "u1", "traits": {"email": "ada@example.com"}}])
    pipeline.drain()
    assert _kinds_to(engine, "crm") == ["upsert_person"]
    crm = Crm(SpokeConfig(), connection="crm")
    await Lane(engine, "crm", crm, settings=FAST).run_once()

    [_, written_back] = _inbox(engine)
    assert written_back.connection == "crm" and written_back.kind == "record"
    pipeline.drain()
    contact = outbox_rows(engine)[0]["contact_id"]
    vendor = Identifier(type="fakecrm:contact_id", value=f"crm-{contact}")
    with engine.connect() as conn:
        assert lookup(conn, vendor) == contact
    # The profile change goes to ads, with the new identifier; nothing new to crm.
    assert _kinds_to(engine, "crm") == ["upsert_person"]
    assert _kinds_to(engine, "ads") == ["upsert_person", "upsert_person"]
    assert "fakecrm:contact_id" in outbox_rows(engine)[-1]["item"]

    # The next upsert answers the same id: the identity store holds it, nothing is written.
    feed(engine, [{"type": "identify", "userId": "u1", "traits": {"firstName": "Ada"}}])
    pipeline.drain()
    await Lane(engine, "crm", crm, settings=FAST).run_once()
    assert len(crm.seen) == 2
    assert [r.connection for r in _inbox(engine)] == ["web", "crm", "web"]


async def test_a_destination_that_declares_no_type_writes_nothing_back(engine: Any) -> None:
    pipeline = Pipeline(engine, project(), registry(), batch_size=50)
    feed(engine, [{"type": "identify", "userId": "u1", "traits": {"email": "ada@example.com"}}])
    pipeline.drain()

    class Silent(Crm):
        capabilities: ClassVar[Capabilities] = Capabilities(record_kinds=("upsert_person",))

    await Lane(engine, "crm", Silent(SpokeConfig(), connection="crm"), settings=FAST).run_once()
    assert [r.connection for r in _inbox(engine)] == ["web"]
    assert [r["status"] for r in outbox_rows(engine)] == ["delivered"]
