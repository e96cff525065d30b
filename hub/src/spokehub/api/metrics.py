"""Prometheus metrics of one app: counters kept in memory, gauges read from the store at
scrape time (so several daemons on one database all report the true depth)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from ..audiences.status import member_counts
from ..datacontract.store import violation_totals
from ..delivery.state import read_lanes
from ..ingest.backpressure import BACKLOG_FULL, DISK_FULL, Backpressure
from ..journeys.status import timer_counts
from ..privacy.retention import RULES
from ..privacy.tables import privacy_requests, suppressions
from ..privacy.tombstones import dropped_total
from ..store.driver_sql import transaction
from ..store.tables import inbox, outbox
from ..sync.runs import totals as sync_run_totals


class StoreCollector(Collector):
    """Pipeline lag (age of the oldest pending inbox row), inbox backlog and outbox depth
    per destination, queried when scraped."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Any]:
        lag = GaugeMetricFamily(
            "spokehub_pipeline_lag_seconds", "Age of the oldest inbox row not yet processed"
        )
        backlog = GaugeMetricFamily("spokehub_inbox_pending", "Inbox rows waiting for the pipeline")
        depth = GaugeMetricFamily(
            "spokehub_outbox_depth",
            "Outbox rows not yet delivered, per destination",
            labels=["destination"],
        )
        suppressed = GaugeMetricFamily(
            "spokehub_outbox_suppressed",
            "Outbox rows consent held back, per destination and denied purpose",
            labels=["destination", "purpose"],
        )
        try:
            with transaction(self.engine, readonly=True) as conn:
                # The first pending row by id is the oldest: one probe of the (status, id)
                # index, where the least received_at would read every pending row.
                oldest = conn.execute(
                    select(inbox.c.received_at)
                    .where(inbox.c.status == "pending")
                    .order_by(inbox.c.id)
                    .limit(1)
                ).scalar()
                pending = conn.execute(
                    select(func.count()).select_from(inbox).where(inbox.c.status == "pending")
                ).scalar_one()
                rows = conn.execute(
                    select(outbox.c.destination, func.count())
                    .where(outbox.c.status.in_(("pending", "inflight", "retry")))
                    .group_by(outbox.c.destination)
                ).all()
                # Per lane, so each count walks the (destination, status) index instead
                # of the whole outbox.
                held = [
                    (name, purpose, n)
                    for name in read_lanes(conn)
                    for purpose, n in conn.execute(
                        select(outbox.c.purpose, func.count())
                        .where(outbox.c.destination == name, outbox.c.status == "suppressed")
                        .group_by(outbox.c.purpose)
                    )
                ]
        except Exception:  # a scrape must not fail because the store is busy
            return
        if oldest is not None:
            if oldest.tzinfo is None:
                oldest = oldest.replace(tzinfo=UTC)
            lag.add_metric([], max(0.0, (datetime.now(UTC) - oldest).total_seconds()))
        else:
            lag.add_metric([], 0.0)
        backlog.add_metric([], float(pending))
        for destination, count in rows:
            depth.add_metric([destination], float(count))
        for destination, purpose, count in held:
            suppressed.add_metric([destination, purpose or ""], float(count))
        yield lag
        yield backlog
        yield depth
        yield suppressed
        yield from self._violations()
        yield from self._sync_runs()
        yield from self._activation()

    def _violations(self) -> Iterator[Any]:
        family = CounterMetricFamily(
            "spokehub_contract_violations",
            "Data-contract violations (and traits dropped by policy), per source, event, rule",
            labels=["source", "event", "rule"],
        )
        try:
            with transaction(self.engine, readonly=True) as conn:
                totals = violation_totals(conn)
        except Exception:  # a scrape must not fail because the store is busy
            return
        for (source, event, rule), count in sorted(totals.items()):
            family.add_metric([source, event, rule], float(count))
        yield family

    def _sync_runs(self) -> Iterator[Any]:
        family = CounterMetricFamily(
            "spokehub_sync_runs",
            "Sync runs recorded in the store, per source connection and status "
            "(succeeded, failed, interrupted, running); alert on failed",
            labels=["connection", "status"],
        )
        try:
            with transaction(self.engine, readonly=True) as conn:
                totals = sync_run_totals(conn)
        except Exception:  # a scrape must not fail because the store is busy
            return
        for (connection, status), count in sorted(totals.items()):
            family.add_metric([connection, status], float(count))
        yield family

    def _activation(self) -> Iterator[Any]:
        members = GaugeMetricFamily(
            "spokehub_audience_members", "Profiles in each audience now", labels=["audience"]
        )
        timers = GaugeMetricFamily(
            "spokehub_journey_timers",
            "Journey timers per journey and status (scheduled, fired, cancelled)",
            labels=["journey", "status"],
        )
        try:
            with transaction(self.engine, readonly=True) as conn:
                sizes = member_counts(conn)
                counts = timer_counts(conn)
        except Exception:  # a scrape must not fail because the store is busy
            return
        for audience, n in sorted(sizes.items()):
            members.add_metric([audience], float(n))
        for (journey, status), n in sorted(counts.items()):
            timers.add_metric([journey, status], float(n))
        yield members
        yield timers


class PrivacyCollector(Collector):
    """Privacy requests per status, tombstones, and the records they kept out."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Any]:
        try:
            with transaction(self.engine, readonly=True) as conn:
                by_status = dict(
                    conn.execute(
                        select(privacy_requests.c.status, func.count()).group_by(
                            privacy_requests.c.status
                        )
                    ).all()
                )
                tombstones = conn.execute(
                    select(func.count()).select_from(suppressions)
                ).scalar_one()
                dropped = dropped_total(conn)
        except Exception:  # a scrape must not fail because the store is busy
            return
        requests = GaugeMetricFamily(
            "spokehub_privacy_requests", "Privacy requests per status", labels=["status"]
        )
        for status in ("pending", "erasing", "waiting", "done", "failed"):
            requests.add_metric([status], float(by_status.get(status, 0)))
        yield requests
        yield GaugeMetricFamily(
            "spokehub_suppressions", "Suppressed identifiers (tombstones)", value=float(tombstones)
        )
        yield CounterMetricFamily(
            "spokehub_suppressed_records",
            "Records dropped because they carried a suppressed identifier",
            value=float(dropped),
        )


class BackpressureCollector(Collector):
    """Whether ingestion is paused and why, the high-water mark, and the free space on a
    SQLite store's disk, as this process last saw them."""

    def __init__(self, backpressure: Backpressure) -> None:
        self.backpressure = backpressure

    def collect(self) -> Iterator[Any]:
        watch = self.backpressure
        paused = GaugeMetricFamily(
            "spokehub_ingestion_paused",
            "1 while ingestion answers 503 for this reason (backpressure)",
            labels=["reason"],
        )
        for reason in (BACKLOG_FULL, DISK_FULL):
            paused.add_metric([reason], 1.0 if watch.paused == reason else 0.0)
        yield paused
        if watch.max_pending is not None:
            yield GaugeMetricFamily(
                "spokehub_inbox_high_water",
                "Pending inbox rows above which ingestion pauses",
                value=float(watch.max_pending),
            )
        if watch.free_bytes is not None:
            yield GaugeMetricFamily(
                "spokehub_store_free_bytes",
                "Free space on the SQLite store's disk at the last look",
                value=float(watch.free_bytes),
            )


class Metrics:
    """The metrics of one app, in a registry of its own (several apps per test process)."""

    def __init__(self, engine: Engine, backpressure: Backpressure | None = None) -> None:
        self.registry = CollectorRegistry()
        self.accepted = Counter(
            "spokehub_events_accepted",
            "Messages acknowledged and committed to the inbox",
            ["source"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "spokehub_events_duplicate",
            "Messages acknowledged but not stored again (messageId seen in the window)",
            ["source"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "spokehub_requests_rejected",
            "Requests refused, by reason",
            ["code"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "spokehub_auth_failures",
            "Requests refused for a missing or wrong credential, by route class",
            ["route"],
            registry=self.registry,
        )
        self.auth_throttled = Counter(
            "spokehub_auth_throttled",
            "Requests refused unchecked (429) after their address failed too often",
            ["route"],
            registry=self.registry,
        )
        self.retention_pruned = Counter(
            "spokehub_retention_pruned",
            "Rows deleted by retention, per class (inbox, outbox, dead_letters, quarantine, "
            "message_ids)",
            ["table"],
            registry=self.registry,
        )
        for rule in RULES:
            self.retention_pruned.labels(rule)
        for route in ("ingestion", "webhooks", "admin"):
            self.auth_failures.labels(route)
            self.auth_throttled.labels(route)
        self.registry.register(StoreCollector(engine))
        self.registry.register(PrivacyCollector(engine))
        if backpressure is not None:
            self.registry.register(BackpressureCollector(backpressure))
