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

from ..datacontract.store import violation_totals
from ..store.driver_sql import transaction
from ..store.tables import inbox, outbox


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
        try:
            with transaction(self.engine, readonly=True) as conn:
                oldest, pending = conn.execute(
                    select(func.min(inbox.c.received_at), func.count()).where(
                        inbox.c.status == "pending"
                    )
                ).one()
                rows = conn.execute(
                    select(outbox.c.destination, func.count())
                    .where(outbox.c.status.in_(("pending", "inflight", "retry")))
                    .group_by(outbox.c.destination)
                ).all()
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
        yield lag
        yield backlog
        yield depth
        yield from self._violations()

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


class Metrics:
    """The metrics of one app, in a registry of its own (several apps per test process)."""

    def __init__(self, engine: Engine) -> None:
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
        for route in ("ingestion", "webhooks", "admin"):
            self.auth_failures.labels(route)
            self.auth_throttled.labels(route)
        self.registry.register(StoreCollector(engine))
